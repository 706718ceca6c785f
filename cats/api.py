"""The cats REST API (`/api/v1/`, see cats/api_urls.py). Thin: parse, call one selector or
service, serialize. Authentication and the error shape come from settings.REST_FRAMEWORK;
someone else's cat or conversation is a 404 (`access_cat`, `access_conversation`), never a
403, and it is checked before the body is validated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import status as http
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from catchat.pagination import KeysetPagination, NewestFirst, OldestFirst
from catchat.rest import ErrorSerializer, paginated
from cats import chat
from cats.chat_api import ChatRefused
from cats.selectors import (
    access_cat,
    access_conversation,
    access_message,
    cats_for,
    conversations_for,
    conversations_search,
    messages_of,
)
from cats.serializers import (
    CareActionSerializer,
    CareResultSerializer,
    CatCreateSerializer,
    CatSerializer,
    CatStateSerializer,
    CatUpdateSerializer,
    ConversationCreateSerializer,
    ConversationHitSerializer,
    ConversationRenameSerializer,
    ConversationSearchSerializer,
    ConversationSerializer,
    ImportDocumentSerializer,
    ImportResultSerializer,
    MessageListQuerySerializer,
    MessageSerializer,
)
from cats.services import (
    ChatInputError,
    ImportInvalid,
    cat_act,
    cat_create,
    cat_delete,
    cat_state,
    cat_update,
    conversation_create,
    conversation_delete,
    conversation_rename,
    conversations_import,
    reply_keep,
)


def _user(request: Request) -> User:
    # IsAuthenticated (the default permission) has run: a real User, not AnonymousUser.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


# --- pagination ----------------------------------------------------------------------------


class MessagePages(OldestFirst):
    """Newest last, 50 a page or `?page_size=` up to 200."""

    page_size_query_param = "page_size"
    max_page_size = 200


def _page(
    paginator: KeysetPagination,
    queryset: QuerySet[Any],
    request: Request,
    render: Callable[[list[Any]], Any],
) -> Response:
    return paginator.get_paginated_response(render(paginator.paginate(queryset, request)))


# --- OpenAPI: shared pieces ----------------------------------------------------------------


def _error(description: str, detail: str) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[OpenApiExample(description, value={"detail": detail})],
    )


def _field_errors(description: str, value: dict[str, list[str]]) -> OpenApiResponse:
    return OpenApiResponse(
        description=f'Field errors `{{"<field>": ["..."]}}`: {description}',
        examples=[OpenApiExample("Field errors", value=value)],
    )


UNAUTHENTICATED = _error("No or bad credentials", "Authentication credentials were not provided.")
NO_CAT = _error("No such cat of yours", "No such cat.")
NO_CONVERSATION = _error("No such conversation of yours", "No such conversation.")
BAD_CURSOR = _error("No such cat of yours, or a cursor that cannot be read", "Invalid cursor")
BAD_CAT = _field_errors(
    "a missing, blank or too long name; a too long personality or coat; a non-string.",
    {"name": ["Ensure this field has no more than 40 characters."]},
)
BAD_TITLE = _field_errors(
    "a blank or too long title, or a non-string.",
    {"title": ["This field may not be blank."]},
)
DELETED = OpenApiResponse(description="Deleted. No body.")

CAT_ID = OpenApiParameter("cat_id", int, OpenApiParameter.PATH, description="The cat's id.")
CONVERSATION_ID = OpenApiParameter(
    "conversation_id", int, OpenApiParameter.PATH, description="The conversation's id."
)
CURSOR = OpenApiParameter(
    "cursor", str, description="Opaque: take it from a page's `next` or `previous` link."
)
MESSAGE_ID = OpenApiParameter(
    "message_id", int, OpenApiParameter.PATH, description="The message's id."
)
PAGE_SIZE = OpenApiParameter(
    "page_size", int, description="Messages a page: 50 unless given, at most 200."
)

_STATE = {
    "hunger": 35,
    "energy": 70,
    "affection": 64,
    "fun": 58,
    "mood": "content",
    "asleep": False,
    "asleep_until": None,
    "needs": [],
    "updated_at": "2026-11-20T18:05:00.512000+00:00",
}
_CAT = {
    "id": 1,
    "name": "Whiskers",
    "personality": "shy, curious, a little dramatic",
    "coat": "ginger",
    "created_at": "2026-11-02T09:30:00.104000+00:00",
    "state": _STATE,
}
_CONVERSATION = {
    "id": 7,
    "cat": 1,
    "title": "About sushi",
    "created_at": "2026-11-20T18:01:57.204000+00:00",
    "updated_at": "2026-11-20T18:02:14.880000+00:00",
}
_USER_MESSAGE = {
    "id": 41,
    "conversation": 7,
    "role": "user",
    "text": "I had sushi for lunch!",
    "status": "complete",
    "created_at": "2026-11-20T18:02:11.052000+00:00",
    "kept": True,
    "client_id": "4c1a3b9e-8a9c-4b60-9a4e-0d3e5f6a7b81",
    "reply_to": None,
}
_CAT_MESSAGE = {
    "id": 42,
    "conversation": 7,
    "role": "cat",
    "text": "*sniffs your hand* Fish? And none for me?",
    "status": "complete",
    "created_at": "2026-11-20T18:02:11.377000+00:00",
    "kept": True,
    "client_id": None,
    "reply_to": 41,
    "model": "mistral-small-latest",
    "usage": {"prompt_tokens": 812, "completion_tokens": 17, "total_tokens": 829},
    "mood": "playful",
    "memories_used": [12],
    "seq": 9,
    "error": None,
}
_NEXT = "https://catchat.example/api/v1/{}/?cursor=cD0yMDI2LTExLTIw"


def _list_example(name: str, items: list[dict[str, Any]], route: str) -> OpenApiExample:
    return OpenApiExample(
        name,
        value={"results": items, "next": _NEXT.format(route), "previous": None},
        response_only=True,
        status_codes=["200"],
    )


# --- cats ----------------------------------------------------------------------------------


class CatListView(APIView):
    """`GET|POST cats/`: your cats, oldest adoption first; or adopt one."""

    @extend_schema(
        tags=["cats"],
        operation_id="cats_list",
        summary="Your cats",
        description="Oldest adoption first, each with its state right now; cursor-paginated.",
        parameters=[CURSOR],
        responses={200: paginated(CatSerializer), 401: UNAUTHENTICATED, 404: BAD_CURSOR},
        examples=[_list_example("Your cats", [_CAT], "cats")],
    )
    def get(self, request: Request) -> Response:
        context = {"now": timezone.now()}  # one moment for the whole page
        return _page(
            OldestFirst(),
            cats_for(_user(request)),
            request,
            lambda rows: CatSerializer(rows, many=True, context=context).data,
        )

    @extend_schema(
        tags=["cats"],
        summary="Adopt a cat",
        description="Comes with fresh vitals and an empty memory profile.",
        request=CatCreateSerializer,
        responses={201: CatSerializer, 400: BAD_CAT, 401: UNAUTHENTICATED},
        examples=[
            OpenApiExample(
                "Adopt Whiskers",
                request_only=True,
                value={
                    "name": "Whiskers",
                    "personality": "shy, curious, a little dramatic",
                    "coat": "ginger",
                },
            ),
            OpenApiExample("Adopted", response_only=True, status_codes=["201"], value=_CAT),
        ],
    )
    def post(self, request: Request) -> Response:
        incoming = CatCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        cat = cat_create(owner=_user(request), **incoming.validated_data)
        return Response(CatSerializer(cat).data, status=http.HTTP_201_CREATED)


class CatDetailView(APIView):
    """`GET|PATCH|DELETE cats/{id}/`."""

    @extend_schema(
        tags=["cats"],
        summary="One of your cats",
        parameters=[CAT_ID],
        responses={200: CatSerializer, 401: UNAUTHENTICATED, 404: NO_CAT},
        examples=[OpenApiExample("Whiskers", response_only=True, value=_CAT)],
    )
    def get(self, request: Request, cat_id: int) -> Response:
        return Response(CatSerializer(access_cat(_user(request), cat_id)).data)

    @extend_schema(
        tags=["cats"],
        summary="Rename your cat, or change its personality or coat",
        description="Fields left out stay as they are.",
        parameters=[CAT_ID],
        request=CatUpdateSerializer,
        responses={200: CatSerializer, 400: BAD_CAT, 401: UNAUTHENTICATED, 404: NO_CAT},
        examples=[
            OpenApiExample("New coat", request_only=True, value={"coat": "grey tabby"}),
            OpenApiExample("Updated", response_only=True, value={**_CAT, "coat": "grey tabby"}),
        ],
    )
    def patch(self, request: Request, cat_id: int) -> Response:
        # Authorize before validating: a stranger's cat is a 404 whatever the body says.
        cat = access_cat(_user(request), cat_id)
        incoming = CatUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        cat = cat_update(cat=cat, **incoming.validated_data)
        return Response(CatSerializer(cat).data)

    @extend_schema(
        tags=["cats"],
        summary="Give up your cat",
        description=(
            "Removes the cat and everything of it: care history, conversations and messages, "
            "and what it remembers about you. There is no undo."
        ),
        parameters=[CAT_ID],
        request=None,
        responses={204: DELETED, 401: UNAUTHENTICATED, 404: NO_CAT},
        examples=[
            OpenApiExample(
                "Not yours",
                response_only=True,
                status_codes=["404"],
                value={"detail": "No such cat."},
            )
        ],
    )
    def delete(self, request: Request, cat_id: int) -> Response:
        cat_delete(cat=access_cat(_user(request), cat_id))
        return Response(status=http.HTTP_204_NO_CONTENT)


class CatStateView(APIView):
    """`GET cats/{id}/state/`: the cat's vitals and mood right now."""

    @extend_schema(
        tags=["cats"],
        summary="Your cat's vitals and mood right now",
        parameters=[CAT_ID],
        responses={200: CatStateSerializer, 401: UNAUTHENTICATED, 404: NO_CAT},
        examples=[OpenApiExample("Content", response_only=True, value=_STATE)],
    )
    def get(self, request: Request, cat_id: int) -> Response:
        cat = access_cat(_user(request), cat_id)
        return Response(CatStateSerializer(cat_state(cat)).data)


