"""Export of everything one person has in CatChat, as one JSON document (`GET /api/v1/me/export/`).

This gathers data across apps (accounts, cats, memories), so it sits with the wiring in `catchat/`
and is imported only by wiring (accounts/api_urls.py): no app depends on it, and the
`accounts` app itself stays free of `cats` and `memories`.

Shapes are the API's own: a message is exactly what the WebSocket sends (`message_payload`), a
memory what REST and WebSocket show (`memory_payload`), a cat's state what `cats/{id}/state/`
answers (`cat_state`). All memories are exported, whatever their status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.http import content_disposition_header
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from catchat.rest import ErrorSerializer
from cats.frames import cat_payload, message_payload
from cats.models import CareEvent, Cat, Conversation
from cats.serializers import CatStateSerializer
from cats.services import cat_state
from memories.models import Memory, MemoryHistory, MemoryProfile
from memories.serializers import MemoryHistorySerializer, MemorySerializer
from memories.services import memory_payload

EXPORT_FORMAT = "catchat-export"
EXPORT_VERSION = 1
HISTORY_FIELDS = MemoryHistorySerializer.Meta.fields


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _user_payload(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "date_joined": _iso(user.date_joined),
        "last_login": _iso(user.last_login),
    }


def _care_payload(event: CareEvent) -> dict[str, Any]:
    return {
        "action": event.action,
        "accepted": event.accepted,
        "reason": event.reason,
        "effect": event.effect,
        "created_at": event.created_at.isoformat(),
    }


def _conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "cat": conversation.cat_id,
        "title": conversation.title,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "messages": [message_payload(message) for message in conversation.messages.all()],
    }


def _history_payload(change: MemoryHistory) -> dict[str, Any]:
    # The fields of `GET memories/{id}/history/`: who changed it is "cat", "user" or "staff",
    # never a staff member's name.
    row = {field: getattr(change, field) for field in HISTORY_FIELDS}
    row["created_at"] = change.created_at.isoformat()
    return row


def _memory_export(memory: Memory) -> dict[str, Any]:
    return {
        **memory_payload(memory),
        "history": [_history_payload(change) for change in memory.history.all()],
    }


def _profile_payload(profile: MemoryProfile) -> dict[str, Any]:
    return {
        "summary": profile.summary,
        "enabled": profile.enabled,
        "created_at": profile.created_at.isoformat(),
        "updated_at": profile.updated_at.isoformat(),
        "memories": [
            {
                **memory_payload(memory),
                "history": [_history_payload(h) for h in memory.history.all()],
            }
            for memory in profile.memories.all()
        ],
    }


def _cats_of(user: User) -> list[Cat]:
    # Six queries whatever the amount of data: cats with their profiles, then one each for
    # care events, conversations, messages, memories and history.
    return list(
        Cat.objects.filter(owner=user)
        .select_related("memory_profile")
        .prefetch_related(
            Prefetch("care_events", queryset=CareEvent.objects.order_by("created_at", "id")),
            Prefetch("conversations", queryset=Conversation.objects.order_by("created_at", "id")),
            "conversations__messages",
            # Vectors are of no use to a person reading their data, and the bulk of a row.
            Prefetch(
                "memory_profile__memories",
                queryset=Memory.objects.defer("embedding", "search").order_by("created_at", "id"),
            ),
            "memory_profile__memories__history",
        )
        .order_by("created_at", "id")
    )


def _cat_export(cat: Cat, now: datetime) -> dict[str, Any]:
    try:
        profile: MemoryProfile | None = cat.memory_profile
    except MemoryProfile.DoesNotExist:
        profile = None  # a cat adopted before memories existed, never talked to since
    return {
        **cat_payload(cat),
        "state": cat_state(cat, now=now),
        "care_events": [_care_payload(event) for event in cat.care_events.all()],
        "conversations": [_conversation_payload(c) for c in cat.conversations.all()],
        "memory_profile": _profile_payload(profile) if profile is not None else None,
    }


def user_export(user: User, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything `user` owns, as one JSON-ready dict: the account, and per cat its state, care
    events, conversations with their messages, and what it remembers (every memory, with its
    history). Reads only; a fixed number of queries however much there is."""
    now = now or timezone.now()
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": now.isoformat(),
        "user": _user_payload(user),
        "cats": [_cat_export(cat, now) for cat in _cats_of(user)],
    }


def export_filename(user: User) -> str:
    return f"catchat-export-{user.username}.json"


# --- the view, and the shape documented for OpenAPI ----------------------------------------


class _ExportUserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    date_joined = serializers.DateTimeField()
    last_login = serializers.DateTimeField(allow_null=True)


class _ExportCareEventSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=CareEvent.Action.choices)
    accepted = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True, help_text="Why the cat refused.")
    effect = serializers.DictField(child=serializers.IntegerField(), help_text="Change of vitals.")
    created_at = serializers.DateTimeField()


class _ExportMessageSerializer(serializers.Serializer):
    """A message exactly as the WebSocket sends it (cats.frames.message_payload)."""

    id = serializers.IntegerField()
    conversation = serializers.IntegerField()
    role = serializers.ChoiceField(choices=["user", "cat"])
    text = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    client_id = serializers.UUIDField(allow_null=True, required=False)
    reply_to = serializers.IntegerField(allow_null=True, required=False)
    model = serializers.CharField(required=False, help_text="Cat replies only.")
    usage = serializers.DictField(child=serializers.IntegerField(), allow_null=True, required=False)
    mood = serializers.CharField(allow_null=True, required=False)
    memories_used = serializers.ListField(child=serializers.IntegerField(), required=False)
    episodes_used = serializers.ListField(child=serializers.IntegerField(), required=False)
    seq = serializers.IntegerField(required=False, help_text="The last streamed delta.")
    error = serializers.DictField(
        child=serializers.CharField(), allow_null=True, required=False, help_text="`code`."
    )


