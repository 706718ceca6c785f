"""`POST chat/` over REST, as one JSON answer or as Server-Sent Events, and the first design's
aliases (`POST /api/chat`, `GET /api/cat/state`).

The turn is the WebSocket's (`chat.take_turn`, through `chat.follow_turn`): the message is
counted against the user's one budget and saved before anything else (so a bad request, a busy
conversation or a spent budget is refused with nothing half-done: 400, 409, 429), then the
reply starts and its frames are relayed. With `Accept: text/event-stream`
each frame is one event named as in the WebSocket without the `chat.` prefix (`accepted`,
`started`, `delta`, `done`, `error`), its data the frame's JSON. A client that goes away stops
nothing: the reply is still written and saved, and a resend with the same `client_id` returns
it (or follows it while it is still being written).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import Http404, HttpResponseBase, StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from cats import chat, services
from cats.models import Cat
from cats.selectors import access_cat, cats_for
from cats.serializers import CatStateSerializer
from cats.services import cat_state

# WebSocket frame type -> SSE event name.
SSE_EVENTS = {
    "chat.accepted": "accepted",
    "chat.started": "started",
    "chat.delta": "delta",
    "chat.done": "done",
    "error": "error",
}
# ChatInputError codes -> HTTP status.
INPUT_STATUS = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "busy": status.HTTP_409_CONFLICT,
    "conflict": status.HTTP_409_CONFLICT,
    "rate_limited": status.HTTP_429_TOO_MANY_REQUESTS,  # the tab's budget: CHAT_MESSAGES_PER_MINUTE
}
# How a reply that failed is answered in JSON mode, by error code.
FAILURE_STATUS = {
    "rate_limited": status.HTTP_503_SERVICE_UNAVAILABLE,
    "llm_timeout": status.HTTP_504_GATEWAY_TIMEOUT,
    "busy": status.HTTP_409_CONFLICT,
}


def _user(request: Request) -> User:
    # IsAuthenticated (the default permission) has run: a real User, not AnonymousUser.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


class EventStreamRenderer(BaseRenderer):
    """Lets `Accept: text/event-stream` through content negotiation; the view streams itself."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        return b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"


class ChatRefused(APIException):
    """A message the chat cannot take (`ChatInputError`), as an HTTP error with its code."""

    def __init__(self, error: services.ChatInputError) -> None:
        super().__init__(detail=error.detail, code=error.code)
        self.status_code = INPUT_STATUS.get(error.code, status.HTTP_400_BAD_REQUEST)
        if isinstance(error, chat.RateLimited):
            self.wait = error.retry_after  # DRF's handler sends it as Retry-After


class ChatRequestSerializer(serializers.Serializer):
    cat = serializers.IntegerField(
        required=False, min_value=1, help_text="Your cat; your first cat when left out."
    )
    conversation = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="A conversation of that cat; a new one is started when left out.",
    )
    message = serializers.CharField(
        max_length=settings.CHAT_MAX_MESSAGE_CHARS, trim_whitespace=False, allow_blank=True
    )
    client_id = serializers.UUIDField(
        required=False,
        help_text="Your id for this message: sending it again returns the same turn, never a "
        "second one. Generated when left out (then a retry is a new message).",
    )
    edit_of = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Edit a message you sent: the id of one shown in the conversation. The "
        "new text is a new version of it and gets a reply of its own; the earlier version and "
        "the turns after it are kept as a branch (`POST messages/{id}/keep/` shows it again). "
        "Facts the cat learned from the earlier text are superseded.",
    )


class ChatResultSerializer(serializers.Serializer):
    """The JSON answer: the saved message and the cat's reply (WebSocket message shapes)."""

    message = serializers.DictField(help_text="Your message, as saved (`chat.accepted`).")
    reply = serializers.DictField(
        allow_null=True, help_text="The cat's reply (`chat.done`), with `usage` and `mood`."
    )


class ChatFailureSerializer(ChatResultSerializer):
    detail = serializers.CharField()
    code = serializers.CharField(help_text="`rate_limited`, `llm_unavailable`, `llm_timeout`...")


CHAT_EXAMPLE = OpenApiExample(
    "A message to Whiskers",
    value={"cat": 1, "message": "I had sushi for lunch!", "client_id": str(uuid.UUID(int=7))},
    request_only=True,
)
SSE_EXAMPLE = (
    'event: accepted\ndata: {"type":"chat.accepted",...}\n\n'
    'event: started\ndata: {"type":"chat.started",...}\n\n'
    'event: delta\ndata: {"type":"chat.delta","seq":1,"text":"Mrrp, ",...}\n\n'
    'event: done\ndata: {"type":"chat.done","message":{...}}\n\n'
)


