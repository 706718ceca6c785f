"""The memories REST API (`/api/v1/`, see memories/api_urls.py). Thin: parse, call one selector or
service, serialize. Authentication and the error shape come from settings.REST_FRAMEWORK;
someone else's cat or memory is a 404 (`access_profile`, `access_memory`), never a 403.

Every write is made by the human (actor "user") through `memories.services`, which records
the history and pushes `memory.changed` to the owner's open tabs.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status as http
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from catchat.pagination import NewestFirst, OldestFirst
from catchat.rest import paginated
from memories.models import Memory, MemoryHistory
from memories.profiles import profile_update
from memories.selectors import (
    access_memory,
    access_profile,
    memories_of,
    memories_search,
    recall_for,
    status_counts,
)
from memories.serializers import (
    MemoryCreateSerializer,
    MemoryHistorySerializer,
    MemoryListQuerySerializer,
    MemoryProfileSerializer,
    MemoryProfileUpdateSerializer,
    MemorySerializer,
    MemoryUpdateSerializer,
    RecallQuerySerializer,
    RecallSerializer,
)
from memories.services import memory_create, memory_edit, memory_reject, memory_restore

ACTOR = MemoryHistory.Actor.USER

NOT_FOUND = OpenApiResponse(description="No such cat or memory of yours.")
BAD_INPUT = OpenApiResponse(description='Field errors: `{"<field>": ["..."]}`.')
MEMORY_EXAMPLE = OpenApiExample(
    "A memory",
    value={
        "id": 12,
        "text": "Loves sushi",
        "category": "preference",
        "importance": 3,
        "pinned": False,
        "status": "active",
        "source": {"message": 41, "quote": "I love sushi"},
        "valid_from": "2026-11-20T18:02:11Z",
        "superseded_by": None,
        "created_at": "2026-11-20T18:02:11Z",
        "updated_at": "2026-11-20T18:02:11Z",
    },
    response_only=True,
)
PROFILE_EXAMPLE = OpenApiExample(
    "A memory profile",
    value={
        "cat": 1,
        "summary": "Dana, a nurse in Lyon who loves sushi.",
        "enabled": True,
        "counts": {"active": 12, "superseded": 2, "rejected": 1},
    },
    response_only=True,
)


def _user(request: Request) -> User:
    # IsAuthenticated (the default permission) has run: a real User, not AnonymousUser.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


class MemoryProfileView(APIView):
    """`GET|PATCH cats/{id}/memory-profile/`: the summary, the on/off switch, the counts."""

    @extend_schema(
        tags=["memories"],
        summary="What the cat keeps about you",
        responses={200: MemoryProfileSerializer, 404: NOT_FOUND},
        examples=[PROFILE_EXAMPLE],
    )
    def get(self, request: Request, cat_id: int) -> Response:
        profile = access_profile(_user(request), cat_id)
        return Response(MemoryProfileSerializer.shape(profile, status_counts(profile)))

    @extend_schema(
        tags=["memories"],
        summary="Edit the summary, or switch memories off and on",
        request=MemoryProfileUpdateSerializer,
        responses={200: MemoryProfileSerializer, 400: BAD_INPUT, 404: NOT_FOUND},
        examples=[
            OpenApiExample("Switch off", value={"enabled": False}, request_only=True),
            PROFILE_EXAMPLE,
        ],
    )
    def patch(self, request: Request, cat_id: int) -> Response:
        profile = access_profile(_user(request), cat_id)
        incoming = MemoryProfileUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        profile = profile_update(profile=profile, **incoming.validated_data)
        return Response(MemoryProfileSerializer.shape(profile, status_counts(profile)))


class MemoryListView(APIView):
    """`GET|POST cats/{id}/memories/`: the cat's memories (`?status=` active by default, or
    superseded, rejected, all), newest first, or with `?q=` the best matches for a question or
    words, ranked by the cat's own recall; or a new one."""

    @extend_schema(
        tags=["memories"],
        summary="The cat's memories of you",
        parameters=[MemoryListQuerySerializer, OpenApiParameter("cursor", str)],
        responses={200: paginated(MemorySerializer), 400: BAD_INPUT, 404: NOT_FOUND},
        examples=[MEMORY_EXAMPLE],
    )
    def get(self, request: Request, cat_id: int) -> Response:
        profile = access_profile(_user(request), cat_id)
        query = MemoryListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q, status = query.validated_data.get("q", "").strip(), query.validated_data["status"]
        if q:
            # Ranked by recall: one page of the best matches, best first.
            found = memories_search(profile, q=q, status=status)
            results = MemorySerializer(found, many=True).data
            return Response({"results": results, "next": None, "previous": None})
        memories = memories_of(profile, status=status)
        paginator = NewestFirst()
        page = paginator.paginate(memories, request)
        return paginator.get_paginated_response(MemorySerializer(page, many=True).data)

    @extend_schema(
        tags=["memories"],
        summary="Tell the cat something to remember",
        request=MemoryCreateSerializer,
        responses={201: MemorySerializer, 400: BAD_INPUT, 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "A fact",
                value={"text": "Is allergic to peanuts", "category": "health", "pinned": True},
                request_only=True,
            ),
            MEMORY_EXAMPLE,
        ],
    )
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

    @extend_schema(
        tags=["memories"],
        summary="One memory",
        responses={200: MemorySerializer, 404: NOT_FOUND},
        examples=[MEMORY_EXAMPLE],
    )
    def get(self, request: Request, memory_id: int) -> Response:
        memory = access_memory(_user(request), memory_id)
        return Response(MemorySerializer(memory).data)

    @extend_schema(
        tags=["memories"],
        summary="Correct, pin, forget or restore a memory",
        request=MemoryUpdateSerializer,
        responses={200: MemorySerializer, 400: BAD_INPUT, 404: NOT_FOUND},
        examples=[
            OpenApiExample("Correct it", value={"text": "Loves salmon sushi"}, request_only=True),
            MEMORY_EXAMPLE,
        ],
    )
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

    @extend_schema(
        tags=["memories"],
        summary="Forget a memory (its history stays)",
        responses={204: None, 404: NOT_FOUND},
    )
    def delete(self, request: Request, memory_id: int) -> Response:
        user = _user(request)
        memory = access_memory(user, memory_id)
        memory_reject(memory=memory, actor=ACTOR, actor_user=user)
        return Response(status=http.HTTP_204_NO_CONTENT)


