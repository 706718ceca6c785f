"""Regenerated replies are kept as alternatives: one is `kept`, the one the page shows and the
model is shown again. Real consumer, real PostgreSQL, the real mistralai SDK against the fake
Mistral server; REST through DRF's client.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from catchat.testing.fake_mistral import Reply
from cats import chat, frames
from cats.models import Cat, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.tests.test_consumers import open_chat, receive_until, send_frame, streamed_requests
from memories import learning

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _no_reply_outlives_its_test() -> Any:
    yield
    await asyncio.wait_for(chat.wait_idle(), timeout=10)
    await asyncio.wait_for(learning.wait_idle(), timeout=10)


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


@database_sync_to_async
def replies_to(user_message_id: int) -> list[tuple[str, bool]]:
    """(text, kept) of every reply to that message, oldest first."""
    return [
        (m.text, m.kept)
        for m in Message.objects.filter(reply_to_id=user_message_id).order_by("created_at", "id")
    ]


def history_of(request: dict[str, Any]) -> list[tuple[str, str]]:
    """The turns a chat request showed the model, without the system prompt."""
    return [(m["role"], m["content"]) for m in request["messages"][1:]]


async def regenerated_turn(comm: Any, mistral: Any) -> tuple[dict, dict]:
    """Say "hi", get "First answer.", regenerate, get "Second answer."; both replies."""
    mistral.script(Reply("First answer."), Reply("Second answer."))
    await comm.send_json_to(send_frame("hi"))
    first = (await receive_until(comm, "chat.done"))[-1]["message"]
    await comm.send_json_to({"type": "chat.regenerate", "conversation": first["conversation"]})
    frames_ = await receive_until(comm, "chat.done")
    started = next(f for f in frames_ if f["type"] == "chat.started")
    assert started["message"]["kept"] is True  # the new reply is the kept one from the start
    second = frames_[-1]["message"]
    return first, second


async def keep(comm: Any, message_id: int) -> dict:
    await comm.send_json_to({"type": "chat.keep", "message_id": message_id})
    return (await receive_until(comm, "chat.kept"))[-1]


# --- the socket --------------------------------------------------------------------------------


async def test_regenerate_keeps_the_old_reply_as_an_alternative_and_the_new_one_kept(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    comm = await open_chat(alice, whiskers)
    first, second = await regenerated_turn(comm, mistral)

    assert first["reply_to"] == second["reply_to"]
    assert second["text"] == "Second answer." and second["kept"] is True
    assert await replies_to(first["reply_to"]) == [
        ("First answer.", False),
        ("Second answer.", True),
    ]
    await comm.disconnect()


async def test_the_next_prompt_shows_the_kept_reply_and_not_the_other(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    comm = await open_chat(alice, whiskers)
    first, _ = await regenerated_turn(comm, mistral)
    mistral.script(Reply("Then a nap."))
    await comm.send_json_to(send_frame("and then?", conversation=first["conversation"]))
    await receive_until(comm, "chat.done")

    assert history_of(streamed_requests(mistral)[-1]) == [
        ("user", "hi"),
        ("assistant", "Second answer."),
        ("user", "and then?"),
    ]
    await comm.disconnect()


async def test_keep_flips_back_for_every_tab_and_the_next_prompt_follows(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    tab = await open_chat(alice, whiskers)
    first, second = await regenerated_turn(tab, mistral)
    other_tab = await open_chat(alice, whiskers)

    kept = await keep(tab, first["id"])
    seen_elsewhere = (await receive_until(other_tab, "chat.kept"))[-1]

    assert kept == seen_elsewhere
    assert {k: kept[k] for k in ("type", "conversation", "reply_to", "message_id")} == {
        "type": "chat.kept",
        "conversation": first["conversation"],
        "reply_to": first["reply_to"],
        "message_id": first["id"],
    }
    assert set(kept) == set(frames.Kept.__annotations__)
    assert kept["message"]["id"] == first["id"]
    assert kept["message"]["text"] == "First answer." and kept["message"]["kept"] is True
    assert await replies_to(first["reply_to"]) == [
        ("First answer.", True),
        ("Second answer.", False),
    ]

    mistral.script(Reply("Then a nap."))
    await tab.send_json_to(send_frame("and then?", conversation=first["conversation"]))
    await receive_until(tab, "chat.done")
    assert history_of(streamed_requests(mistral)[-1]) == [
        ("user", "hi"),
        ("assistant", "First answer."),
        ("user", "and then?"),
    ]

    # And back again: keeping is not a one-way door.
    assert (await keep(tab, second["id"]))["message_id"] == second["id"]
    assert await replies_to(first["reply_to"]) == [
        ("First answer.", False),
        ("Second answer.", True),
    ]
    await tab.disconnect()
    await other_tab.disconnect()


@pytest.fixture
def bobs_turn(bob: Any) -> Message:
    """A user message of Bob's with two replies, the second kept."""
    conversation = ConversationFactory.create(cat=CatFactory.create(owner=bob, name="Rex"))
    asked = MessageFactory.create(conversation=conversation, text="Woof?")
    MessageFactory.create(
        conversation=conversation, role=Message.Role.CAT, reply_to=asked, text="No.", kept=False
    )
    MessageFactory.create(conversation=conversation, role=Message.Role.CAT, reply_to=asked)
    return asked


