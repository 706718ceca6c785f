"""The socket's edges (issue 14) on real daphne processes: the close code after ten bad frames as
a real server sends it, and, on two processes sharing Redis, the cap on a user's open sockets and
the closing of a deleted account's sockets everywhere.

Servers are forked from this test process (catchat.testing.live) and stopped by their pid.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator

import pytest
from asgiref.sync import sync_to_async
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework_simplejwt.tokens import AccessToken
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from accounts.models import User
from accounts.services import user_delete
from catchat.testing.live import LiveServer, live_servers, redis_channel_layer
from cats.models import Cat
from cats.tests.factories import CatFactory

REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="needs Redis: set REDIS_URL (the two processes share it)"
)


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


@pytest.fixture
def served(settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch) -> SettingsWrapper:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync fixtures in async tests
    return settings


@pytest.fixture
def server(served: SettingsWrapper) -> Iterator[LiveServer]:
    live = LiveServer()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def two_servers(served: SettingsWrapper) -> Iterator[tuple[LiveServer, LiveServer]]:
    served.CHANNEL_LAYERS = redis_channel_layer(REDIS_URL)
    with live_servers(2) as (first, second):
        yield first, second


async def dial(server: LiveServer, user: User, cat: Cat) -> ClientConnection:
    token = await sync_to_async(AccessToken.for_user)(user)
    url = f"ws://127.0.0.1:{server.port}/ws/cats/{cat.pk}/"
    return await connect(url, additional_headers={"Authorization": f"Bearer {token}"})


async def open_tab(server: LiveServer, user: User, cat: Cat) -> ClientConnection:
    socket = await dial(server, user, cat)
    hello = json.loads(await socket.recv())
    assert hello["type"] == "hello", hello
    return socket


async def last_frames(socket: ClientConnection, timeout: float = 10) -> list[dict]:
    """Every frame until the server closes the socket."""
    seen = []
    async with asyncio.timeout(timeout):
        try:
            while True:
                seen.append(json.loads(await socket.recv()))
        except ConnectionClosed:
            return seen


async def test_ten_bad_frames_close_with_1008_on_a_real_server(
    server: LiveServer, alice: User, whiskers: Cat
) -> None:
    socket = await open_tab(server, alice, whiskers)
    for _ in range(10):
        await socket.send("this is not JSON")
    seen = await last_frames(socket)
    assert [f["code"] for f in seen] == ["bad_frame"] * 10 + ["too_many_errors"]
    # Before the fix daphne refused to send 1008 and closed with 1011 (internal error).
    assert socket.close_code == 1008


@needs_redis
async def test_the_socket_cap_counts_the_sockets_of_every_process(
    two_servers: tuple[LiveServer, LiveServer],
    served: SettingsWrapper,
    alice: User,
    whiskers: Cat,
) -> None:
    first, second = two_servers
    limit = served.WEBSOCKETS_PER_USER
    tabs = [await open_tab(first if i % 2 else second, alice, whiskers) for i in range(limit)]
    for place in (first, second):
        refused = await dial(place, alice, whiskers)
        seen = await last_frames(refused)
        assert [f["code"] for f in seen] == ["too_many_sockets"]
        assert refused.close_code == 4429
    await tabs.pop().close()  # on the first process: the second may open one again
    for _ in range(50):  # the server hears of the close a moment after the client
        await asyncio.sleep(0.05)
        again = await dial(second, alice, whiskers)
        frame = json.loads(await again.recv())
        if frame["type"] == "hello":
            break
        await again.close()
    assert frame["type"] == "hello", frame
    tabs.append(again)
    for tab in tabs:
        await tab.close()


@needs_redis
async def test_deleting_an_account_closes_its_sockets_on_every_process(
    two_servers: tuple[LiveServer, LiveServer], alice: User, whiskers: Cat
) -> None:
    first, second = two_servers
    here, there = await open_tab(first, alice, whiskers), await open_tab(second, alice, whiskers)
    await sync_to_async(user_delete)(user=alice)
    for socket in (here, there):
        seen = await last_frames(socket)
        assert [f["code"] for f in seen if f["type"] == "error"] == ["unauthenticated"]
        assert socket.close_code == 4401
