"""A conversation with the offline brain, end to end: the human tells facts, then asks about
them, and the cat answers from what it learned (real consumer, PostgreSQL, learning, recall)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cats import chat
from cats.models import Cat
from cats.tests.factories import CatFactory
from cats.tests.test_consumers import open_chat, receive_until, send_frame
from memories import learning

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture(autouse=True)
async def _no_reply_outlives_its_test() -> Any:
    yield
    await asyncio.wait_for(chat.wait_idle(), timeout=10)
    await asyncio.wait_for(learning.wait_idle(), timeout=10)


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


async def test_told_facts_are_the_answers_to_questions_about_them(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    conversation = None

    async def say(text: str) -> str:
        nonlocal conversation
        await tab.send_json_to(send_frame(text, conversation))
        done = (await receive_until(tab, "chat.done"))[-1]["message"]
        conversation = done["conversation"]
        await chat.wait_idle()
        await learning.wait_idle()  # what was said is learned before the next message
        return str(done["text"])

    await say("My sister is called Mia.")
    await say("I moved to Paris last spring.")
    await say("Je suis infirmière de nuit.")
    assert "Mia" in await say("What's my sister's name?")
    assert "Paris" in await say("Where do I live?")
    assert "infirmière" in await say("c'est quoi mon travail ?")
    await tab.disconnect()
