"""What an open tab holds while idle (bench.capacity: 5,000 idle sockets in one process), and the
behaviour that had to survive slimming it: group frames through the process's one channel
(catchat.realtime), in order after `hello`, and the WebSocket auth layer's scope."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from catchat import realtime
from catchat.asgi import application
from catchat.ws_auth import websocket_stack
from cats import consumers
from cats.models import Cat
from cats.tests.factories import CatFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


@pytest.fixture
def in_memory_layer(settings: Any) -> Any:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


def bearer(user: Any) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {AccessToken.for_user(user)}".encode())


async def open_tab(user: Any, cat: Cat) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(application, f"/ws/cats/{cat.pk}/", headers=[bearer(user)])
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["type"] == "hello"
    return comm


async def test_tabs_share_the_process_channel_and_closing_the_last_leaves_the_group(
    alice: Any, whiskers: Cat, in_memory_layer: Any
) -> None:
    group = realtime.group_name(alice.pk, whiskers.pk)
    tabs = [await open_tab(alice, whiskers) for _ in range(3)]
    assert len(in_memory_layer.groups[group]) == 1  # the hub's channel, not one per tab
    await realtime.send_to_group(group, {"type": "cat.state", "state": {"hunger": 1}})
    for tab in tabs:
        assert await tab.receive_json_from() == {"type": "cat.state", "state": {"hunger": 1}}
    for tab in tabs:
        await tab.disconnect()
    assert group not in in_memory_layer.groups or not in_memory_layer.groups[group]
    assert group not in (await realtime._hub()).groups


async def test_group_frames_sent_before_the_hello_arrive_after_it_in_order(
    alice: Any, whiskers: Cat, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = realtime.group_name(alice.pk, whiskers.pk)
    cat_state = consumers.services.cat_state

    def state_while_frames_are_sent(cat: Cat) -> dict[str, Any]:
        # The tab is in the group by now, but has not sent its hello yet.
        for n in (1, 2):
            frame = {"type": "cat.state", "state": {"n": n}}
            async_to_sync(realtime.send_to_group)(group, frame)
        return cat_state(cat)

    monkeypatch.setattr(consumers.services, "cat_state", state_while_frames_are_sent)
    comm = WebsocketCommunicator(application, f"/ws/cats/{whiskers.pk}/", headers=[bearer(alice)])
    assert (await comm.connect())[0]
    kinds = [(await comm.receive_json_from()).get("state", {}).get("n", "hello") for _ in range(3)]
    assert kinds == ["hello", 1, 2]
    await comm.disconnect()


async def test_an_idle_tab_holds_no_channel_of_its_own(
    alice: Any, whiskers: Cat, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    original = consumers.CatConsumer.connect

    async def remember(self: consumers.CatConsumer) -> None:
        seen.append(self)
        await original(self)

    monkeypatch.setattr(consumers.CatConsumer, "connect", remember)
    comm = await open_tab(alice, whiskers)
    (tab,) = seen
    assert tab.channel_layer is None and not hasattr(tab, "channel_name")
    assert "_bad_frames" not in vars(tab)  # made on the first bad frame only
    assert "session" not in tab.scope and "cookies" not in tab.scope
    assert tab.scope["auth"] == "bearer" and tab.scope["user"].pk == alice.pk
    await comm.disconnect()


async def scope_for(*headers: tuple[bytes, bytes]) -> dict[str, Any] | None:
    """The scope WebSocketAuth hands on for these headers, or None when it refused."""
    handed: list[dict[str, Any]] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        handed.append(scope)
        await send({"type": "websocket.close"})

    comm = WebsocketCommunicator(websocket_stack(inner), "/ws/cats/1/", headers=list(headers))
    await comm.connect()
    return handed[0] if handed else None


@database_sync_to_async
def session_cookie(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def test_the_auth_layer_resolves_the_user_once_by_the_rules(alice: Any) -> None:
    cookie = await session_cookie(alice)
    scope = await scope_for(bearer(alice))
    assert scope is not None and scope["auth"] == "bearer" and scope["user"].pk == alice.pk
    scope = await scope_for((b"authorization", b"Bearer nope"))
    assert scope is not None and scope["auth"] == "bearer"
    assert not scope["user"].is_authenticated
    scope = await scope_for(ORIGIN, cookie)
    assert scope is not None and scope["auth"] == "session" and scope["user"].pk == alice.pk
    scope = await scope_for(cookie)  # a session without an Origin is not trusted
    assert scope is not None and scope["auth"] == "none"
    assert not scope["user"].is_authenticated
    scope = await scope_for(ORIGIN, (b"cookie", b"sessionid=forged"))
    assert scope is not None and not scope["user"].is_authenticated
    assert await scope_for((b"origin", b"https://evil.example"), bearer(alice)) is None
    for scope in [await scope_for(bearer(alice)), await scope_for(ORIGIN, cookie)]:
        assert scope is not None and "session" not in scope and "cookies" not in scope
