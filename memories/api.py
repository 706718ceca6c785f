"""The memories REST API (`/api/v1/`, see memories/api_urls.py). Thin: parse, call one selector or
service, serialize. Authentication and the error shape come from settings.REST_FRAMEWORK;
someone else's cat or memory is a 404 (`access_profile`, `access_memory`), never a 403.

Every write is made by the human (actor "user") through `memories.services`, which records
the history and pushes `memory.changed` to the owner's open tabs.
"""

from __future__ import annotations

from rest_framework import status as http
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from memories.models import Memory, MemoryHistory
from memories.profiles import profile_update
from memories.selectors import access_memory, access_profile, memories_of, status_counts
from memories.serializers import (
    MemoryCreateSerializer,
    MemoryHistorySerializer,
    MemoryListQuerySerializer,
    MemoryProfileSerializer,
    MemoryProfileUpdateSerializer,
    MemorySerializer,
    MemoryUpdateSerializer,
)
from memories.services import memory_create, memory_edit, memory_reject, memory_restore

ACTOR = MemoryHistory.Actor.USER


def _user(request: Request) -> User:
    # IsAuthenticated (the default permission) has run: a real User, not AnonymousUser.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


class NewestFirst(CursorPagination):
    """`{"results", "next", "previous"}`, 50 a page; a cursor stays right while memories come
    and go (an offset would skip or repeat them)."""

    page_size = 50
    ordering = ("-created_at", "-id")


class OldestFirst(NewestFirst):
    ordering = ("created_at", "id")


class MemoryProfileView(APIView):
    """`GET|PATCH cats/{id}/memory-profile/`: the summary, the on/off switch, the counts."""

    def get(self, request: Request, cat_id: int) -> Response:
        profile = access_profile(_user(request), cat_id)
        return Response(MemoryProfileSerializer.shape(profile, status_counts(profile)))

    def patch(self, request: Request, cat_id: int) -> Response:
        profile = access_profile(_user(request), cat_id)
        incoming = MemoryProfileUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        profile = profile_update(profile=profile, **incoming.validated_data)
        return Response(MemoryProfileSerializer.shape(profile, status_counts(profile)))


class MemoryListView(APIView):
    """`GET|POST cats/{id}/memories/`: the cat's memories (`?status=` active by default, or
    superseded, rejected, all; `?q=` searches), newest first; or a new one."""

    def get(self, request: Request, cat_id: int) -> Response:
        profile = access_profile(_user(request), cat_id)
        query = MemoryListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        memories = memories_of(profile, **query.validated_data)
        paginator = NewestFirst()
        page = paginator.paginate_queryset(memories, request, view=self)
        assert page is not None  # noqa: S101 - page_size is set
        return paginator.get_paginated_response(MemorySerializer(page, many=True).data)

    def post(self, request: Request, cat_id: int) -> Response:
        user = _user(request)
        # Authorize before validating: a stranger's cat is a 404 whatever the body says.
        profile = access_profile(user, cat_id)
        incoming = MemoryCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        memory = memory_create(
            profile=profile, actor=ACTOR, actor_user=user, **incoming.validated_data
        )
        return Response(MemorySerializer(memory).data, status=http.HTTP_201_CREATED)


class MemoryDetailView(APIView):
    """`GET|PATCH|DELETE memories/{id}/`. DELETE forgets the memory (status rejected): it is no
    longer recalled, and its history stays; PATCH `{"status": "active"}` brings it back."""

    def get(self, request: Request, memory_id: int) -> Response:
        memory = access_memory(_user(request), memory_id)
        return Response(MemorySerializer(memory).data)

    def patch(self, request: Request, memory_id: int) -> Response:
        user = _user(request)
        memory = access_memory(user, memory_id)
        incoming = MemoryUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        changes = dict(incoming.validated_data)
        status = changes.pop("status", None)
        # Restore first, forget last: a correction sent with either lands on the right memory.
        if status == Memory.Status.ACTIVE:
            memory = memory_restore(memory=memory, actor=ACTOR, actor_user=user)
        if changes:
            memory = memory_edit(memory=memory, actor=ACTOR, actor_user=user, **changes)
        if status == Memory.Status.REJECTED:
            memory = memory_reject(memory=memory, actor=ACTOR, actor_user=user)
        return Response(MemorySerializer(memory).data)

    def delete(self, request: Request, memory_id: int) -> Response:
        user = _user(request)
        memory = access_memory(user, memory_id)
        memory_reject(memory=memory, actor=ACTOR, actor_user=user)
        return Response(status=http.HTTP_204_NO_CONTENT)


class MemoryHistoryView(APIView):
    """`GET memories/{id}/history/`: every change of the memory, oldest first."""

    def get(self, request: Request, memory_id: int) -> Response:
        memory = access_memory(_user(request), memory_id)
        paginator = OldestFirst()
        page = paginator.paginate_queryset(memory.history.all(), request, view=self)
        assert page is not None  # noqa: S101 - page_size is set
        return paginator.get_paginated_response(MemoryHistorySerializer(page, many=True).data)