class ChatView(APIView):
    # No DRF throttle: the turn counts the message against the same per-user budget as a tab's
    # (CHAT_MESSAGES_PER_MINUTE), so REST and WebSocket together get one.
    renderer_classes = [JSONRenderer, EventStreamRenderer]

    @extend_schema(
        tags=["chat"],
        summary="Say something to your cat and get its reply",
        description=(
            "Saves the message, then answers with the whole reply as JSON, or, with "
            "`Accept: text/event-stream`, streams the WebSocket's frames as Server-Sent Events "
            "(`accepted`, `started`, `delta`..., `error`, `done`).\n\n" + SSE_EXAMPLE
        ),
        request=ChatRequestSerializer,
        responses={
            200: OpenApiResponse(ChatResultSerializer, description="The reply, complete."),
            (200, "text/event-stream"): OpenApiResponse(
                # One Server-Sent Event (as clients and schemathesis read the stream): its name
                # and its data, the frame's JSON.
                {
                    "type": "object",
                    "properties": {
                        "event": {"type": "string", "description": "accepted, delta, done..."},
                        "data": {"type": "string", "description": "The frame, as JSON."},
                    },
                    "required": ["data"],
                },
                description="The turn's frames as Server-Sent Events.",
            ),
            400: OpenApiResponse(description="Field errors, or an empty message."),
            404: OpenApiResponse(description="No such cat or conversation of yours."),
            409: OpenApiResponse(description="The cat is still answering there (`busy`)."),
            429: OpenApiResponse(description="Too many messages: see `Retry-After`."),
            502: OpenApiResponse(ChatFailureSerializer, description="The model failed."),
            503: OpenApiResponse(ChatFailureSerializer, description="The model is rate limited."),
            504: OpenApiResponse(ChatFailureSerializer, description="The model took too long."),
        },
        examples=[
            CHAT_EXAMPLE,
            OpenApiExample(
                "The reply",
                value={
                    "message": {"id": 41, "role": "user", "text": "I had sushi for lunch!"},
                    "reply": {
                        "id": 42,
                        "role": "cat",
                        "text": "Sushi! *sniffs*",
                        "mood": "playful",
                    },
                },
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request) -> HttpResponseBase:
        user = _user(request)
        incoming = ChatRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        cat = access_cat(user, data["cat"]) if "cat" in data else _first_cat(user)
        try:
            # The one turn (the tab's too): budget, busy, save, `chat.accepted`, the reply.
            turn = chat.follow_turn(
                cat=cat,
                user_id=user.pk,
                text=services.clean_text(data["message"]),
                client_id=data.get("client_id") or uuid.uuid4(),
                conversation_id=data.get("conversation"),
                edit_of=data.get("edit_of"),
            )
            if isinstance(request.accepted_renderer, EventStreamRenderer):
                first = async_to_sync(_first)(turn)  # refusals are raised here, before a byte
                return StreamingHttpResponse(
                    _events(first, turn),
                    content_type="text/event-stream; charset=utf-8",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
                )
            return _answer(async_to_sync(_collect)(turn))
        except services.ChatInputError as exc:
            raise ChatRefused(exc) from exc

    def handle_exception(self, exc: Exception) -> Response:
        # An error before the stream starts is an ordinary JSON error with its status.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


async def _first(turn: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    return await anext(turn)


async def _events(
    first: dict[str, Any], turn: AsyncIterator[dict[str, Any]]
) -> AsyncIterator[bytes]:
    yield _event(first)
    async for frame in turn:
        yield _event(frame)


def _event(frame: dict[str, Any]) -> bytes:
    event = SSE_EVENTS.get(frame["type"])
    if event is None:
        return b": keepalive\n\n"  # a comment: keeps proxies from closing an idle stream
    data = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {data}\n\n".encode()


async def _collect(turn: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame async for frame in turn if frame["type"] in SSE_EVENTS]


def _answer(frames: list[dict[str, Any]]) -> Response:
    message = frames[0]["message"]
    done = next((f["message"] for f in frames if f["type"] == "chat.done"), None)
    failure = next((f for f in frames if f["type"] == "error"), None)
    if failure is None and done is not None and done["status"] in ("complete", "stopped"):
        return Response({"message": message, "reply": done})
    code = failure["code"] if failure else ((done or {}).get("error") or {}).get("code", "")
    detail = failure["detail"] if failure else chat.friendly_error(code)
    response = Response(
        {"detail": detail, "code": code, "message": message, "reply": done},
        status=FAILURE_STATUS.get(code, status.HTTP_502_BAD_GATEWAY),
    )
    if failure and failure.get("retry_after") is not None:
        response["Retry-After"] = str(failure["retry_after"])
    return response


def _first_cat(user: User) -> Cat:
    cat_id = cats_for(user).order_by("created_at", "id").values_list("pk", flat=True).first()
    if cat_id is None:
        raise Http404("You have no cat yet: adopt one first.")
    return access_cat(user, cat_id)


class FirstCatStateView(APIView):
    """`GET /api/cat/state`: the first design's route, the state of the caller's first cat."""

    @extend_schema(
        tags=["cats"],
        summary="State of your first cat (alias of cats/{id}/state/)",
        deprecated=True,
        responses={200: CatStateSerializer, 404: OpenApiResponse(description="No cat yet.")},
        examples=[
            OpenApiExample(
                "A hungry cat",
                value={
                    "hunger": 82,
                    "energy": 64,
                    "affection": 55,
                    "fun": 40,
                    "mood": "hungry",
                    "asleep": False,
                    "asleep_until": None,
                    "needs": ["hunger"],
                    "updated_at": "2026-11-23T12:00:00Z",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(CatStateSerializer(cat_state(_first_cat(_user(request)))).data)