async def test_keeping_someone_elses_reply_is_not_found_and_changes_nothing(
    alice: Any, whiskers: Cat, bobs_turn: Message
) -> None:
    before = await replies_to(bobs_turn.pk)
    bobs_first = await database_sync_to_async(
        lambda: Message.objects.filter(reply_to=bobs_turn).order_by("id").first()
    )()
    assert bobs_first is not None
    comm = await open_chat(alice, whiskers)

    for message_id in (bobs_first.pk, 2**62):
        await comm.send_json_to({"type": "chat.keep", "message_id": message_id})
        error = await comm.receive_json_from()
        assert error["type"] == "error" and error["code"] == "not_found", error

    assert await replies_to(bobs_turn.pk) == before
    assert await comm.receive_nothing(timeout=0.2)  # no chat.kept for anyone
    await comm.disconnect()


async def test_only_a_cat_reply_can_be_kept(alice: Any, whiskers: Cat) -> None:
    comm = await open_chat(alice, whiskers)
    await comm.send_json_to(send_frame("hello"))
    accepted = (await receive_until(comm, "chat.accepted"))[-1]
    await receive_until(comm, "chat.done")

    for frame in (
        {"type": "chat.keep", "message_id": accepted["message"]["id"]},
        {"type": "chat.keep"},
        {"type": "chat.keep", "message_id": True},
        {"type": "chat.keep", "message_id": "12"},
    ):
        await comm.send_json_to(frame)
        error = await comm.receive_json_from()
        assert error["type"] == "error" and error["code"] == "bad_frame", (frame, error)
    await comm.disconnect()


async def test_keeping_while_the_cat_answers_in_that_conversation_is_busy(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    comm = await open_chat(alice, whiskers)
    first, second = await regenerated_turn(comm, mistral)
    hold = threading.Event()
    mistral.script(Reply(["Once", " upon", " a", " time"], hold=hold))
    await comm.send_json_to({"type": "chat.regenerate", "conversation": first["conversation"]})
    await receive_until(comm, "chat.delta")

    await comm.send_json_to({"type": "chat.keep", "message_id": first["id"]})
    error = (await receive_until(comm, "error"))[-1]
    assert error["code"] == "busy"

    hold.set()
    await receive_until(comm, "chat.done")
    assert await replies_to(first["reply_to"]) == [
        ("First answer.", False),
        ("Second answer.", False),
        ("Once upon a time", True),
    ]
    await comm.disconnect()


# --- REST ----------------------------------------------------------------------------------------


def keep_url(message_id: int) -> str:
    return reverse("cats_api:message-keep", args=[message_id])


@pytest.fixture
def alice_api(alice: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def alices_turn(whiskers: Cat) -> Message:
    """A user message of Alice's with two replies, the second kept."""
    conversation = ConversationFactory.create(cat=whiskers)
    asked = MessageFactory.create(conversation=conversation, text="Nap?")
    MessageFactory.create(
        conversation=conversation, role=Message.Role.CAT, reply_to=asked, text="Yes.", kept=False
    )
    MessageFactory.create(conversation=conversation, role=Message.Role.CAT, reply_to=asked)
    return asked


def test_rest_keep_makes_that_reply_the_kept_one(
    alice_api: APIClient, alices_turn: Message
) -> None:
    first, second = Message.objects.filter(reply_to=alices_turn).order_by("id")

    response = alice_api.post(keep_url(first.pk))

    assert response.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert response.json() == frames.message_payload(first)
    assert response.json()["kept"] is True and response.json()["text"] == "Yes."
    assert (first.kept, second.kept) == (True, False)


def test_rest_keep_of_someone_elses_reply_is_404_and_changes_nothing(
    alice_api: APIClient, bobs_turn: Message
) -> None:
    before = list(Message.objects.filter(reply_to=bobs_turn).values_list("pk", "kept"))

    for message_id in (before[0][0], 2**62):
        response = alice_api.post(keep_url(message_id))
        assert response.status_code == 404
        assert response.json() == {"detail": "No such message."}

    assert list(Message.objects.filter(reply_to=bobs_turn).values_list("pk", "kept")) == before


def test_rest_keep_of_a_user_message_never_edited_is_400_and_needs_credentials(
    alice_api: APIClient, alices_turn: Message
) -> None:
    # (a user message with versions is shown by it: test_versions.py)
    response = alice_api.post(keep_url(alices_turn.pk))
    assert response.status_code == 400
    assert response.json()["detail"] == "That message has no other version to show."

    assert APIClient().post(keep_url(alices_turn.pk)).status_code == 401


def test_rest_keep_is_documented() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/messages/{message_id}/keep/"]["post"]
    assert operation["tags"] == ["conversations"]
    assert {"200", "400", "401", "404", "409"} <= set(operation["responses"])
    ok = operation["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"].endswith("/Message") and ok["examples"]
