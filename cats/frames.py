"""The WebSocket contract, written down once (PRODUCT.md, "WebSocket").

Client frames are validated against these shapes; server frames are built only through the
helpers below, and the tests assert frames against the same definitions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, NotRequired, TypedDict

if TYPE_CHECKING:
    from cats.models import Cat, Message
    from memories.recall import Recalled

# --- client to server -----------------------------------------------------------------------


class ChatSend(TypedDict):
    type: Literal["chat.send"]
    conversation: int | None
    text: str
    client_id: str


class ChatStop(TypedDict):
    type: Literal["chat.stop"]
    conversation: int


class ChatRegenerate(TypedDict):
    type: Literal["chat.regenerate"]
    conversation: int


class ChatKeep(TypedDict):
    """Make this cat reply the kept one of its alternatives (the replies to one user message)."""

    type: Literal["chat.keep"]
    message_id: int


class Ping(TypedDict):
    type: Literal["ping"]


CLIENT_TYPES = ("chat.send", "chat.stop", "chat.regenerate", "chat.keep", "cat.action", "ping")

# --- server to client -----------------------------------------------------------------------


class MessagePayload(TypedDict):
    id: int
    conversation: int
    role: Literal["user", "cat"]
    text: str
    status: str
    created_at: str
    # Of the replies to one user message, the one shown and read back to the model (a user
    # message is always kept).
    kept: bool
    client_id: NotRequired[str | None]
    reply_to: NotRequired[int | None]
    model: NotRequired[str]
    usage: NotRequired[dict[str, int] | None]
    mood: NotRequired[str | None]
    memories_used: NotRequired[list[int]]
    episodes_used: NotRequired[list[int]]
    seq: NotRequired[int]
    error: NotRequired[dict[str, str] | None]


class Hello(TypedDict):
    type: Literal["hello"]
    cat: dict[str, Any]
    state: dict[str, Any]
    llm: Literal["mistral", "offline"]
    in_flight: list[MessagePayload]


class Accepted(TypedDict):
    type: Literal["chat.accepted"]
    client_id: str
    message: MessagePayload


class RememberedMemory(TypedDict):
    """One thing a reply was given: a fact (`id` a memory's) or an episode (`id` a message's,
    with `at`, when it was said, and `conversation`, where)."""

    kind: Literal["fact", "episode"]
    id: int
    text: str
    at: NotRequired[str]
    conversation: NotRequired[int | None]


class Started(TypedDict):
    type: Literal["chat.started"]
    message: MessagePayload
    # What `message.memories_used` and `episodes_used` are, in the prompt's order, for the
    # page's receipts.
    remembered: list[RememberedMemory]


class Delta(TypedDict):
    type: Literal["chat.delta"]
    message_id: int
    conversation: int
    seq: int
    text: str


class Done(TypedDict):
    type: Literal["chat.done"]
    message: MessagePayload


class Kept(TypedDict):
    """`chat.keep` done: `message_id` is now the kept reply to `reply_to`, to every tab."""

    type: Literal["chat.kept"]
    conversation: int
    reply_to: int
    message_id: int
    message: MessagePayload  # the kept reply, so a tab can show it without having seen it


class Error(TypedDict):
    type: Literal["error"]
    code: str
    detail: str
    retry_after: NotRequired[int]
    client_id: NotRequired[str]
    conversation: NotRequired[int]
    message_id: NotRequired[int]


class CareOutcome(TypedDict):
    action: str
    accepted: bool
    reason: str
    message: str


class CatState(TypedDict):
    type: Literal["cat.state"]
    state: dict[str, Any]
    care: NotRequired[CareOutcome]


class CatAction(TypedDict):
    type: Literal["cat.action"]
    action: Literal["feed", "play", "pet", "sleep"]


class Pong(TypedDict):
    type: Literal["pong"]


ErrorCode = Literal[
    "unauthenticated",
    "not_found",
    "bad_frame",
    "frame_too_large",
    "too_many_errors",
    "too_long",
    "empty",
    "busy",
    "rate_limited",
    "llm_unavailable",
    "llm_auth",
    "llm_timeout",
    "llm_truncated",
    "conflict",
    "server_error",
    "too_many_sockets",
]


def error(code: ErrorCode, detail: str, **extra: Any) -> Error:
    frame: Error = {"type": "error", "code": code, "detail": detail}
    frame.update(extra)  # type: ignore[typeddict-item]
    return frame


def cat_payload(cat: Cat) -> dict[str, Any]:
    return {
        "id": cat.pk,
        "name": cat.name,
        "personality": cat.personality,
        "coat": cat.coat,
        "created_at": cat.created_at.isoformat(),
    }


def message_payload(message: Message, *, error_detail: str = "") -> MessagePayload:
    payload: MessagePayload = {
        "id": message.pk,
        "conversation": message.conversation_id,
        "role": message.role,  # type: ignore[typeddict-item]
        "text": message.text,
        "status": message.status,
        "created_at": message.created_at.isoformat(),
        "kept": message.kept,
        "client_id": str(message.client_id) if message.client_id else None,
        "reply_to": message.reply_to_id,
    }
    if message.role == "cat":
        payload["model"] = message.model
        payload["usage"] = message.usage
        payload["mood"] = message.mood or None
        payload["memories_used"] = list(message.memories_used)
        payload["episodes_used"] = list(message.episodes_used)
        payload["seq"] = message.stream_seq
        payload["error"] = (
            {"code": message.error_code, "detail": error_detail} if message.error_code else None
        )
    return payload


def remembered(item: Recalled) -> RememberedMemory:
    """A recalled fact or episode as a reply's receipt (`chat.started.remembered`)."""
    if item.kind == "episode":
        return {
            "kind": "episode",
            "id": item.id,
            "text": item.text,
            "at": item.at.isoformat(),
            "conversation": item.conversation,
        }
    return {"kind": "fact", "id": item.id, "text": item.text}