class CatActionsView(APIView):
    """`POST cats/{id}/actions/` with `{"action": "feed"}` (feed, play, pet or sleep).

    200 whether the cat accepted or refused: a refusal is an outcome, not an error. The owner's
    open tabs get the new `cat.state` too (the service pushes it).
    """

    @extend_schema(
        tags=["cats"],
        summary="Feed, play with, pet or put your cat to sleep",
        description="200 whether the cat accepts or refuses (`accepted`, `reason`).",
        parameters=[CAT_ID],
        request=CareActionSerializer,
        responses={
            200: CareResultSerializer,
            400: _field_errors(
                "an unknown action.", {"action": ['"dance" is not a valid choice.']}
            ),
            401: UNAUTHENTICATED,
            404: NO_CAT,
        },
        examples=[
            OpenApiExample("Feed", request_only=True, value={"action": "feed"}),
            OpenApiExample(
                "Not hungry",
                response_only=True,
                value={
                    "accepted": False,
                    "reason": "not_hungry",
                    "message": "*sniffs the bowl and walks away* I'm not hungry.",
                    "state": _STATE,
                },
            ),
        ],
    )
    def post(self, request: Request, cat_id: int) -> Response:
        user = _user(request)
        # Authorize before validating: a stranger's cat is a 404 whatever the body says.
        cat = access_cat(user, cat_id)
        incoming = CareActionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        result = cat_act(cat=cat, actor=user, action=incoming.validated_data["action"])
        return Response(CareResultSerializer(result).data)