class MemoryHistoryView(APIView):
    """`GET memories/{id}/history/`: every change of the memory, oldest first."""

    @extend_schema(
        tags=["memories"],
        summary="Every change of a memory, oldest first",
        parameters=[OpenApiParameter("cursor", str)],
        responses={200: paginated(MemoryHistorySerializer), 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "Learned, then corrected",
                value={
                    "results": [
                        {
                            "id": 30,
                            "operation": "add",
                            "actor": "cat",
                            "old_text": "",
                            "new_text": "Loves sushi",
                            "note": "",
                            "created_at": "2026-11-20T18:02:11Z",
                        },
                        {
                            "id": 31,
                            "operation": "update",
                            "actor": "user",
                            "old_text": "Loves sushi",
                            "new_text": "Loves salmon sushi",
                            "note": "",
                            "created_at": "2026-11-21T09:15:40Z",
                        },
                    ],
                    "next": None,
                    "previous": None,
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, memory_id: int) -> Response:
        memory = access_memory(_user(request), memory_id)
        paginator = OldestFirst()
        page = paginator.paginate(memory.history.all(), request)
        return paginator.get_paginated_response(MemoryHistorySerializer(page, many=True).data)


class RecallView(APIView):
    """`GET cats/{id}/recall/?q=...&limit=10`: what the cat would recall for that text, facts and
    episodes in one ranked list, as a chat turn ranks them (without the prompt's token budget).
    Changes nothing."""

    @extend_schema(
        tags=["memories"],
        summary="What the cat would recall for a text",
        parameters=[RecallQuerySerializer],
        responses={200: RecallSerializer, 400: BAD_INPUT, 404: NOT_FOUND},
        examples=[
            OpenApiExample(
                "Recalled",
                value={
                    "results": [
                        {
                            "kind": "episode",
                            "id": 311,
                            "text": "I went to the support group yesterday, it helped a lot",
                            "score": 0.0909,
                            "source_message": 311,
                            "conversation": 17,
                            "at": "2023-05-08T13:56:00Z",
                            "pinned": False,
                        },
                        {
                            "kind": "fact",
                            "id": 12,
                            "text": "Works as a nurse",
                            "score": 0.0833,
                            "source_message": 41,
                            "conversation": None,
                            "at": "2026-11-20T18:02:11Z",
                            "pinned": False,
                        },
                    ]
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request, cat_id: int) -> Response:
        profile = access_profile(_user(request), cat_id)
        query = RecallQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = recall_for(profile, **query.validated_data)
        return Response(RecallSerializer({"results": found}).data)
