"""One turn, one entry point (issue 14): the tab's `chat.send` and `POST chat/` share one message
budget; whether a conversation is busy, and what a joining tab is shown of a reply being
written, is the database's to say (the reply may be written by another process)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils import timezone
from rest_framework.test import APIClient

from cats import chat
from cats.chat import stream
from cats.models import Cat, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.tests.test_consumers import connect, open_chat, receive_until, send_frame
from cats.tests.test_limits import refused, saved

CHAT = "/api/v1/chat/"


@pytest.fixture
def alice_api(alice: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


@database_sync_to_async
def reply_written_elsewhere(
    cat: Cat, *, text: str = "Mrrp, ", seq: int = 2, lease_s: float = 30
) -> Message:
    """A conversation whose reply another process is writing: streaming, its lease `lease_s`
    from now (in the past when negative), its text saved up to delta `seq`."""
    conversation = ConversationFactory.create(cat=cat)
    question = MessageFactory.create(conversation=conversation, text="How was your day?")
    return MessageFactory.create(
        conversation=conversation,
        role=Message.Role.CAT,
        reply_to=question,
        status=Message.Status.STREAMING,
        text=text,
        stream_seq=seq,
        lease_until=timezone.now() + timedelta(seconds=lease_s),
    )


# --- one budget -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rest_and_the_tabs_share_one_message_budget(
    alice_api: APIClient, whiskers: Cat, settings: Any
) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    for _ in range(2):  # what the tabs sent (chat.send spends from the same budget)
        assert async_to_sync(chat.spend_message)(whiskers.owner_id) == 0
    throttled = alice_api.post(CHAT, {"cat": whiskers.pk, "message": "hi"}, format="json")
    assert throttled.status_code == 429
    assert 55 <= int(throttled["Retry-After"]) <= 60
    assert "at most 2 messages a minute" in throttled.json()["detail"]
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_tab_is_refused_once_rest_spent_the_budget(
    alice: Any, whiskers: Cat, settings: Any
) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 1
    assert await chat.spend_message(alice.pk) == 0  # a POST chat/
    tab = await open_chat(alice, whiskers)
    frame = await refused(tab, _send("hi"), "rate_limited")
    assert 55 <= frame["retry_after"] <= 60
    await tab.disconnect()


def test_the_budget_is_counted_atomically_per_window(settings: Any) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    user_id = 10_000 + uuid.uuid4().int % 1_000_000
    waits = [async_to_sync(chat.spend_message)(user_id) for _ in range(5)]
    assert waits[:3] == [0, 0, 0] and all(55 <= w <= 60 for w in waits[3:])


# --- busy: the database decides --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_reply_written_by_another_process_makes_the_conversation_busy(
    alice: Any, whiskers: Cat
) -> None:
    reply = await reply_written_elsewhere(whiskers)
    tab = await open_chat(alice, whiskers)
    before = await saved(whiskers)
    await refused(tab, _send("second", reply.conversation_id), "busy")
    await refused(
        tab, f'{{"type": "chat.regenerate", "conversation": {reply.conversation_id}}}', "busy"
    )
    assert await saved(whiskers) == before
    await tab.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_reply_whose_lease_ran_out_does_not_make_it_busy(alice: Any, whiskers: Cat) -> None:
    reply = await reply_written_elsewhere(whiskers, lease_s=-1)  # its process died
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("anyone there?", reply.conversation_id))
    frames = await receive_until(tab, "chat.done")
    assert frames[0]["type"] == "chat.accepted"
    await chat.wait_idle()
    await tab.disconnect()


# --- hello.in_flight: every process's replies ------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_hello_lists_a_reply_written_by_another_process(alice: Any, whiskers: Cat) -> None:
    reply = await reply_written_elsewhere(whiskers, text="Mrrp, my day", seq=3)
    await reply_written_elsewhere(whiskers, lease_s=-1)  # a dead process's: not in flight
    hello = await (await connect(alice, whiskers)).receive_json_from()
    assert [(m["id"], m["text"], m["seq"]) for m in hello["in_flight"]] == [
        (reply.pk, "Mrrp, my day", 3)
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_hello_has_the_text_up_to_the_last_delta_sent_not_the_last_save(
    alice: Any, whiskers: Cat
) -> None:
    if not stream._shared_cache():
        pytest.skip("one process without a shared cache: its own jobs are the snapshot")
    reply = await reply_written_elsewhere(whiskers, text="Mrrp, ", seq=2)
    # The writing process puts the text of deltas 1..5 in the cache before sending delta 5;
    # the database has the save of delta 2 only.
    await stream._put_snapshot(reply.pk, 5, "Mrrp, my day was long")
    hello = await (await connect(alice, whiskers)).receive_json_from()
    (item,) = hello["in_flight"]
    assert (item["text"], item["seq"]) == ("Mrrp, my day was long", 5)


def _send(text: str, conversation: int | None = None) -> str:
    return json.dumps(send_frame(text, conversation))
