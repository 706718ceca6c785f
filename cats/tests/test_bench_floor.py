"""The bench's floor socket (bench/floor.py): a bare turn, 2 INSERTs and 50 numbered deltas, and
refused unless settings.BENCH_FLOOR (it is routed in every deployment)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from bench.floor import FLOOR_TOKENS
from catchat.asgi import application
from cats.models import Message
from cats.tests.factories import CatFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def floor(user: Any) -> WebsocketCommunicator:
    token = AccessToken.for_user(user)
    return WebsocketCommunicator(
        application,
        "/ws/bench/floor/",
        headers=[(b"authorization", f"Bearer {token}".encode())],
    )


async def turn(comm: WebsocketCommunicator, text: str) -> list[dict[str, Any]]:
    await comm.send_json_to({"type": "chat.send", "text": text, "client_id": str(uuid.uuid4())})
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["type"] != "chat.done":
        frames.append(await _frame(comm, timeout=5))
    return frames


async def test_a_floor_turn_saves_two_messages_and_sends_50_numbered_deltas(
    alice: Any, settings: Any
) -> None:
    settings.BENCH_FLOOR = True
    await database_sync_to_async(CatFactory.create)(owner=alice)
    comm = floor(alice)
    connected, _ = await comm.connect()
    assert connected
    assert (await _frame(comm))["type"] == "hello"

    for text in ("first", "second"):
        frames = await turn(comm, text)
        kinds = [f["type"] for f in frames]
        assert kinds == ["chat.accepted"] + ["chat.delta"] * FLOOR_TOKENS + ["chat.done"]
        deltas = frames[1:-1]
        assert [d["seq"] for d in deltas] == list(range(1, FLOOR_TOKENS + 1))
        done = frames[-1]["message"]
        assert done["text"] == "".join(d["text"] for d in deltas)
        assert done["reply_to"] == frames[0]["message"]["id"]
    await comm.disconnect()

    saved = await database_sync_to_async(
        lambda: list(Message.objects.order_by("id").values_list("role", "text", "reply_to_id"))
    )()
    assert len(saved) == 4  # two per turn
    assert [(role, text) for role, text, _ in saved[::2]] == [("user", "first"), ("user", "second")]
    assert all(role == "cat" and reply_to is not None for role, _, reply_to in saved[1::2])


async def test_the_floor_refuses_unless_bench_floor_is_on(alice: Any, settings: Any) -> None:
    settings.BENCH_FLOOR = False
    await database_sync_to_async(CatFactory.create)(owner=alice)
    comm = floor(alice)
    connected, _ = await comm.connect()
    assert connected  # accepted only to say why, then closed
    assert (await _frame(comm))["code"] == "not_found"
    assert (await comm.receive_output())["code"] == 4404
    assert await database_sync_to_async(Message.objects.count)() == 0


async def _frame(comm: WebsocketCommunicator, timeout: float = 1) -> Any:
    """The floor's next frame, read raw: the floor is the bench's bare stand-in for a turn, not
    the product's WebSocket contract (which the suite checks every other frame against)."""
    return json.loads(await comm.receive_from(timeout))
