"""The chat socket, `/ws/cats/<cat_id>/`: thin, it parses frames and calls services.

The reply itself runs in `cats.chat` (not in this consumer), so closing the tab does not end it;
this consumer only relays the frames of its (user, cat) group.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from catchat.llm import llm_mode
from catchat.realtime import group_name, send_to_group
from cats import chat, frames, services
from cats.models import Cat
from cats.selectors import find_cat
from cats.vitals import ACTIONS

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class CatConsumer(AsyncWebsocketConsumer):
    cat: Cat | None = None
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse("unauthenticated", "Log in first.", CLOSE_UNAUTHENTICATED)
            return
        cat_id = self.scope["url_route"]["kwargs"]["cat_id"]
        cat = await database_sync_to_async(find_cat)(user, cat_id)
        if cat is None:
            await self._refuse("not_found", "No such cat.", CLOSE_NOT_FOUND)
            return
        self.cat = cat
        self.group = group_name(user.pk, cat.pk)
        # Join before taking the snapshot: a delta sent in between is then both in the snapshot
        # and in the group, and the client drops it by its seq.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        hello: frames.Hello = {
            "type": "hello",
            "cat": frames.cat_payload(cat),
            "state": await database_sync_to_async(services.cat_state)(cat),
            "llm": llm_mode(),
            "in_flight": chat.in_flight(cat),
        }
        await self._send(hello)

    async def _refuse(self, code: frames.ErrorCode, detail: str, close_code: int) -> None:
        await self.accept()
        await self._send(frames.error(code, detail))
        await self.close(code=close_code)

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.cat is None:
            return
        try:
            frame = json.loads(text_data if text_data is not None else (bytes_data or b""))
        except (ValueError, UnicodeDecodeError):
            await self._send(frames.error("bad_frame", "Frames must be JSON objects."))
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            await self._send(frames.error("bad_frame", "Frames are JSON objects with a `type`."))
            return
        handler = self._handlers.get(frame["type"])
        if handler is None:
            await self._send(frames.error("bad_frame", f"Unknown frame type {frame['type']!r}."))
            return
        try:
            await handler(self, frame)
        except services.ChatInputError as exc:
            extra = {"client_id": frame["client_id"]} if _is_str(frame.get("client_id")) else {}
            await self._send(frames.error(exc.code, exc.detail, **extra))  # type: ignore[arg-type]

    async def on_send(self, frame: dict[str, Any]) -> None:
        received_at = time.monotonic()
        assert self.cat is not None  # noqa: S101
        text = services.clean_text(frame.get("text"))
        client_id = _uuid(frame.get("client_id"))
        conversation_id = _optional_id(frame.get("conversation"))
        accepted = await database_sync_to_async(services.message_accept)(
            cat=self.cat,
            text=text,
            client_id=client_id,
            conversation_id=conversation_id,
            busy=chat.is_busy(conversation_id),
        )
        await send_to_group(
            self._group,
            {
                "type": "chat.accepted",
                "client_id": str(client_id),
                "message": frames.message_payload(accepted.message),
            },
        )
        if accepted.needs_reply:
            chat.start_reply(cat=self.cat, user_message=accepted.message, received_at=received_at)

    async def on_stop(self, frame: dict[str, Any]) -> None:
        assert self.cat is not None  # noqa: S101
        conversation_id = _optional_id(frame.get("conversation"))
        if conversation_id is not None:
            # Stopping what already ended is not an error: the two may cross on the wire.
            chat.request_stop(cat=self.cat, conversation_id=conversation_id)

    async def on_regenerate(self, frame: dict[str, Any]) -> None:
        assert self.cat is not None  # noqa: S101
        user_message = await database_sync_to_async(services.regenerate_target)(
            cat=self.cat, conversation_id=frame.get("conversation")
        )
        chat.start_reply(cat=self.cat, user_message=user_message)

    async def on_action(self, frame: dict[str, Any]) -> None:
        assert self.cat is not None  # noqa: S101
        action = frame.get("action")
        if not isinstance(action, str) or action not in ACTIONS:
            raise services.ChatInputError(
                "bad_frame", f"`action` must be one of {', '.join(ACTIONS)}."
            )
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


def _is_str(value: object) -> bool:
    return isinstance(value, str)


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
