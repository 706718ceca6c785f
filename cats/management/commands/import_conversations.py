"""`manage.py import_conversations FILE --user USERNAME --cat CAT_ID`: import past
conversations into a cat's history, as `POST cats/{id}/import/` does (the same document, the
same service; the README's "Importing past conversations"). FILE `-` reads standard input.

The cat then learns from the imported messages here, before the command exits (`--no-learn`
leaves them queued: a running server learns them with its next chat turn). Interrupting it loses
nothing: what is not learned yet stays queued.
"""

from __future__ import annotations

import json
import sys
import time
from argparse import ArgumentParser
from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError
from rest_framework.settings import api_settings

from accounts.models import User
from cats.selectors import find_cat
from cats.serializers import ImportDocumentSerializer
from cats.services import ImportInvalid, conversations_import
from memories import learning


class Command(BaseCommand):
    help = "Import past conversations (a JSON document) into a cat's history."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="the JSON document, or - for standard input")
        parser.add_argument("--user", required=True, help="the cat's owner (username)")
        parser.add_argument("--cat", required=True, type=int, help="the cat's id")
        parser.add_argument(
            "--no-learn",
            action="store_true",
            help="leave the imported messages queued for learning instead of learning now",
        )

    def handle(
        self, *args: Any, file: str, user: str, cat: int, no_learn: bool, **options: Any
    ) -> None:
        owner = User.objects.filter(username=user).first()
        found = find_cat(owner, cat) if owner is not None else None
        if found is None:
            raise CommandError(f"{user} has no cat with id {cat}.")
        document = _read(file)
        incoming = ImportDocumentSerializer(data=document)
        if not incoming.is_valid():
            raise CommandError(_errors(incoming.errors))
        started = time.monotonic()
        try:
            result = conversations_import(cat=found, sessions=incoming.validated_data["sessions"])
        except ImportInvalid as exc:
            raise CommandError(_errors(exc.errors)) from None
        self.stdout.write(
            f"Imported {result.imported} messages in {len(result.conversations)} conversations "
            f"({result.skipped} skipped: imported before) in {time.monotonic() - started:.1f} s."
        )
        if no_learn or not result.imported:
            return
        started = time.monotonic()
        learned = async_to_sync(learning.drain)()
        self.stdout.write(f"Learned from {learned} messages in {time.monotonic() - started:.1f} s.")


def _read(file: str) -> Any:
    try:
        if file == "-":
            return json.load(sys.stdin)
        with open(file, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"{file} is not a JSON document: {exc}.") from None


def _errors(errors: Any, path: str = "") -> str:
    """DRF's nested field errors as one line per error, each with its place:
    `sessions[2].turns[5].role: "bot" is not a valid choice.`"""
    if isinstance(errors, list) and all(isinstance(e, str) for e in errors):
        return "\n".join(f"{path or 'document'}: {message}" for message in errors)
    lines: list[str] = []
    items = errors.items() if isinstance(errors, dict) else enumerate(errors)
    for key, value in items:
        if key == api_settings.NON_FIELD_ERRORS_KEY:
            place = path
        elif isinstance(key, int) or str(key).isdigit():
            place = f"{path}[{key}]"
        else:
            place = f"{path}.{key}" if path else str(key)
        lines.append(_errors(value, place))
    return "\n".join(lines)
