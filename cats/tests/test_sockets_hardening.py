"""The socket's edges (issue 14), on the real consumer: unknown paths, the Origin rule for the
session cookie, the cap on open sockets per user, and sockets whose account or cat is gone."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from accounts.services import user_delete
from catchat.asgi import application
from cats.models import Cat
from cats.tests.factories import CatFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


def bearer(user: User) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {AccessToken.for_user(user)}".encode())


@database_sync_to_async
def session_cookie(user: User) -> tuple[bytes, bytes]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def open_tab(user: User, cat: Cat) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(application, f"/ws/cats/{cat.pk}/", headers=[bearer(user)])
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["type"] == "hello"
    return comm


async def assert_closed_with(comm: WebsocketCommunicator, error: str, close_code: int) -> None:
    frame = await comm.receive_json_from(timeout=5)
    assert frame["type"] == "error" and frame["code"] == error, frame
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": close_code}


# --- 1. an unknown path ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws/nope/", "/ws/cats/abc/", "/", "/ws/cats/1/extra/"])
async def test_an_unknown_path_is_closed_with_4404_not_a_crash(alice: User, path: str) -> None:
    comm = WebsocketCommunicator(application, path, headers=[bearer(alice)])
    connected, _ = await comm.connect()  # before the fix: "No route found for path" raised here
    assert connected
    await assert_closed_with(comm, "not_found", 4404)
    await comm.wait(timeout=1)  # the application ends cleanly


# --- 2. the Origin of a session-cookie socket -----------------------------------------------------


def handshake(origin: str, host: str = "127.0.0.1:8000") -> list[tuple[bytes, bytes]]:
    return [(b"host", host.encode()), (b"origin", origin.encode())]


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://127.0.0.1:9999", "127.0.0.1:8000"),  # another port of an allowed host
        ("ftp://localhost", "localhost"),  # not a web page's scheme
        ("ftp://localhost:8000", "localhost:8000"),
        ("https://127.0.0.1:8000", "127.0.0.1:8000"),  # https page, plain ws socket
        ("http://localhost:8001", "localhost:8000"),
        ("null", "127.0.0.1:8000"),  # sandboxed frames, file:// pages
    ],
)
async def test_a_cookie_socket_from_another_origin_of_an_allowed_host_is_refused(
    alice: User, whiskers: Cat, origin: str, host: str
) -> None:
    headers = [*handshake(origin, host), await session_cookie(alice)]
    comm = WebsocketCommunicator(application, f"/ws/cats/{whiskers.pk}/", headers=headers)
    connected, _ = await comm.connect()
    assert not connected


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000"),
        ("http://localhost:8000", "localhost:8000"),
        ("http://localhost", "localhost"),
        ("http://[::1]:8000", "[::1]:8000"),
    ],
)
async def test_a_cookie_socket_from_the_same_origin_is_served(
    alice: User, whiskers: Cat, origin: str, host: str
) -> None:
    headers = [*handshake(origin, host), await session_cookie(alice)]
    comm = WebsocketCommunicator(application, f"/ws/cats/{whiskers.pk}/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["type"] == "hello"
    await comm.disconnect()


async def test_a_bearer_socket_keeps_its_origin_rule(alice: User, whiskers: Cat) -> None:
    # Bearer clients are not exposed to cross-site hijacking (a page cannot make the browser add
    # the token), so the port of an allowed host is not checked for them.
    headers = [*handshake("http://127.0.0.1:9999"), bearer(alice)]
    comm = WebsocketCommunicator(application, f"/ws/cats/{whiskers.pk}/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from())["type"] == "hello"
    await comm.disconnect()


# --- 4. the cap on open sockets -------------------------------------------------------------------


async def test_a_user_over_the_socket_cap_is_refused_until_one_closes(
    alice: User, bob: User, whiskers: Cat, settings: SettingsWrapper
) -> None:
    settings.WEBSOCKETS_PER_USER = 3
    tabs = [await open_tab(alice, whiskers) for _ in range(3)]
    extra = WebsocketCommunicator(application, f"/ws/cats/{whiskers.pk}/", headers=[bearer(alice)])
    assert (await extra.connect())[0]
    frame = await extra.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "too_many_sockets", frame
    assert "3" in frame["detail"]
    assert await extra.receive_output() == {"type": "websocket.close", "code": 4429}
    await extra.disconnect()
    # Someone else is not affected.
    bobs = await database_sync_to_async(CatFactory.create)(owner=bob)
    await (await open_tab(bob, bobs)).disconnect()
    # A closed tab frees its place (also a refused one took none).
    await tabs.pop().disconnect()
    tabs.append(await open_tab(alice, whiskers))
    for tab in tabs:
        await tab.disconnect()
    for _ in range(3):
        await (await open_tab(alice, whiskers)).disconnect()


# --- 5. an account or cat that is gone ------------------------------------------------------------


async def test_deleting_the_account_closes_its_open_sockets_with_4401(
    alice: User, whiskers: Cat
) -> None:
    first, second = await open_tab(alice, whiskers), await open_tab(alice, whiskers)
    await database_sync_to_async(user_delete)(user=alice)
    for tab in (first, second):
        await assert_closed_with(tab, "unauthenticated", 4401)
        await tab.disconnect()


async def test_an_action_after_the_account_is_gone_closes_with_4401_not_a_crash(
    alice: User, whiskers: Cat
) -> None:
    tab = await open_tab(alice, whiskers)
    # Gone without the service's notice (as after a lost message): the next frame finds out.
    await database_sync_to_async(User.objects.filter(pk=alice.pk).delete)()
    await tab.send_json_to({"type": "cat.action", "action": "feed"})
    await assert_closed_with(tab, "unauthenticated", 4401)
    await tab.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "cat.action", "action": "pet"},
        {"type": "chat.send", "text": "Are you there?", "client_id": str(uuid.uuid4())},
    ],
    ids=["cat.action", "chat.send"],
)
async def test_a_frame_for_a_cat_that_is_gone_closes_with_4404_not_a_crash(
    alice: User, whiskers: Cat, frame: dict
) -> None:
    tab = await open_tab(alice, whiskers)
    await database_sync_to_async(Cat.objects.filter(pk=whiskers.pk).delete)()
    await tab.send_json_to(frame)
    await assert_closed_with(tab, "not_found", 4404)
    await tab.disconnect()


async def test_a_socket_of_a_deleted_account_that_closed_first_leaves_nothing_behind(
    alice: User, whiskers: Cat, bob: User
) -> None:
    tab = await open_tab(alice, whiskers)
    await tab.disconnect()
    await database_sync_to_async(user_delete)(user=alice)
    # Another user's socket hears nothing of it.
    bobs = await database_sync_to_async(CatFactory.create)(owner=bob)
    other = await open_tab(bob, bobs)
    assert await other.receive_nothing(timeout=0.3)
    await other.disconnect()