# --- conversations -------------------------------------------------------------------------


class ConversationListView(APIView):
    """`GET|POST cats/{id}/conversations/`: the cat's conversations, newest first; or a new
    one."""

    @extend_schema(
        tags=["conversations"],
        operation_id="cats_conversations_list",
        summary="Your conversations with a cat",
        description=(
            "Newest first (by their last message or rename); cursor-paginated. With `?q=`: "
            "the best matches for a question or words, ranked by the cat's own recall of what "
            "you said (as the memory search), then those whose title or messages hold the "
            "text; each with a `snippet` and its `message`; one page, no cursor."
        ),
        parameters=[
            CAT_ID,
            CURSOR,
            OpenApiParameter("q", str, description="Search by meaning and words."),
        ],
        responses={
            200: paginated(ConversationHitSerializer),
            401: UNAUTHENTICATED,
            404: BAD_CURSOR,
        },
        examples=[
            _list_example("Conversations", [_CONVERSATION], "cats/1/conversations"),
            OpenApiExample(
                "Search",
                response_only=True,
                value={
                    "results": [
                        {**_CONVERSATION, "snippet": "I had sushi with Mia", "message": 41}
                    ],
                    "next": None,
                    "previous": None,
                },
            ),
        ],
    )
    def get(self, request: Request, cat_id: int) -> Response:
        cat = access_cat(_user(request), cat_id)
        query = ConversationSearchSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data["q"].strip()
        if q:
            hits = conversations_search(cat, q=q)
            results = [
                {
                    **ConversationSerializer(hit.conversation).data,
                    "snippet": hit.snippet,
                    "message": hit.message,
                }
                for hit in hits
            ]
            return Response({"results": results, "next": None, "previous": None})
        return _page(
            NewestFirst(),
            conversations_for(cat),
            request,
            lambda rows: ConversationSerializer(rows, many=True).data,
        )

    @extend_schema(
        tags=["conversations"],
        summary="Start a conversation",
        description="Empty; send messages to it with `POST chat/` or over the WebSocket.",
        parameters=[CAT_ID],
        request=ConversationCreateSerializer,
        responses={
            201: ConversationSerializer,
            400: BAD_TITLE,
            401: UNAUTHENTICATED,
            404: NO_CAT,
        },
        examples=[
            OpenApiExample("Titled", request_only=True, value={"title": "About sushi"}),
            OpenApiExample(
                "Started", response_only=True, status_codes=["201"], value=_CONVERSATION
            ),
        ],
    )
    def post(self, request: Request, cat_id: int) -> Response:
        # Authorize before validating: a stranger's cat is a 404 whatever the body says.
        cat = access_cat(_user(request), cat_id)
        incoming = ConversationCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        conversation = conversation_create(cat=cat, **incoming.validated_data)
        return Response(ConversationSerializer(conversation).data, status=http.HTTP_201_CREATED)


