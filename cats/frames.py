"""The WebSocket contract, written down once (PRODUCT.md, "WebSocket").

Client frames are validated against these shapes; server frames are built only through the
helpers below, and the tests assert frames against the same definitions.
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired, TypedDict

if TYPE_CHECKING:
    from cats.models import Cat, Message
    from memories.recall import Recalled

# --- client to server -----------------------------------------------------------------------
# `client_problem` checks a frame against these before its handler runs: each field's type, and
# what it means (the `Annotated` text) for the error's detail. Every int is an id (a positive
# bigint). Unknown fields are ignored; missing optional ones are the handler's business.

ConversationId = Annotated[int, "a conversation id"]
MessageId = Annotated[int, "a message id"]


class ChatSend(TypedDict):
    type: Literal["chat.send"]
    conversation: NotRequired[Annotated[int | None, "a conversation id or null"]]  # null: new
    text: str
    client_id: Annotated[str, "a UUID string"]
    # An edit: the new text is a new version of this user message (one shown in the
    # conversation); it and the turns after it are hidden, kept as the earlier branch.
    edit_of: NotRequired[MessageId | None]


class ChatStop(TypedDict):
    type: Literal["chat.stop"]
    conversation: NotRequired[ConversationId | None]
    message_id: NotRequired[MessageId | None]  # checked, not used yet


class ChatRegenerate(TypedDict):
    type: Literal["chat.regenerate"]
    conversation: NotRequired[ConversationId | None]
    message_id: NotRequired[MessageId | None]  # checked, not used yet


class ChatKeep(TypedDict):
    """Make this cat reply the kept one of its alternatives (the replies to one user message),
    or show this version of an edited user message, with the turns that followed it."""

    type: Literal["chat.keep"]
    message_id: NotRequired[MessageId | None]
    # The client's id for this request: an `error` answering it carries it back.
    client_id: NotRequired[Annotated[str, "a UUID string"]]


class CatAction(TypedDict):
    type: Literal["cat.action"]
    action: Literal["feed", "play", "pet", "sleep"]


class Ping(TypedDict):
    type: Literal["ping"]


CLIENT_FRAMES: tuple[type, ...] = (ChatSend, ChatStop, ChatRegenerate, ChatKeep, CatAction, Ping)

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
    # A user message's first version, when this one is an edit of it.
    edit_of: NotRequired[int | None]
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
    # An edit: the version it replaces, now hidden with every message after it (a tab shows
    # the new version in their place).
    replaces: NotRequired[int]


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


class Branched(TypedDict):
    """`chat.keep` of a version of an edited user message: `message_id` is shown now, with the
    turns that followed it, in place of the version shown before and its turns. The tabs on
    that conversation read it again."""

    type: Literal["chat.branched"]
    conversation: int
    message_id: int
    message: MessagePayload  # the version now shown


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
    """The cat's vitals and mood (`cats.services.cat_state`), after a change; `care` when the
    change was a care action (`cat.action` or REST), accepted or refused."""

    type: Literal["cat.state"]
    state: dict[str, Any]
    care: NotRequired[CareOutcome]


class MemoryChanged(TypedDict):
    """A memory of the cat was added, updated or removed (`memories.services`)."""

    type: Literal["memory.changed"]
    op: Literal["added", "updated", "removed"]
    memory: dict[str, Any]  # `memories.services.memory_payload`


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
    if message.role == "user":
        payload["edit_of"] = message.edit_of_id
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


# --- checking frames against the contract ---------------------------------------------------

MAX_ID = 2**63 - 1  # PostgreSQL bigint: a larger id is no id, not a database error

SERVER_FRAMES: tuple[type, ...] = (
    Hello,
    Accepted,
    Started,
    Delta,
    Done,
    Kept,
    Branched,
    Error,
    CatState,
    MemoryChanged,
    Pong,
)


def _fields(shape: type) -> dict[str, tuple[Any, bool]]:
    """A TypedDict's fields: name -> (type, required), from its hints (not `__required_keys__`,
    which Python 3.11 gets wrong under `from __future__ import annotations`)."""
    fields = {}
    for name, hint in typing.get_type_hints(shape, include_extras=True).items():
        required = True
        if typing.get_origin(hint) in (NotRequired, typing.Required):
            required = typing.get_origin(hint) is typing.Required
            hint = typing.get_args(hint)[0]
        fields[name] = (hint, required)
    return fields


def _by_type(shapes: tuple[type, ...]) -> dict[str, dict[str, tuple[Any, bool]]]:
    table = {}
    for shape in shapes:
        fields = _fields(shape)
        (kind,) = typing.get_args(fields["type"][0])
        table[kind] = fields
    return table


CLIENT_FIELDS = _by_type(CLIENT_FRAMES)
SERVER_FIELDS = _by_type(SERVER_FRAMES)
CLIENT_TYPES = tuple(CLIENT_FIELDS)


def _options(hint: Any) -> tuple[Any, ...]:
    """The types a value may have, `Annotated` and unions unwrapped."""
    if typing.get_origin(hint) is Annotated:
        return _options(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return tuple(o for option in typing.get_args(hint) for o in _options(option))
    return (hint,)


def _means(hint: Any) -> str:
    """What a client field must be, in words: its `Annotated` text, or said from its type."""
    if typing.get_origin(hint) is not Annotated and typing.get_origin(hint) in (
        typing.Union,
        types.UnionType,
    ):
        hint = next(o for o in typing.get_args(hint) if o is not type(None))
    if typing.get_origin(hint) is Annotated:
        return str(hint.__metadata__[0])
    for option in _options(hint):
        if typing.get_origin(option) is Literal:
            return "one of " + ", ".join(map(str, typing.get_args(option)))
    return "a string"


def _client_value_ok(value: object, hint: Any) -> bool:
    for option in _options(hint):
        if option is type(None):
            ok = value is None
        elif option is int:  # an id; type() excludes bool
            ok = type(value) is int and 0 < value <= MAX_ID
        elif option is str:
            ok = isinstance(value, str)
        elif typing.get_origin(option) is Literal:
            ok = isinstance(value, str) and value in typing.get_args(option)
        else:
            raise TypeError(f"client frames carry no {option!r}")
        if ok:
            return True
    return False


def client_problem(frame: dict[str, Any]) -> str | None:
    """What is wrong with the fields of a client frame of a known `type`, or None."""
    for name, (hint, required) in CLIENT_FIELDS[frame["type"]].items():
        if name == "type":
            continue
        if name not in frame:
            if required:
                return f"`{name}` is required: {_means(hint)}."
            continue
        if not _client_value_ok(frame[name], hint):
            return f"`{name}` must be {_means(hint)}."
    return None


def _value_problem(value: object, hint: Any, where: str) -> str | None:
    """What is wrong with a server frame's value for its type, or None (types only checked as
    deep as the contract says: `dict[str, Any]` holds anything)."""
    if hint is Any:
        return None
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _value_problem(value, typing.get_args(hint)[0], where)
    if origin in (typing.Union, types.UnionType):
        problems = [_value_problem(value, option, where) for option in typing.get_args(hint)]
        return None if None in problems else " or ".join(p for p in problems if p)
    if origin is Literal:
        ok = value in typing.get_args(hint)
        return None if ok else f"{where} is {value!r}, not one of {typing.get_args(hint)}"
    if hint is type(None):
        return None if value is None else f"{where} is {value!r}, not null"
    if typing.is_typeddict(hint):
        return _shape_problem(value, _fields(hint), where)
    if origin is list:
        if not isinstance(value, list):
            return f"{where} is {type(value).__name__}, not a list"
        (item,) = typing.get_args(hint)
        for i, each in enumerate(value):
            if problem := _value_problem(each, item, f"{where}[{i}]"):
                return problem
        return None
    if origin is dict:
        if not isinstance(value, dict):
            return f"{where} is {type(value).__name__}, not an object"
        _, item = typing.get_args(hint)
        for key, each in value.items():
            if problem := _value_problem(each, item, f"{where}.{key}"):
                return problem
        return None
    if hint is int:
        ok = type(value) is int
    elif hint is bool or hint is str:
        ok = type(value) is hint
    else:
        raise TypeError(f"server frames carry no {hint!r}")
    return None if ok else f"{where} is {type(value).__name__}, not {hint.__name__}"


def _shape_problem(value: object, fields: dict[str, tuple[Any, bool]], where: str) -> str | None:
    if not isinstance(value, dict):
        return f"{where} is {type(value).__name__}, not an object"
    if unknown := sorted(set(value) - set(fields)):
        return f"{where} has unknown keys {unknown}"
    for name, (hint, required) in fields.items():
        if name not in value:
            if required:
                return f"{where} has no `{name}`"
            continue
        if problem := _value_problem(value[name], hint, f"{where}.{name}"):
            return problem
    return None


def server_problem(frame: object) -> str | None:
    """What makes a frame the server sent break the contract (its `type`'s TypedDict), or None."""
    kind = frame.get("type") if isinstance(frame, dict) else None
    if not isinstance(kind, str) or kind not in SERVER_FIELDS:
        return f"a frame of no known server type: {frame!r}"[:300]
    return _shape_problem(frame, SERVER_FIELDS[kind], kind)
