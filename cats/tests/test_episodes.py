"""Episodes in the chat: every message the human writes is remembered as said, recalled later
with its date, named on the reply (`episodes_used`), and gone with its conversation or while
memory is switched off. Real consumer, PostgreSQL, the local embedder, and the real SDK against
the fake Mistral server (to read the prompt it was sent)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async

from cats import chat
from cats.models import Cat, Conversation, Message
from cats.services.conversations import conversation_delete
from cats.tests.factories import CatFactory
from cats.tests.test_consumers import open_chat, receive_until, send_frame, streamed_requests
from memories import learning
from memories.models import Episode, Memory, MemoryProfile
from memories.profiles import profile_update

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
async def _no_reply_outlives_its_test() -> Any:
    yield
    await asyncio.wait_for(chat.wait_idle(), timeout=10)
    await asyncio.wait_for(learning.wait_idle(), timeout=10)


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


async def say(tab: Any, text: str, conversation: int | None = None) -> dict:
    """Send `text`, wait for the reply; returns its `chat.done` message (and `started`)."""
    await tab.send_json_to(send_frame(text, conversation))
    frames = await receive_until(tab, "chat.done")
    await chat.wait_idle()  # then learning is kicked,
    await learning.wait_idle()  # which makes the episode, the reply being out
    (started,) = [f for f in frames if f["type"] == "chat.started"]
    done: dict = frames[-1]["message"]
    done["remembered"] = started["remembered"]
    return done


@database_sync_to_async
def episodes_of(cat: Cat) -> list[Episode]:
    return list(Episode.objects.filter(profile__cat=cat).order_by("said_at"))


async def test_what_was_said_in_another_conversation_is_recalled_with_its_date(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    tab = await open_chat(alice, whiskers)
    first = await say(tab, "I went to a support group for the first time, it helped a lot.")
    await say(tab, "Also my neighbour's car alarm kept me up all night.", first["conversation"])
    (said, _) = await episodes_of(whiskers)
    assert said.text.startswith("I went to a support group")
    assert said.embedding is not None and said.embedding_model
    assert said.after == first["text"]  # the cat's answer is part of it

    mistral.requests.clear()
    done = await say(tab, "When did I go to the support group?")  # a new conversation
    assert said.message_id in done["episodes_used"]
    system = streamed_requests(mistral)[-1]["messages"][0]["content"]
    when = said.said_at
    assert f'On {when.day} {when:%B %Y} you said: "I went to a support group' in system
    receipt = next(r for r in done["remembered"] if r["kind"] == "episode")
    assert receipt["id"] == said.message_id
    assert receipt["conversation"] == first["conversation"]
    assert receipt["at"] == said.said_at.isoformat()
    reply = await database_sync_to_async(Message.objects.get)(pk=done["id"])
    assert reply.episodes_used == done["episodes_used"]
    await tab.disconnect()


async def test_what_the_prompt_shows_anyway_is_not_recalled_again(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    tab = await open_chat(alice, whiskers)
    first = await say(tab, "I went to a support group for the first time.")
    done = await say(tab, "When did I go to the support group?", first["conversation"])
    # The earlier message is in the recent history of this very conversation.
    assert done["episodes_used"] == []
    await tab.disconnect()


async def test_deleting_a_conversation_forgets_what_was_said_in_it(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    tab = await open_chat(alice, whiskers)
    first = await say(tab, "My grandmother's name is Odette.")
    await tab.disconnect()
    assert len(await episodes_of(whiskers)) == 1

    @database_sync_to_async
    def delete() -> None:
        conversation_delete(conversation=Conversation.objects.get(pk=first["conversation"]))

    await delete()
    assert await episodes_of(whiskers) == []


async def test_with_memory_switched_off_nothing_is_kept_or_recalled(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    tab = await open_chat(alice, whiskers)
    await say(tab, "I went to a support group for the first time.")

    @database_sync_to_async
    def switch(on: bool) -> None:
        profile_update(profile=MemoryProfile.objects.get(cat=whiskers), enabled=on)

    await switch(False)
    done = await say(tab, "When did I go to the support group?")
    assert done["episodes_used"] == [] and done["memories_used"] == []
    await say(tab, "My secret: I am afraid of the dark.")
    texts = [e.text for e in await episodes_of(whiskers)]
    assert texts == ["I went to a support group for the first time."]

    await switch(True)
    done = await say(tab, "What am I afraid of?")
    assert all(r["text"] != "My secret: I am afraid of the dark." for r in done["remembered"])
    await tab.disconnect()


async def test_forgetting_what_was_never_said_forgets_nothing(alice: Any, whiskers: Cat) -> None:
    from memories.services import memory_create

    nurse = await database_sync_to_async(memory_create)(
        profile=await database_sync_to_async(MemoryProfile.objects.get)(cat=whiskers),
        text="Works as a nurse",
    )
    tab = await open_chat(alice, whiskers)
    done = await say(tab, "Please forget that I live in Lyon")
    # The offline brain says it did not know that; nothing was rejected.
    assert "Lyon" in done["text"]
    status = await database_sync_to_async(
        lambda: Memory.objects.values_list("status", flat=True).get(pk=nurse.pk)
    )()
    assert status == "active"
    # The request itself is not kept as something said.
    assert await episodes_of(whiskers) == []
    await tab.disconnect()


async def test_forget_it_forgets_the_message_before_and_what_was_learned_from_it(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    first = await say(tab, "I have a dog named Rex.")
    await receive_until(tab, "memory.changed")  # learned
    await say(tab, "Actually, forget it.", first["conversation"])

    @database_sync_to_async
    def state() -> tuple[list[str], list[str]]:
        statuses = list(
            Memory.objects.filter(profile__cat=whiskers).values_list("status", flat=True)
        )
        return statuses, [e.text for e in Episode.objects.filter(profile__cat=whiskers)]

    statuses, episodes = await state()
    assert statuses == ["rejected"]
    assert episodes == []
    await tab.disconnect()
