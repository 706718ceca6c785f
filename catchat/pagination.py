"""Keyset pagination for the REST lists: a cursor on (created_at, id), so that rows sharing a
timestamp, or arriving while a client pages, are each seen exactly once and in order."""

from __future__ import annotations

from base64 import b64decode, b64encode
from datetime import datetime
from typing import Any
from urllib import parse

from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

BIGINT_MAX = 2**63 - 1

Key = tuple[datetime, int]  # (created_at, id) of a row


class KeysetPagination(CursorPagination):
    """`{"results", "next", "previous"}`, 50 a page, by a cursor on (created_at, id).

    DRF's CursorPagination keys on the first ordering field alone and counts ties by offset;
    this one keys on the pair, so rows that share a timestamp, or arrive while a client pages,
    are each seen exactly once and in order. `next` is null on the last page. A cursor that
    cannot be read is a 404 "Invalid cursor", as DRF's pagination answers it elsewhere here.
    Call `paginate`, not DRF's `paginate_queryset`.
    """

    page_size = 50
    descending = False
    ordering = ("created_at", "id")  # both directions follow `descending`

    def paginate(self, queryset: QuerySet[Any], request: Request) -> list[Any]:
        """One page of `queryset` (one query); sets the `next` and `previous` links."""
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request) or self.page_size
        cursor = self._decode(request)
        self._next: Key | None
        self._previous: Key | None
        if cursor is None:
            rows, more = self._rows(queryset, None, after=True)
            self._next = self._key_of(rows[-1]) if more else None
            self._previous = None
            return rows
        backwards, key = cursor
        # Backwards is walking the other way from the cursor, then turning the page round.
        rows, more = self._rows(queryset, key, after=not backwards)
        if backwards:
            rows.reverse()
            self._next = self._key_of(rows[-1]) if rows else key
            self._previous = self._key_of(rows[0]) if more else None
        else:
            self._next = self._key_of(rows[-1]) if more else None
            self._previous = self._key_of(rows[0]) if rows else key
        return rows

    def get_next_link(self) -> str | None:
        return None if self._next is None else self._link(self._next, backwards=False)

    def get_previous_link(self) -> str | None:
        return None if self._previous is None else self._link(self._previous, backwards=True)

    def _rows(
        self, queryset: QuerySet[Any], key: Key | None, *, after: bool
    ) -> tuple[list[Any], bool]:
        """A page of rows past `key` in page order (`after`) or against it, nearest first;
        and whether there are more (it asks for one row more than a page)."""
        greater = after != self.descending
        if key is not None:
            op = "gt" if greater else "lt"
            at, pk = key
            queryset = queryset.filter(
                Q(**{f"created_at__{op}": at}) | Q(created_at=at, **{f"id__{op}": pk})
            )
        ordered = queryset.order_by(*(("created_at", "id") if greater else ("-created_at", "-id")))
        rows = list(ordered[: self.page_size + 1])
        return rows[: self.page_size], len(rows) > self.page_size

    @staticmethod
    def _key_of(row: Model) -> Key:
        created_at: datetime = row.created_at  # type: ignore[attr-defined]
        return created_at, int(row.pk)

    def _link(self, key: Key, *, backwards: bool) -> str:
        tokens = {"p": f"{key[0].isoformat()}|{key[1]}"}
        if backwards:
            tokens["r"] = "1"
        encoded = b64encode(parse.urlencode(tokens).encode("ascii")).decode("ascii")
        return str(replace_query_param(str(self.base_url), self.cursor_query_param, encoded))

    def _decode(self, request: Request) -> tuple[bool, Key] | None:
        """(backwards, key) from `?cursor=`, or None for the first page."""
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            tokens = parse.parse_qs(b64decode(encoded.encode("ascii")).decode("ascii"))
            at, pk = tokens["p"][0].split("|")
            created_at, row_id = datetime.fromisoformat(at), int(pk)
            backwards = tokens.get("r", ["0"])[0] == "1"
        except (KeyError, ValueError):  # also binascii.Error and Unicode errors
            raise NotFound(self.invalid_cursor_message) from None
        if timezone.is_naive(created_at) or not 0 < row_id <= BIGINT_MAX:
            raise NotFound(self.invalid_cursor_message)
        return backwards, (created_at, row_id)


class OldestFirst(KeysetPagination):
    pass


class NewestFirst(KeysetPagination):
    descending = True
    ordering = ("-created_at", "-id")
