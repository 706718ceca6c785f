"""The chat socket, `/ws/cats/<cat_id>/`: thin, it parses frames and calls services.

The reply itself runs in `cats.chat` (not in this consumer), so closing the tab does not end it;
this consumer only relays the frames of its (user, cat) group.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import deque
from functools import cached_property
from typing import Any

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError

from catchat import realtime
from catchat.llm import llm_mode
from catchat.realtime import group_name
from cats import chat, frames, services
from cats.models import Cat, Message
from cats.selectors import find_cat, find_conversation
from memories import learning

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_MANY_SOCKETS = 4429  # over settings.WEBSOCKETS_PER_USER

# Frames longer than this are refused unread. The longest chat message (4,000 characters, each
# one even escaped as a \uXXXX\uXXXX pair) fits in it; daphne's own limit closes the socket.
MAX_FRAME_CHARS = 64 * 1024
# A client that breaks the protocol this often within a minute is broken or hostile: after an
# `error` frame saying so it is closed with 1008. Errors a person can fix (too_long, busy...)
# do not count.
BAD_FRAMES_PER_MINUTE = 10
PROTOCOL_ERRORS = frozenset({"bad_frame", "frame_too_large"})


class CatConsumer(AsyncWebsocketConsumer):
    """One open tab. Thousands sit idle at once, so an idle one is kept small: no channel of its
    own on the channel layer (its group's frames come through `catchat.realtime`, one channel per
    process), no receive task besides its socket's, state created only when first needed."""

    cat: Cat | None = None
    group: str | None = None
    groups: tuple[str, ...] = ()  # channels' automatic groups: none (and no list per socket)
    _closing = False
    _counted_user: int | None = None  # whose open sockets count this one (realtime.socket_open)
    _user_group: str | None = None
    # Group frames that arrived between joining the group and sending `hello` (sent after it).
    _early: list[dict[str, Any]] | None = None

    @cached_property
    def _bad_frames(self) -> deque[float]:
        """Monotonic times of the last minute's protocol errors (made on the first one)."""
        return deque()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """channels' AsyncConsumer.__call__ without a channel of the layer: only the socket's
        events are awaited (one at a time, by `dispatch` as channels does), with no extra task."""
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            await self._leave_group()  # also when the consumer failed or was cancelled

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse("unauthenticated", "Log in first.", CLOSE_UNAUTHENTICATED)
            return
        # Counted before any query: a flood of sockets costs the database nothing.
        limit = settings.WEBSOCKETS_PER_USER
        if not await realtime.socket_open(user.pk, limit):
            await self._refuse(
                "too_many_sockets",
                f"At most {limit} connections may be open at once: close another tab first.",
                CLOSE_TOO_MANY_SOCKETS,
            )
            return
        self._counted_user = user.pk
        cat_id = self.scope["url_route"]["kwargs"]["cat_id"]
        cat = await database_sync_to_async(find_cat)(user, cat_id)
        if cat is None:
            await self._refuse("not_found", "No such cat.", CLOSE_NOT_FOUND)
            return
        self.cat = cat
        self.group = group_name(user.pk, cat.pk)
        # Join before taking the snapshot: a delta sent in between is then both in the snapshot
        # and in the group, and the client drops it by its seq. Frames of the group wait in
        # `_early` until the hello is sent.
        self._early = []
        # The account's group too: deleting the account closes this socket (4401) everywhere.
        self._user_group = realtime.user_group(user.pk)
        await realtime.join(self._user_group, self._on_account_event)
        await realtime.join(self.group, self._relay)
        await self.accept()
        if settings.CHAT_SWEEP:
            chat.start_sweeper()  # replies left streaming by a process that died
        hello: frames.Hello = {
            "type": "hello",
            "cat": frames.cat_payload(cat),
            "state": await database_sync_to_async(services.cat_state)(cat),
            "llm": llm_mode(),
            "in_flight": await chat.in_flight(cat),  # any process's, after joining the group
        }
        await self._send(hello)
        while self._early:  # in order, also what arrives meanwhile
            event = self._early.pop(0)
            if event.get("type") == "user.close":
                self._early = None
                await self._on_account_event(event)
                return
            await self.cat_frame(event)
        self._early = None

    async def _relay(self, event: dict[str, Any]) -> None:
        """A message of this tab's group, from `catchat.realtime`."""
        if self._early is not None:
            self._early.append(event)
        else:
            await self.cat_frame(event)

    async def _refuse(self, code: frames.ErrorCode, detail: str, close_code: int) -> None:
        await self.accept()
        await self._send(frames.error(code, detail))
        await self.close(code=close_code)

    async def disconnect(self, code: int) -> None:
        await self._leave_group()

    async def _leave_group(self) -> None:
        """Leave the groups and give back this socket's place among its user's open sockets.
        Safe to call twice."""
        if self.group is not None:
            await realtime.leave(self.group, self._relay)
        if self._user_group is not None:
            await realtime.leave(self._user_group, self._on_account_event)
        if self._counted_user is not None:
            user_id, self._counted_user = self._counted_user, None
            await realtime.socket_closed(user_id)

    async def _on_account_event(self, event: dict[str, Any]) -> None:
        """A message of the account's group (`realtime.close_user_sockets_on_commit`): say why,
        then close with the code it carries."""
        if event.get("type") != "user.close" or self._closing:
            return
        if self._early is not None:  # still connecting: after the hello
            self._early.append(event)
            return
        self._closing = True
        await self._send(event["frame"])
        await self.close(code=event["code"])

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        """A frame, as channels handles it; but when its handler finds the account or the cat
        gone (deleted while this socket was open), the socket is told so and closed (4401,
        4404) instead of failing."""
        try:
            await super().websocket_receive(message)
        except (ObjectDoesNotExist, IntegrityError):
            if not await self._close_if_gone():
                raise

    async def _close_if_gone(self) -> bool:
        """Close the socket if its user or its cat no longer exists; True if it did."""
        gone = await database_sync_to_async(self._what_is_gone)()
        if gone is None:
            return False
        self._closing = True
        if gone == "user":
            await self._send(frames.error("unauthenticated", "This account no longer exists."))
            await self.close(code=CLOSE_UNAUTHENTICATED)
        else:
            await self._send(frames.error("not_found", "This cat no longer exists."))
            await self.close(code=CLOSE_NOT_FOUND)
        return True

    def _what_is_gone(self) -> str | None:
        user = self.scope["user"]
        if not type(user).objects.filter(pk=user.pk, is_active=True).exists():
            return "user"
        if self.cat is None or not Cat.objects.filter(pk=self.cat.pk).exists():
            return "cat"
        return None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.cat is None or self._closing:
            return
        raw = text_data if text_data is not None else (bytes_data or b"")
        if len(raw) > MAX_FRAME_CHARS:
            await self._reject(
                "frame_too_large",
                f"That frame is {len(raw) // 1024} KiB; frames are at most "
                f"{MAX_FRAME_CHARS // 1024} KiB.",
            )
            return
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: [[[[... nested too deep
            await self._reject("bad_frame", "Frames must be JSON objects.")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._reject("bad_frame", "Frames are JSON objects with a `type`.")
            return
        handler = self._handlers.get(frame["type"])
        if handler is None:
            # repr() escapes what could not be sent back as UTF-8 (a lone surrogate).
            await self._reject("bad_frame", f"Unknown frame type {frame['type'][:40]!r}.")
            return
        problem = frames.client_problem(frame)  # the fields its TypedDict in frames says
        if problem is not None:
            await self._reject("bad_frame", problem, **_echo(frame))
            return
        try:
            await handler(self, frame)
        except services.ChatInputError as exc:
            await self._reject(exc.code, exc.detail, **_echo(frame))  # type: ignore[arg-type]

    async def _reject(self, code: frames.ErrorCode, detail: str, **extra: Any) -> None:
        """Answer a frame with `error`; the socket stays open unless the client keeps breaking
        the protocol (BAD_FRAMES_PER_MINUTE), then it is told why and closed with 1008."""
        await self._send(frames.error(code, detail, **extra))
        if code not in PROTOCOL_ERRORS:
            return
        now = time.monotonic()
        self._bad_frames.append(now)
        while self._bad_frames[0] <= now - 60:
            self._bad_frames.popleft()
        if len(self._bad_frames) >= BAD_FRAMES_PER_MINUTE:
            self._closing = True
            await self._send(
                frames.error(
                    "too_many_errors",
                    f"{len(self._bad_frames)} bad frames within a minute: closing the connection.",
                )
            )
            await self.close(code=CLOSE_POLICY_VIOLATION)

    async def on_send(self, frame: dict[str, Any]) -> None:
        received_at = time.monotonic()
        assert self.cat is not None  # noqa: S101
        text = services.clean_text(frame.get("text"))
        client_id = _uuid(frame.get("client_id"))
        try:
            # The one turn (REST's too): every tab hears `chat.accepted`, then the reply.
            await chat.take_turn(
                cat=self.cat,
                user_id=self.scope["user"].pk,
                text=text,
                client_id=client_id,
                conversation_id=_optional_id(frame.get("conversation")),
                received_at=received_at,
                edit_of=frame.get("edit_of"),  # an id or null (frames.client_problem)
            )
        except chat.RateLimited as exc:
            await self._reject(
                "rate_limited", exc.detail, retry_after=exc.retry_after, client_id=str(client_id)
            )

    async def on_stop(self, frame: dict[str, Any]) -> None:
        assert self.cat is not None  # noqa: S101
        conversation_id = _optional_id(frame.get("conversation"))
        # Stopping what already ended is not an error: the two may cross on the wire.
        if conversation_id is None or chat.request_stop(
            cat=self.cat, conversation_id=conversation_id
        ):
            return
        # Not streaming in this process: maybe in another one. Only for a conversation of ours.
        if await database_sync_to_async(find_conversation)(self.cat, conversation_id):
            await chat.stop_anywhere(cat=self.cat, conversation_id=conversation_id)

    async def on_regenerate(self, frame: dict[str, Any]) -> None:
        assert self.cat is not None  # noqa: S101
        user_message = await database_sync_to_async(services.regenerate_target)(
            cat=self.cat, conversation_id=frame.get("conversation")
        )
        chat.start_reply(cat=self.cat, user_message=user_message)

    async def on_keep(self, frame: dict[str, Any]) -> None:
        assert self.cat is not None  # noqa: S101
        # Every tab, this one included, hears `chat.kept` once the change has committed.
        kept = await database_sync_to_async(services.reply_keep)(
            cat=self.cat, message_id=frame.get("message_id"), busy=chat.is_busy
        )
        if kept.role == Message.Role.USER:
            learning.kick()  # a version shown again is learned from again

    async def on_action(self, frame: dict[str, Any]) -> None:
        assert self.cat is not None  # noqa: S101
        action = frame["action"]  # one of frames.CatAction's (frames.client_problem)
        # The outcome (accepted or refused, with the cat's words) reaches every tab, this one
        # included, as `cat.state` once the change has committed.
        await database_sync_to_async(services.cat_act)(
            cat=self.cat, actor=self.scope["user"], action=action
        )

    async def on_ping(self, frame: dict[str, Any]) -> None:
        await self._send({"type": "pong"})

    _handlers = {
        "chat.send": on_send,
        "chat.stop": on_stop,
        "chat.regenerate": on_regenerate,
        "chat.keep": on_keep,
        "cat.action": on_action,
        "ping": on_ping,
    }

    @property
    def _group(self) -> str:
        assert self.group is not None  # noqa: S101
        return self.group

    async def cat_frame(self, event: dict[str, Any]) -> None:
        """A frame for every tab of this (user, cat), from `cats.chat.send_to_group`."""
        await self._send(event["frame"])

    async def _send(self, frame: Any) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))


def _echo(frame: dict[str, Any]) -> dict[str, str]:
    """The frame's client_id for its error, when it is one (so the client can match them);
    nothing else of the frame is sent back."""
    value = frame.get("client_id")
    if not isinstance(value, str):
        return {}
    try:
        return {"client_id": str(uuid.UUID(value))}
    except ValueError:
        return {}


def _uuid(value: object) -> uuid.UUID:
    if not isinstance(value, str):
        raise services.ChatInputError("bad_frame", "`client_id` must be a UUID string.")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise services.ChatInputError("bad_frame", "`client_id` must be a UUID string.") from None


def _optional_id(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise services.ChatInputError("bad_frame", "`conversation` must be an id or null.")
    return value
