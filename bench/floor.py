"""The floor `bench.chat` measures the product against: a bare Channels consumer at
`/ws/bench/floor/` doing only the essential work of a chat turn, on the same server, auth stack
and database as the product.

On `{"type": "chat.send", "text", "client_id"}`: one INSERT of the user's message, `chat.accepted`,
FLOOR_TOKENS `chat.delta` frames (seq 1..FLOOR_TOKENS) sent straight to this socket (no channel
layer, no model, no recall), one INSERT of the reply, `chat.done`. Whatever the product does
beyond this is its overhead.

The route is always mounted (catchat.routing) but the consumer refuses (close 4404) unless
`settings.BENCH_FLOOR` is true, which only the server `bench.chat` starts sets: the decision is
made per connection, so tests can flip the setting.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from cats.models import Cat, Conversation, Message

FLOOR_TOKENS = 50
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


def floor_tokens() -> list[str]:
    """The reply's tokens: the same as bench.fake_server streams for the product."""
    return [f"w{i} " for i in range(FLOOR_TOKENS)]


def _conversation_for(user: Any) -> int | None:
    """A new conversation with the user's first cat (one per connection), or None."""
    cat = Cat.objects.filter(owner=user).order_by("pk").first()
    if cat is None:
        return None
    return Conversation.objects.create(cat=cat, title="bench floor").pk


def _save(**fields: Any) -> int:
    """One INSERT."""
    return Message.objects.create(**fields).pk


class FloorConsumer(AsyncWebsocketConsumer):
    conversation_id: int | None = None

    async def connect(self) -> None:
        if not settings.BENCH_FLOOR:
            await self._refuse("not_found", "No such socket.", CLOSE_NOT_FOUND)
            return
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse("unauthenticated", "Log in first.", CLOSE_UNAUTHENTICATED)
            return
        self.conversation_id = await database_sync_to_async(_conversation_for)(user)
        if self.conversation_id is None:
            await self._refuse("not_found", "No cat to talk to.", CLOSE_NOT_FOUND)
            return
        await self.accept()
        await self._send({"type": "hello", "conversation": self.conversation_id})

    async def _refuse(self, code: str, detail: str, close_code: int) -> None:
        await self.accept()
        await self._send({"type": "error", "code": code, "detail": detail})
        await self.close(code=close_code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.conversation_id is None:
            return
        try:
            frame = json.loads(text_data or "")
            text = str(frame["text"])
            client_id = uuid.UUID(frame["client_id"])
            if frame.get("type") != "chat.send":
                raise ValueError(frame.get("type"))
        except (ValueError, KeyError, TypeError):
            await self._send({"type": "error", "code": "bad_frame", "detail": "chat.send only."})
            return
        conversation = self.conversation_id
        message_id = await database_sync_to_async(_save)(
            conversation_id=conversation, role=Message.Role.USER, text=text, client_id=client_id
        )
        await self._send(
            {
                "type": "chat.accepted",
                "client_id": str(client_id),
                "message": {"id": message_id, "conversation": conversation, "role": "user"},
            }
        )
        tokens = floor_tokens()
        for seq, token in enumerate(tokens, start=1):
            await self._send(
                {
                    "type": "chat.delta",
                    "message_id": None,  # the reply is saved once, at the end
                    "reply_to": message_id,
                    "conversation": conversation,
                    "seq": seq,
                    "text": token,
                }
            )
        reply_text = "".join(tokens)
        reply_id = await database_sync_to_async(_save)(
            conversation_id=conversation,
            role=Message.Role.CAT,
            text=reply_text,
            reply_to_id=message_id,
            stream_seq=len(tokens),
        )
        await self._send(
            {
                "type": "chat.done",
                "message": {
                    "id": reply_id,
                    "conversation": conversation,
                    "reply_to": message_id,
                    "role": "cat",
                    "status": "complete",
                    "text": reply_text,
                    "seq": len(tokens),
                },
            }
        )

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, ensure_ascii=False))
