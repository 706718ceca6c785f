"""Real server processes: two daphne processes sharing a real Redis channel layer (a reply made
on one reaches a tab on the other, `chat.stop` crosses over, a process killed mid-reply leaves
an `interrupted` reply once its lease runs out), and a SIGTERM that lets replies finish within
the grace period and ends the rest as `interrupted`.

Clients are plain WebSocket clients (the `websockets` library) with a bearer token. The servers
are forked from this test process (catchat.testing.live), so they run with its settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework_simplejwt.tokens import AccessToken
from websockets.asyncio.client import ClientConnection, connect

from accounts.models import User
from catchat.testing.live import LiveServer
from cats.models import Cat, Message
from cats.tests.factories import CatFactory

REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="needs Redis: set REDIS_URL (CI does when Redis answers)"
)

# A long question, so the offline brain's reply takes a few seconds at this pace.
LONG = "Tell me everything about your day, your naps, your dreams and the birds outside?"


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


@pytest.fixture
def served(settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch) -> SettingsWrapper:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync fixtures in async tests
    settings.MISTRAL_API_KEY = ""  # the offline brain
    settings.OFFLINE_WORD_DELAY_MS = 120
    settings.CHAT_SWEEP = True
    settings.CHAT_REPLY_LEASE_S = 2
    return settings


@pytest.fixture
def two_servers(served: SettingsWrapper) -> Iterator[tuple[LiveServer, LiveServer]]:
    served.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "capacity": 1000,
                "prefix": f"catchat-test-{uuid.uuid4().hex[:8]}",  # this test's own keys
            },
        }
    }
    first = LiveServer()
    try:
        second = LiveServer()
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@asynccontextmanager
async def tab(server: LiveServer, user: User, cat: Cat) -> AsyncIterator[ClientConnection]:
    token = await sync_to_async(AccessToken.for_user)(user)
    url = f"ws://127.0.0.1:{server.port}/ws/cats/{cat.pk}/"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as socket:
        hello = json.loads(await socket.recv())
        assert hello["type"] == "hello", hello
        yield socket


async def until(
    socket: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> list[dict[str, Any]]:
    """Frames received up to and including the first for which `done` is true."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await socket.recv())
            seen.append(frame)
            if done(frame):
                return seen


def send(text: str, conversation: int | None = None) -> str:
    frame: dict[str, Any] = {"type": "chat.send", "text": text, "client_id": str(uuid.uuid4())}
    if conversation is not None:
        frame["conversation"] = conversation
    return json.dumps(frame)


def is_done(frame: dict[str, Any]) -> bool:
    return frame["type"] == "chat.done"


def is_delta(frame: dict[str, Any]) -> bool:
    return frame["type"] == "chat.delta"


def reply_of(user_message_text: str) -> Message:
    return Message.objects.get(reply_to__text=user_message_text, role=Message.Role.CAT)


@needs_redis
async def test_a_reply_made_on_one_process_reaches_a_tab_on_the_other(
    two_servers: tuple[LiveServer, LiveServer], alice: User, whiskers: Cat
) -> None:
    first, second = two_servers
    async with tab(first, alice, whiskers) as here, tab(second, alice, whiskers) as there:
        await here.send(send("Hello from the first process!"))
        seen = await until(there, is_done)

    kinds = [f["type"] for f in seen]
    assert kinds[0] == "chat.accepted" and "chat.started" in kinds and kinds[-1] == "chat.done"
    deltas = [f for f in seen if is_delta(f)]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1)), "no gap, no reorder"
    assert "".join(d["text"] for d in deltas) == seen[-1]["message"]["text"]
    saved = await sync_to_async(reply_of)("Hello from the first process!")
    assert saved.status == Message.Status.COMPLETE and saved.text == seen[-1]["message"]["text"]


@needs_redis
async def test_stop_on_one_process_stops_a_reply_made_on_the_other(
    two_servers: tuple[LiveServer, LiveServer], alice: User, whiskers: Cat
) -> None:
    first, second = two_servers
    async with tab(first, alice, whiskers) as here, tab(second, alice, whiskers) as there:
        await here.send(send(LONG))
        started = await until(there, is_delta)
        conversation = started[-1]["conversation"]
        await there.send(json.dumps({"type": "chat.stop", "conversation": conversation}))
        ended_there = (await until(there, is_done))[-1]
        ended_here = (await until(here, is_done))[-1]

    assert ended_there["message"]["status"] == ended_here["message"]["status"] == "stopped"
    saved = await sync_to_async(reply_of)(LONG)
    assert saved.status == Message.Status.STOPPED
    assert saved.text == ended_there["message"]["text"]


@needs_redis
async def test_a_process_killed_mid_reply_leaves_an_interrupted_reply_that_can_be_redone(
    two_servers: tuple[LiveServer, LiveServer], alice: User, whiskers: Cat
) -> None:
    first, second = two_servers
    async with tab(second, alice, whiskers) as there:
        async with tab(first, alice, whiskers) as here:
            await here.send(send(LONG))
            conversation = (await until(there, is_delta))[-1]["conversation"]
            first.kill()  # mid-reply: nothing of that process runs any more

        # The other process notices the lease ran out and tells the tab.
        ended = (await until(there, is_done, timeout=15))[-1]
        assert ended["message"]["status"] == "interrupted"
        saved = await sync_to_async(reply_of)(LONG)
        assert saved.status == Message.Status.INTERRUPTED
        assert saved.reply_to is not None  # the human's message is kept

        await there.send(json.dumps({"type": "chat.regenerate", "conversation": conversation}))
        redone = (await until(there, is_done))[-1]
        assert redone["message"]["status"] == "complete" and redone["message"]["text"]


# --- SIGTERM: one process, its own (in-memory) channel layer -----------------------------------


def _serve_with_graceful_sigterm(grace: int) -> None:
    """In the server process: what `catchat.serve` sets up for daphne (the replies' drain before
    Twisted's shutdown), and Twisted's own SIGTERM handling (DaphneProcess turns it off)."""
    from twisted.internet import reactor

    from catchat.serve import _drain_replies_before_shutdown

    _drain_replies_before_shutdown(grace)
    twisted: Any = reactor  # typed as an interface, which mypy reads without `self`
    signal.signal(signal.SIGTERM, lambda *_: twisted.callFromThread(twisted.stop))


@pytest.mark.parametrize(
    ("grace", "status"),
    [(30, Message.Status.COMPLETE), (0, Message.Status.INTERRUPTED)],
    ids=["finishes-within-grace", "interrupted-after-grace"],
)
async def test_sigterm_lets_replies_finish_within_the_grace_period(
    served: SettingsWrapper, alice: User, whiskers: Cat, grace: int, status: str
) -> None:
    server = LiveServer(setup=lambda: _serve_with_graceful_sigterm(grace))
    try:
        async with tab(server, alice, whiskers) as socket:
            await socket.send(send(LONG))
            await until(socket, is_delta)
            os.kill(server.process.pid or 0, signal.SIGTERM)
            await asyncio.to_thread(server.process.join, 40)
            assert not server.process.is_alive()
    finally:
        server.stop()

    saved = await sync_to_async(reply_of)(LONG)
    assert saved.status == status
    assert saved.text.strip(), "the text written so far is kept"
