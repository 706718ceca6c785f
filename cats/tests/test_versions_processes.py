"""Editing and switching versions across two real daphne processes sharing Redis: a tab on one
process edits and switches, a tab on the other sees the same frames and the same path."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import ClientConnection

from accounts.models import User
from catchat.testing.live import LiveServer
from cats.models import Cat, Message
from cats.tests.test_sockets_processes import (  # noqa: F401 - fixtures
    needs_redis,
    open_tab,
    served,
    two_servers,
    whiskers,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True), needs_redis]


async def until(socket: ClientConnection, kind: str, timeout: float = 15) -> list[dict]:
    """Every frame up to and including the first of type `kind`."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            seen.append(json.loads(await socket.recv()))
            if seen[-1]["type"] == kind:
                return seen


async def test_an_edit_and_a_switch_reach_the_tabs_of_the_other_process(
    two_servers: tuple[LiveServer, LiveServer],  # noqa: F811
    alice: User,
    whiskers: Cat,  # noqa: F811
) -> None:
    first, second = two_servers
    here, there = await open_tab(first, alice, whiskers), await open_tab(second, alice, whiskers)
    send = {
        "type": "chat.send",
        "conversation": None,
        "text": "one",
        "client_id": str(uuid.uuid4()),
    }
    await here.send(json.dumps(send))
    asked = (await until(here, "chat.accepted"))[-1]["message"]
    await until(here, "chat.done")
    await until(there, "chat.done")

    edit = {**send, "text": "uno", "client_id": str(uuid.uuid4()), "edit_of": asked["id"]}
    await here.send(json.dumps(edit))
    heard_here, heard_there = await until(here, "chat.done"), await until(there, "chat.done")
    for heard in (heard_here, heard_there):
        accepted = next(f for f in heard if f["type"] == "chat.accepted")
        assert accepted["replaces"] == asked["id"] and accepted["message"]["text"] == "uno"
    assert heard_here[-1]["message"]["id"] == heard_there[-1]["message"]["id"]

    await there.send(json.dumps({"type": "chat.keep", "message_id": asked["id"]}))
    for socket in (there, here):
        branched = (await until(socket, "chat.branched"))[-1]
        assert branched["message_id"] == asked["id"]
    path = await sync_to_async(
        lambda: list(
            Message.objects.filter(conversation_id=asked["conversation"], kept=True)
            .order_by("created_at", "id")
            .values_list("role", "text")
        )
    )()
    assert path[0] == ("user", "one") and len(path) == 2
    await here.close()
    await there.close()
