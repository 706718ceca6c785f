"""Issue 14, the short race: between saving the user's message and inserting the reply row, a
second process can accept another message into the same conversation. Whichever reply takes
the cat's row lock second sees the first one streaming (with a live lease) in the same query
and is refused (`busy`): the reply is not created, the user's message is kept."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from cats import chat, services
from cats.models import Cat, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.tests.test_consumers import open_chat, receive_until, send_frame


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


def written_elsewhere(question: Message, *, lease_s: float = 30) -> Message:
    """The reply another process began to `question` (streaming; lease `lease_s` from now)."""
    return MessageFactory.create(
        conversation=question.conversation,
        role=Message.Role.CAT,
        reply_to=question,
        status=Message.Status.STREAMING,
        text="Mrrp, ",
        lease_until=timezone.now() + timedelta(seconds=lease_s),
    )


@pytest.mark.django_db
def test_reply_begin_refuses_while_another_process_writes_a_reply_there(whiskers: Cat) -> None:
    conversation = ConversationFactory.create(cat=whiskers)
    first = MessageFactory.create(conversation=conversation, text="How was your day?")
    late = MessageFactory.create(conversation=conversation, text="And your nap?")
    written_elsewhere(first)  # the other process took the cat's lock first
    before = Message.objects.count()
    vitals = Cat.objects.filter(pk=whiskers.pk).values().get()

    with pytest.raises(services.ChatInputError) as refused:
        services.reply_begin(cat=whiskers, user_message=late)

    assert refused.value.code == "busy"
    assert Message.objects.count() == before, "no reply created"
    assert not Message.objects.filter(reply_to=late).exists()
    assert Message.objects.filter(pk=late.pk).exists(), "the user's message is kept"
    assert Cat.objects.filter(pk=whiskers.pk).values().get() == vitals, "rolled back"


@pytest.mark.django_db
def test_reply_begin_goes_on_when_that_reply_s_lease_ran_out(whiskers: Cat) -> None:
    conversation = ConversationFactory.create(cat=whiskers)
    first = MessageFactory.create(conversation=conversation, text="How was your day?")
    late = MessageFactory.create(conversation=conversation, text="And your nap?")
    written_elsewhere(first, lease_s=-1)  # its process died

    reply, _, _ = services.reply_begin(cat=whiskers, user_message=late)

    assert reply.reply_to_id == late.pk and reply.status == Message.Status.STREAMING


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_turn_that_loses_the_race_says_busy_and_keeps_the_message(
    alice: Any, whiskers: Cat, monkeypatch: pytest.MonkeyPatch
) -> None:
    accept = services.message_accept

    def accept_then_lose_the_race(**kwargs: Any) -> services.Accepted:
        """The message is saved; before this process inserts its reply, another process that
        accepted a message into the same conversation begins its own."""
        accepted = accept(**kwargs)
        rival = MessageFactory.create(conversation=accepted.message.conversation, text="Hi?")
        written_elsewhere(rival)
        return accepted

    conversation = await database_sync_to_async(ConversationFactory.create)(cat=whiskers)
    monkeypatch.setattr(services, "message_accept", accept_then_lose_the_race)
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("Are you there?", conversation.pk))
    frames = await receive_until(tab, "error")
    await chat.wait_idle()
    await tab.disconnect()

    assert frames[0]["type"] == "chat.accepted"
    assert "chat.started" not in [f["type"] for f in frames]
    refused = frames[-1]
    assert refused["code"] == "busy" and refused["conversation"] == conversation.pk
    assert refused["client_id"] == frames[0]["client_id"]
    mine = frames[0]["message"]["id"]

    @database_sync_to_async
    def left() -> tuple[bool, bool]:
        return (
            Message.objects.filter(pk=mine).exists(),
            Message.objects.filter(reply_to_id=mine).exists(),
        )

    assert await left() == (True, False), "the message is kept; no reply to it"