class _ExportConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    cat = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    messages = _ExportMessageSerializer(many=True, help_text="Oldest first.")


class _ExportMemorySerializer(MemorySerializer):
    history = MemoryHistorySerializer(many=True, read_only=True, help_text="Oldest first.")


class _ExportProfileSerializer(serializers.Serializer):
    summary = serializers.CharField(allow_blank=True)
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    memories = _ExportMemorySerializer(many=True, help_text="All of them, whatever the status.")


class _ExportCatSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    personality = serializers.CharField(allow_blank=True)
    coat = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    state = CatStateSerializer()
    care_events = _ExportCareEventSerializer(many=True)
    conversations = _ExportConversationSerializer(many=True)
    memory_profile = _ExportProfileSerializer(allow_null=True)


class UserExportSerializer(serializers.Serializer):
    """The export document (documentation only: `user_export` builds it)."""

    format = serializers.CharField(help_text=f'Always "{EXPORT_FORMAT}".')
    version = serializers.IntegerField(help_text="Changes when the document's shape does.")
    exported_at = serializers.DateTimeField()
    user = _ExportUserSerializer()
    cats = _ExportCatSerializer(many=True)


_EXAMPLE = {
    "format": EXPORT_FORMAT,
    "version": EXPORT_VERSION,
    "exported_at": "2025-06-01T12:00:00+00:00",
    "user": {
        "id": 1,
        "username": "alice",
        "email": "alice@example.com",
        "date_joined": "2025-05-01T09:30:00+00:00",
        "last_login": "2025-06-01T11:58:00+00:00",
    },
    "cats": [
        {
            "id": 7,
            "name": "Whiskers",
            "personality": "shy, curious",
            "coat": "ginger",
            "created_at": "2025-05-01T09:31:00+00:00",
            "state": {
                "hunger": 35,
                "energy": 70,
                "affection": 64,
                "fun": 55,
                "mood": "content",
                "asleep": False,
                "asleep_until": None,
                "needs": [],
                "updated_at": "2025-06-01T12:00:00+00:00",
            },
            "care_events": [
                {
                    "action": "feed",
                    "accepted": True,
                    "reason": "",
                    "effect": {"hunger": -40},
                    "created_at": "2025-05-02T08:00:00+00:00",
                }
            ],
            "conversations": [
                {
                    "id": 3,
                    "cat": 7,
                    "title": "Hello",
                    "created_at": "2025-05-02T08:01:00+00:00",
                    "updated_at": "2025-05-02T08:02:00+00:00",
                    "messages": [
                        {
                            "id": 11,
                            "conversation": 3,
                            "role": "user",
                            "text": "I have a dog called Rex.",
                            "status": "complete",
                            "created_at": "2025-05-02T08:01:00+00:00",
                            "client_id": None,
                            "reply_to": None,
                        }
                    ],
                }
            ],
            "memory_profile": {
                "summary": "",
                "enabled": True,
                "created_at": "2025-05-01T09:31:00+00:00",
                "updated_at": "2025-05-01T09:31:00+00:00",
                "memories": [
                    {
                        "id": 5,
                        "text": "Has a dog called Rex",
                        "category": "pets",
                        "importance": 3,
                        "pinned": False,
                        "status": "active",
                        "source": {"message": 11, "quote": "I have a dog called Rex."},
                        "valid_from": "2025-05-02T08:01:05+00:00",
                        "superseded_by": None,
                        "created_at": "2025-05-02T08:01:05+00:00",
                        "updated_at": "2025-05-02T08:01:05+00:00",
                        "history": [
                            {
                                "id": 9,
                                "operation": "add",
                                "actor": "cat",
                                "old_text": "",
                                "new_text": "Has a dog called Rex",
                                "note": "",
                                "created_at": "2025-05-02T08:01:05+00:00",
                            }
                        ],
                    }
                ],
            },
        }
    ],
}


class UserExportView(APIView):
    """`GET me/export/`: all of the signed-in person's data, as a JSON file to download."""

    @extend_schema(
        tags=["me"],
        summary="Export all my data",
        description="One JSON document with the account, every cat with its state, care "
        "events, conversations and messages, and every memory with its history. Served as "
        'an attachment: `Content-Disposition: attachment; filename="catchat-export-'
        '<username>.json"`.',
        responses={
            200: UserExportSerializer,
            401: OpenApiResponse(
                ErrorSerializer,
                description="No or bad credentials",
                examples=[
                    OpenApiExample(
                        "Not signed in",
                        value={"detail": "Authentication credentials were not provided."},
                    )
                ],
            ),
        },
        examples=[
            OpenApiExample(
                "Alice and Whiskers", response_only=True, status_codes=["200"], value=_EXAMPLE
            )
        ],
    )
    def get(self, request: Request) -> Response:
        # IsAuthenticated (the default permission) has run: a real User, not AnonymousUser.
        assert isinstance(request.user, User)  # noqa: S101
        user = request.user
        response = Response(user_export(user))
        response["Content-Disposition"] = content_disposition_header(True, export_filename(user))
        return response