class ConversationDetailView(APIView):
    """`GET|PATCH|DELETE conversations/{id}/`."""

    @extend_schema(
        tags=["conversations"],
        summary="One of your conversations",
        parameters=[CONVERSATION_ID],
        responses={200: ConversationSerializer, 401: UNAUTHENTICATED, 404: NO_CONVERSATION},
        examples=[OpenApiExample("About sushi", response_only=True, value=_CONVERSATION)],
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = access_conversation(_user(request), conversation_id)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(
        tags=["conversations"],
        summary="Rename a conversation",
        description="`title`: 1 to 120 characters, trimmed.",
        parameters=[CONVERSATION_ID],
        request=ConversationRenameSerializer,
        responses={
            200: ConversationSerializer,
            400: BAD_TITLE,
            401: UNAUTHENTICATED,
            404: NO_CONVERSATION,
        },
        examples=[
            OpenApiExample("Rename", request_only=True, value={"title": "Sushi, again"}),
            OpenApiExample(
                "Renamed", response_only=True, value={**_CONVERSATION, "title": "Sushi, again"}
            ),
        ],
    )
    def patch(self, request: Request, conversation_id: int) -> Response:
        # Authorize before validating: a stranger's conversation is a 404 whatever the body says.
        conversation = access_conversation(_user(request), conversation_id)
        incoming = ConversationRenameSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        conversation = conversation_rename(
            conversation=conversation, title=incoming.validated_data["title"]
        )
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(
        tags=["conversations"],
        summary="Delete a conversation",
        description=(
            "Removes the conversation and its messages. What the cat learned from them stays "
            "in its memories (curate those under `memories/`)."
        ),
        parameters=[CONVERSATION_ID],
        request=None,
        responses={204: DELETED, 401: UNAUTHENTICATED, 404: NO_CONVERSATION},
        examples=[
            OpenApiExample(
                "Not yours",
                response_only=True,
                status_codes=["404"],
                value={"detail": "No such conversation."},
            )
        ],
    )
    def delete(self, request: Request, conversation_id: int) -> Response:
        conversation_delete(conversation=access_conversation(_user(request), conversation_id))
        return Response(status=http.HTTP_204_NO_CONTENT)


class MessageListView(APIView):
    """`GET conversations/{id}/messages/`: oldest first (newest last), each message exactly as
    the WebSocket frames carry it."""

    @extend_schema(
        tags=["conversations"],
        operation_id="conversations_messages_list",
        summary="The messages of a conversation",
        description=(
            "Oldest first, newest last; 50 a page (`?page_size=` up to 200). Follow `next` to "
            "read on: messages that arrive meanwhile come on later pages, none twice, none "
            "skipped. A reply still being written has status `streaming` and its text so far. "
            "`?kept=true` gives only the shown path (a regenerated turn's kept reply, an edited "
            "message's shown version and the turns after it)."
        ),
        parameters=[CONVERSATION_ID, MessageListQuerySerializer, CURSOR, PAGE_SIZE],
        responses={
            200: paginated(MessageSerializer),
            401: UNAUTHENTICATED,
            404: _error(
                "No such conversation of yours, or a cursor that cannot be read",
                "No such conversation.",
            ),
        },
        examples=[
            _list_example(
                "A user message and the cat's reply",
                [_USER_MESSAGE, _CAT_MESSAGE],
                "conversations/7/messages",
            )
        ],
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = access_conversation(_user(request), conversation_id)
        query = MessageListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        messages = messages_of(conversation)
        if query.validated_data["kept"] is not None:
            messages = messages.filter(kept=query.validated_data["kept"])
        return _page(
            MessagePages(),
            messages,
            request,
            lambda rows: MessageSerializer(rows, many=True).data,
        )


class MessageKeepView(APIView):
    """`POST messages/{id}/keep/`: make this cat reply the kept one of its alternatives, or
    show this version of an edited message."""

    @extend_schema(
        tags=["conversations"],
        operation_id="messages_keep",
        summary="Keep one of the cat's replies, or one version of an edited message",
        description=(
            "A regenerated reply keeps the earlier ones as alternatives (the replies with the "
            "same `reply_to`). The kept one is what the chat page shows and what the cat is "
            "shown of that turn from then on. The owner's open tabs get `chat.kept`.\n\n"
            "An edited message keeps its earlier versions (the user messages with the same "
            "`edit_of`, and the first one), each with the turns that followed it. Keeping a "
            "version shows it and its turns in place of the version shown and its turns; the "
            "cat learns from the version shown (the other's facts are superseded). The owner's "
            "open tabs get `chat.branched`.\n\nNo fields to send: the message is the one in "
            "the path."
        ),
        parameters=[MESSAGE_ID],
        # Nothing to send (the reply is the one in the path); any JSON object is ignored.
        request=OpenApiTypes.OBJECT,
        responses={
            200: MessageSerializer,
            400: _error(
                "Neither a reply of the cat nor a version of an edited message",
                "That message has no other version to show.",
            ),
            401: UNAUTHENTICATED,
            404: _error("No such message of yours", "No such message."),
            409: _error(
                "A reply is being written in that conversation, or the message is in a branch "
                "that is not shown",
                "The cat is still answering in this conversation: wait or stop it first.",
            ),
        },
        examples=[
            OpenApiExample("No body", request_only=True, value={}),
            OpenApiExample(
                "The first reply, kept again after a regenerate",
                response_only=True,
                status_codes=["200"],
                value=_CAT_MESSAGE,
            ),
        ],
    )
    def post(self, request: Request, message_id: int) -> Response:
        message = access_message(_user(request), message_id)
        try:
            kept = reply_keep(
                cat=message.conversation.cat, message_id=message.pk, busy=chat.is_busy
            )
        except ChatInputError as exc:
            raise ChatRefused(exc) from None
        return Response(MessageSerializer(kept).data)


# --- importing past conversations ----------------------------------------------------------

_IMPORT_DOCUMENT = {
    "sessions": [
        {
            "id": "2024-03-01-breakfast",
            "started_at": "2024-03-01T08:00:00+01:00",
            "title": "Breakfast",
            "turns": [
                {"id": "t1", "role": "user", "text": "I had sushi for breakfast!"},
                {"id": "t2", "role": "cat", "text": "*sniffs* Fish? And none for me?"},
                {
                    "id": "t3",
                    "role": "user",
                    "text": "My sister Lea lives in Lyon.",
                    "time": "2024-03-01T08:05:00+01:00",
                },
            ],
        }
    ]
}
BAD_IMPORT = OpenApiResponse(
    description=(
        "Field errors, nested as the document is: a missing or unknown role, a bad time (or "
        "one before the turn before), an empty or too long text, a session or turn id used "
        "twice, over 20,000 turns. Nothing was imported."
    ),
    examples=[
        OpenApiExample(
            "sessions[1].turns[1].role",
            value={"sessions": {"1": {"turns": {"1": {"role": ['"bot" is not a valid choice.']}}}}},
        )
    ],
)
_IMPORTED = {
    "conversations": [{"id": 12, "session": "2024-03-01-breakfast"}],
    "messages": {"t1": 301, "t2": 302, "t3": 303},
    "imported": 3,
    "skipped": 0,
}


class CatImportView(APIView):
    """`POST cats/{id}/import/`: past conversations into the cat's history (the README's
    "Importing past conversations")."""

    # Counted as one message of the chat's budget: an import is heavy (learning then embeds
    # and learns from every turn in the background).
    throttle_scope = "chat"

    @extend_schema(
        tags=["conversations"],
        operation_id="cats_import",
        summary="Import past conversations",
        description=(
            "Each session becomes a conversation and each turn a message with its original "
            "time; a cat turn answers the user turn right before it. When this returns, your "
            "turns are recalled by their words; in the background the cat embeds them (then "
            "they are recalled by their meaning too) and learns facts from them. All or "
            "nothing: a bad document is a 400 with field errors "
            "pointing at the place (`sessions[2].turns[5].role` is "
            '`{"sessions": {"2": {"turns": {"5": {"role": [...]}}}}}`) and '
            "imports nothing. Importing again adds only the turns not imported before "
            "(recognised by session id and turn id, or the turn's place in its session): 201 "
            "when anything was added, 200 when nothing was. At most 20,000 turns a document."
        ),
        parameters=[CAT_ID],
        request=ImportDocumentSerializer,
        responses={
            201: OpenApiResponse(ImportResultSerializer, description="Messages were added."),
            200: OpenApiResponse(
                ImportResultSerializer, description="Everything was imported before."
            ),
            400: BAD_IMPORT,
            401: UNAUTHENTICATED,
            404: NO_CAT,
            429: _error(
                "Too many requests", "Request was throttled. Expected available in 2 seconds."
            ),
        },
        examples=[
            OpenApiExample("A session of three turns", request_only=True, value=_IMPORT_DOCUMENT),
            OpenApiExample("Imported", response_only=True, status_codes=["201"], value=_IMPORTED),
            OpenApiExample(
                "Imported before",
                response_only=True,
                status_codes=["200"],
                value={**_IMPORTED, "imported": 0, "skipped": 3},
            ),
        ],
    )
    def post(self, request: Request, cat_id: int) -> Response:
        # Authorize before validating: a stranger's cat is a 404 whatever the body says.
        cat = access_cat(_user(request), cat_id)
        incoming = ImportDocumentSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            result = conversations_import(cat=cat, sessions=incoming.validated_data["sessions"])
        except ImportInvalid as exc:
            raise ValidationError(exc.errors) from None
        return Response(
            ImportResultSerializer(result).data,
            status=http.HTTP_201_CREATED if result.imported else http.HTTP_200_OK,
        )
