"""The chat socket end to end: real consumer, real PostgreSQL, the real mistralai SDK against a
fake Mistral server on 127.0.0.1, and the configured channel layer (Redis when REDIS_URL is set).
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from catchat import offline
from catchat.asgi import application
from catchat.testing.fake_mistral import BreakMidStream, Fail, Hang, Reply, Truncate
from cats import chat
from cats.models import Cat, Conversation, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories import learning

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


@pytest.fixture(autouse=True)
async def _no_reply_outlives_its_test() -> Any:
    yield
    await asyncio.wait_for(chat.wait_idle(), timeout=10)
    await asyncio.wait_for(learning.wait_idle(), timeout=10)


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers", personality="curious and dramatic")


def bearer(user: Any) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {AccessToken.for_user(user)}".encode())


async def connect(user: Any, cat: Cat, *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(
        application, f"/ws/cats/{cat.pk}/", headers=list(headers) or [bearer(user)]
    )
    connected, _ = await comm.connect()
    assert connected
    return comm


async def open_chat(user: Any, cat: Cat) -> WebsocketCommunicator:
    comm = await connect(user, cat)
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello"
    return comm


async def receive_until(comm: WebsocketCommunicator, kind: str, timeout: float = 5) -> list[dict]:
    """Every frame up to and including the first of type `kind`."""
    frames = []
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


def send_frame(text: str, conversation: int | None = None, client_id: str | None = None) -> dict:
    return {
        "type": "chat.send",
        "conversation": conversation,
        "text": text,
        "client_id": client_id or str(uuid.uuid4()),
    }


def streamed_requests(mistral: Any) -> list[dict]:
    """Bodies of the chat requests that streamed a reply (memory extraction also calls Mistral,
    in JSON mode, after each turn)."""
    return [r["body"] for r in mistral.requests if r["body"] and r["body"].get("stream")]


def deltas_of(frames: list[dict]) -> list[dict]:
    return [f for f in frames if f["type"] == "chat.delta"]


def assert_contiguous(deltas: list[dict], start: int = 1) -> None:
    assert [d["seq"] for d in deltas] == list(range(start, start + len(deltas)))


async def ping_pong(comm: WebsocketCommunicator) -> None:
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from() == {"type": "pong"}


@database_sync_to_async
def messages_of(cat: Cat) -> list[Message]:
    return list(Message.objects.filter(conversation__cat=cat).order_by("created_at", "id"))


# --- connecting -------------------------------------------------------------------------------


async def test_no_credentials_get_an_error_then_4401(whiskers: Cat) -> None:
    comm = WebsocketCommunicator(application, f"/ws/cats/{whiskers.pk}/", headers=[ORIGIN])
    connected, _ = await comm.connect()
    assert connected
    frame = await comm.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "unauthenticated"
    assert (await comm.receive_output())["code"] == 4401


async def test_a_bad_bearer_token_is_4401(whiskers: Cat) -> None:
    comm = WebsocketCommunicator(
        application, f"/ws/cats/{whiskers.pk}/", headers=[(b"authorization", b"Bearer nope")]
    )
    await comm.connect()
    assert (await comm.receive_json_from())["code"] == "unauthenticated"
    assert (await comm.receive_output())["code"] == 4401


async def test_someone_elses_cat_and_a_missing_cat_are_both_4404(whiskers: Cat, bob: Any) -> None:
    for path in (f"/ws/cats/{whiskers.pk}/", "/ws/cats/999999/"):
        comm = WebsocketCommunicator(application, path, headers=[bearer(bob)])
        await comm.connect()
        assert (await comm.receive_json_from())["code"] == "not_found"
        assert (await comm.receive_output())["code"] == 4404


async def test_a_foreign_origin_is_refused_even_with_a_valid_token(
    alice: Any, whiskers: Cat
) -> None:
    comm = WebsocketCommunicator(
        application,
        f"/ws/cats/{whiskers.pk}/",
        headers=[(b"origin", b"https://evil.example"), bearer(alice)],
    )
    connected, _ = await comm.connect()
    assert not connected


@database_sync_to_async
def session_cookie(user: Any) -> tuple[bytes, bytes]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def test_the_session_cookie_works_from_an_allowed_origin(alice: Any, whiskers: Cat) -> None:
    comm = await connect(alice, whiskers, ORIGIN, await session_cookie(alice))
    hello = await comm.receive_json_from()
    assert hello["type"] == "hello"
    await comm.disconnect()


async def test_the_session_cookie_alone_without_origin_is_not_enough(
    alice: Any, whiskers: Cat
) -> None:
    comm = await connect(alice, whiskers, await session_cookie(alice))
    assert (await comm.receive_json_from())["code"] == "unauthenticated"
    assert (await comm.receive_output())["code"] == 4401


async def test_hello_describes_the_cat_and_the_brain(alice: Any, whiskers: Cat) -> None:
    comm = await connect(alice, whiskers)
    hello = await comm.receive_json_from()
    assert hello["cat"]["name"] == "Whiskers"
    assert hello["llm"] == "offline"
    assert hello["in_flight"] == []
    await ping_pong(comm)
    await comm.disconnect()


# --- a turn -----------------------------------------------------------------------------------


async def test_offline_turn_streams_word_by_word_and_is_saved(
    alice: Any, whiskers: Cat, settings: Any
) -> None:
    settings.OFFLINE_WORD_DELAY_MS = 15  # slower than the delta window: several deltas
    comm = await open_chat(alice, whiskers)
    frame = send_frame("I made sushi tonight!")
    await comm.send_json_to(frame)
    frames = await receive_until(comm, "chat.done")
    chat_frames = [f for f in frames if f["type"] != "cat.state"]  # company moves the vitals
    assert [f["type"] for f in chat_frames[:2]] == ["chat.accepted", "chat.started"]
    accepted, done = chat_frames[0], frames[-1]
    assert chat_frames[1]["message"]["status"] == "streaming"
    assert accepted["client_id"] == frame["client_id"]
    assert accepted["message"]["text"] == "I made sushi tonight!"
    assert accepted["message"]["role"] == "user"
    deltas = deltas_of(frames)
    assert len(deltas) >= 2
    assert_contiguous(deltas)
    text = "".join(d["text"] for d in deltas)
    assert done["message"]["text"] == text
    assert done["message"]["status"] == "complete"
    assert done["message"]["model"] == "offline-brain"
    assert done["message"]["usage"]["completion_tokens"] > 0

    user_msg, reply = await messages_of(whiskers)
    assert user_msg.text == "I made sushi tonight!" and user_msg.client_id == uuid.UUID(
        frame["client_id"]
    )
    assert reply.role == "cat" and reply.text == text and reply.status == "complete"
    assert reply.reply_to_id == user_msg.pk
    assert reply.latency_ms is not None and reply.ttft_ms is not None
    await comm.disconnect()


async def test_a_turn_through_mistral_sends_the_persona_and_streams_coalesced(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    tokens = [f" tok{i}" for i in range(40)]
    mistral.script(Reply(tokens))
    comm = await open_chat(alice, whiskers)
    await comm.send_json_to(send_frame("Tell me about your day"))
    frames = await receive_until(comm, "chat.done")
    deltas = deltas_of(frames)
    assert_contiguous(deltas)
    # 40 tokens arriving at once cross the channel layer as a handful of frames, not 40.
    assert 1 <= len(deltas) < 10
    done = frames[-1]["message"]
    assert done["text"] == "".join(tokens)
    assert done["status"] == "complete"
    assert done["usage"]["completion_tokens"] == 40

    request = streamed_requests(mistral)[-1]
    assert request["stream"] is True and request["model"] == "mistral-small-latest"
    system = request["messages"][0]
    assert system["role"] == "system"
    assert "Whiskers" in system["content"] and "curious and dramatic" in system["content"]
    assert request["messages"][-1]["role"] == "user"
    assert request["messages"][-1]["content"] == "Tell me about your day"
    await comm.disconnect()


async def test_the_history_goes_to_the_model_in_order(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    mistral.script(Reply("First answer."), Reply("Second answer."))
    comm = await open_chat(alice, whiskers)
    await comm.send_json_to(send_frame("one"))
    done = (await receive_until(comm, "chat.done"))[-1]
    await comm.send_json_to(send_frame("two", conversation=done["message"]["conversation"]))
    await receive_until(comm, "chat.done")
    turns = [
        {"role": m["role"], "content": m["content"]}
        for m in streamed_requests(mistral)[-1]["messages"][1:]
    ]
    assert turns == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "two"},
    ]
    await comm.disconnect()


# --- failures of Mistral ------------------------------------------------------------------------

FAILURES = [
    pytest.param([Fail(401)], "llm_auth", None, id="401"),
    pytest.param([Fail(429, headers={"Retry-After": "7"})], "rate_limited", 7, id="429"),
    pytest.param([Fail(500)], "llm_unavailable", None, id="500"),
    pytest.param([Fail(503)], "llm_unavailable", None, id="503"),
    pytest.param([Fail(422, body={"detail": []})], "llm_bad_request", None, id="422"),
    pytest.param([Hang(5)], "llm_timeout", None, id="timeout"),
    pytest.param([BreakMidStream("Mrrp I was saying", after=2)], "llm_unavailable", None, id="cut"),
    pytest.param([Truncate("Mrrp I was saying", after=2)], "llm_truncated", None, id="truncated"),
]


@pytest.mark.parametrize(("script", "code", "retry_after"), FAILURES)
async def test_a_mistral_failure_ends_the_reply_as_error_and_the_socket_lives_on(
    alice: Any,
    whiskers: Cat,
    mistral: Any,
    settings: Any,
    script: list,
    code: str,
    retry_after: Any,
) -> None:
    # Well under the hang (5 s), well over a loaded machine's answer time for the other cases.
    settings.MISTRAL_TIMEOUT_MS = 2000
    settings.MISTRAL_MAX_RETRIES = 0  # one request per failure; retries have their own test
    mistral.script(*script)
    comm = await open_chat(alice, whiskers)
    await comm.send_json_to(send_frame("are you there?"))
    frames = await receive_until(comm, "chat.done", timeout=10)
    errors = [f for f in frames if f["type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["code"] == code
    assert errors[0]["detail"]  # a friendly, in-character text
    assert errors[0].get("retry_after") == retry_after
    done = frames[-1]["message"]
    assert done["status"] == "error"
    assert done["error"]["code"] == code
    # The partial text of a broken stream is kept, exactly what was shown.
    assert done["text"] == "".join(d["text"] for d in deltas_of(frames))

    user_msg, reply = await messages_of(whiskers)
    assert user_msg.text == "are you there?"  # nothing the user wrote is lost
    assert reply.status == "error" and reply.error_code == code

    # The socket is still usable, and the next message gets an answer.
    await ping_pong(comm)
    mistral.script(Reply("I'm back."))
    conversation = done["conversation"]
    await comm.send_json_to(send_frame("hello again", conversation=conversation))
    assert (await receive_until(comm, "chat.done"))[-1]["message"]["text"] == "I'm back."
    await comm.disconnect()


async def test_a_5xx_before_the_stream_is_retried(alice: Any, whiskers: Cat, mistral: Any) -> None:
    mistral.script(Fail(503), Reply("Fine now."))
    comm = await open_chat(alice, whiskers)
    await comm.send_json_to(send_frame("hi"))
    frames = await receive_until(comm, "chat.done")
    assert not [f for f in frames if f["type"] == "error"]
    assert frames[-1]["message"]["text"] == "Fine now."
    assert len(streamed_requests(mistral)) == 2
    await comm.disconnect()


async def test_try_again_after_an_error_regenerates_the_reply(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    mistral.script(Fail(401), Reply("There you are."))
    comm = await open_chat(alice, whiskers)
    await comm.send_json_to(send_frame("hi"))
    done = (await receive_until(comm, "chat.done"))[-1]["message"]
    await comm.send_json_to({"type": "chat.regenerate", "conversation": done["conversation"]})
    again = (await receive_until(comm, "chat.done"))[-1]["message"]
    assert again["status"] == "complete" and again["text"] == "There you are."
    assert again["reply_to"] == done["reply_to"]
    user_messages = [m for m in await messages_of(whiskers) if m.role == "user"]
    assert len(user_messages) == 1
    await comm.disconnect()


# --- several tabs, reconnects, stop -------------------------------------------------------------


async def test_two_tabs_of_one_user_both_receive_the_stream(
    alice: Any, whiskers: Cat, settings: Any
) -> None:
    settings.OFFLINE_WORD_DELAY_MS = 5
    tab1 = await open_chat(alice, whiskers)
    tab2 = await open_chat(alice, whiskers)
    await tab1.send_json_to(send_frame("hello both"))
    seen1 = await receive_until(tab1, "chat.done")
    seen2 = await receive_until(tab2, "chat.done")
    assert [f["type"] for f in seen1] == [f["type"] for f in seen2]
    assert seen1[-1] == seen2[-1]
    assert seen2[0]["type"] == "chat.accepted"  # the other tab sees the user's message too
    await tab1.disconnect()
    await tab2.disconnect()


async def test_a_tab_that_reconnects_mid_reply_resumes_where_it_is(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    hold = threading.Event()
    mistral.script(Reply(["Once", " upon", " a", " time"], hold=hold))
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("tell me a story"))
    first = await receive_until(tab, "chat.delta")
    assert first[-1]["seq"] == 1 and first[-1]["text"] == "Once"
    await tab.disconnect()  # the reply goes on without the socket

    tab = await connect(alice, whiskers)
    hello = await tab.receive_json_from()
    (partial,) = hello["in_flight"]
    assert partial["status"] == "streaming"
    assert partial["text"] == "Once" and partial["seq"] == 1
    hold.set()
    rest = await receive_until(tab, "chat.done")
    deltas = deltas_of(rest)
    assert_contiguous(deltas, start=2)
    assert partial["text"] + "".join(d["text"] for d in deltas) == "Once upon a time"
    assert rest[-1]["message"]["text"] == "Once upon a time"
    await tab.disconnect()


async def test_stop_ends_the_reply_and_keeps_its_text(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    hold = threading.Event()
    mistral.script(Reply(["I", " was", " going", " to", " say"], hold=hold))
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("go on"))
    frames = await receive_until(tab, "chat.delta")
    conversation = frames[0]["message"]["conversation"]
    await tab.send_json_to({"type": "chat.stop", "conversation": conversation})
    done = (await receive_until(tab, "chat.done"))[-1]["message"]
    hold.set()
    assert done["status"] == "stopped" and done["text"] == "I"
    reply = (await messages_of(whiskers))[-1]
    assert reply.status == "stopped" and reply.text == "I"
    await ping_pong(tab)
    await tab.disconnect()


async def test_a_resend_with_the_same_client_id_is_not_saved_twice(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    frame = send_frame("only once please")
    await tab.send_json_to(frame)
    first = await receive_until(tab, "chat.done")
    await tab.send_json_to(frame)
    again = await tab.receive_json_from()
    assert again["type"] == "chat.accepted"
    assert again["message"]["id"] == first[0]["message"]["id"]
    assert await tab.receive_nothing(timeout=0.3)  # no second reply either
    messages = await messages_of(whiskers)
    assert [m.role for m in messages] == ["user", "cat"]
    await tab.disconnect()


async def test_a_second_message_while_the_cat_is_answering_is_refused_unsaved(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    hold = threading.Event()
    mistral.script(Reply(["Hm", "m"], hold=hold))
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("first"))
    frames = await receive_until(tab, "chat.delta")
    conversation = frames[0]["message"]["conversation"]
    await tab.send_json_to(send_frame("second", conversation=conversation))
    refusal = await tab.receive_json_from()
    assert refusal["type"] == "error" and refusal["code"] == "busy"
    hold.set()
    await receive_until(tab, "chat.done")
    assert [m.text for m in await messages_of(whiskers) if m.role == "user"] == ["first"]
    await tab.disconnect()


# --- bad input ----------------------------------------------------------------------------------

BAD_FRAMES = [
    pytest.param("not json", "bad_frame", id="not-json"),
    pytest.param("[1, 2]", "bad_frame", id="not-an-object"),
    pytest.param(json.dumps({"type": "chat.dance"}), "bad_frame", id="unknown-type"),
    pytest.param(json.dumps({"text": "hi"}), "bad_frame", id="no-type"),
    pytest.param(
        json.dumps({"type": "chat.send", "conversation": None, "text": "hi"}),
        "bad_frame",
        id="no-client-id",
    ),
    pytest.param(json.dumps(send_frame("x" * 4001)), "too_long", id="too-long"),
    pytest.param(json.dumps(send_frame("   ")), "empty", id="empty"),
    pytest.param(
        json.dumps({**send_frame("hi"), "conversation": "7"}), "bad_frame", id="string-id"
    ),
    pytest.param(json.dumps({**send_frame("hi"), "text": 5}), "bad_frame", id="text-not-str"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_FRAMES)
async def test_a_bad_frame_gets_an_error_saves_nothing_and_keeps_the_socket(
    alice: Any, whiskers: Cat, raw: str, code: str
) -> None:
    tab = await open_chat(alice, whiskers)
    await tab.send_to(text_data=raw)
    frame = await tab.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == code
    assert frame["detail"]
    await ping_pong(tab)
    assert await messages_of(whiskers) == []
    await tab.disconnect()


async def test_sending_into_someone_elses_conversation_is_not_found(
    alice: Any, bob: Any, whiskers: Cat
) -> None:
    bobs_cat = await database_sync_to_async(CatFactory)(owner=bob)
    bobs_conversation = await database_sync_to_async(ConversationFactory)(cat=bobs_cat)
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("sneaky", conversation=bobs_conversation.pk))
    frame = await tab.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "not_found"
    await tab.send_json_to({"type": "chat.regenerate", "conversation": bobs_conversation.pk})
    assert (await tab.receive_json_from())["code"] == "not_found"
    assert not await database_sync_to_async(
        Message.objects.filter(conversation=bobs_conversation).exists
    )()
    await tab.disconnect()


# --- cost of a turn -----------------------------------------------------------------------------


@database_sync_to_async
def long_conversation(cat: Cat, turns: int) -> Conversation:
    conversation = ConversationFactory.create(cat=cat)
    for i in range(turns):
        user = MessageFactory(conversation=conversation, role="user", text=f"question {i}")
        MessageFactory(conversation=conversation, role="cat", text=f"answer {i}", reply_to=user)
    return conversation


@database_sync_to_async
def set_memory(cat: Cat, *, enabled: bool) -> None:
    from memories.models import MemoryProfile

    MemoryProfile.objects.filter(cat=cat).update(enabled=enabled)


@pytest.mark.parametrize("learning_on", [False, True], ids=["turn", "turn-and-learning"])
async def test_the_queries_of_a_turn_are_few_and_do_not_grow_with_the_conversation(
    alice: Any, whiskers: Cat, queries: Any, learning_on: bool
) -> None:
    await set_memory(whiskers, enabled=learning_on)
    counts = []
    for turns in (0, 60):
        conversation = await long_conversation(whiskers, turns)
        tab = await open_chat(alice, whiskers)
        queries.clear()
        await tab.send_json_to(send_frame("how many?", conversation=conversation.pk))
        await receive_until(tab, "chat.done")
        await chat.wait_idle()
        await learning.wait_idle()
        counts.append(len(queries))
        await tab.disconnect()
    assert counts[0] == counts[1], counts
    # The turn's own share, before learning claims its job: with memory on, also recall and the
    # episode's insert; 10 at most.
    claim = next(
        i for i, sql in enumerate(queries.statements) if '"memories_extractionjob"."id"' in sql
    )
    assert claim <= (10 if learning_on else 8), queries.statements
    if not learning_on:
        # accept 3 (touch the conversation, insert the message and its learning job; a resend
        # is told by its client_id only when the insert fails), begin 4 (history, lock and move
        # the cat's vitals, insert the reply), finish 1 (the conversation moved on accept)
        assert counts[0] <= 8, queries.statements


# --- the living cat -----------------------------------------------------------------------------


async def test_hello_carries_the_cats_state(alice: Any, whiskers: Cat) -> None:
    hello = await (await connect(alice, whiskers)).receive_json_from()
    state = hello["state"]
    assert set(state) >= {"hunger", "energy", "affection", "fun", "mood", "updated_at"}
    assert state["mood"] == "content"


async def test_a_care_action_reaches_every_tab_as_cat_state(alice: Any, whiskers: Cat) -> None:
    tab1 = await open_chat(alice, whiskers)
    tab2 = await open_chat(alice, whiskers)
    await tab1.send_json_to({"type": "cat.action", "action": "pet"})
    for tab in (tab1, tab2):
        frame = await tab.receive_json_from()
        assert frame["type"] == "cat.state"
        assert frame["care"]["action"] == "pet" and frame["care"]["accepted"] is True
        assert frame["care"]["message"]
        assert frame["state"]["affection"] > 60
    await tab1.disconnect()
    await tab2.disconnect()


async def test_a_refused_action_is_told_in_character(alice: Any, whiskers: Cat) -> None:
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to({"type": "cat.action", "action": "sleep"})  # a fresh cat is awake
    frame = await tab.receive_json_from()
    assert frame["care"] == {
        "action": "sleep",
        "accepted": False,
        "reason": "not_sleepy",
        "message": frame["care"]["message"],
    }
    assert "Sleep? Now?" in frame["care"]["message"]
    await tab.disconnect()


@pytest.mark.parametrize("action", ["bathe", None, 3])
async def test_an_unknown_action_is_a_bad_frame(alice: Any, whiskers: Cat, action: Any) -> None:
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to({"type": "cat.action", "action": action})
    frame = await tab.receive_json_from()
    assert frame["type"] == "error" and frame["code"] == "bad_frame"
    await ping_pong(tab)
    await tab.disconnect()


async def test_a_chat_turn_moves_the_vitals_and_tells_every_tab(alice: Any, whiskers: Cat) -> None:
    other_tab = await open_chat(alice, whiskers)
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("keep me company"))
    frames = await receive_until(other_tab, "chat.done")
    (state,) = [f["state"] for f in frames if f["type"] == "cat.state"]
    assert state["affection"] > 60  # company
    await tab.disconnect()
    await other_tab.disconnect()


@pytest.fixture
def starving(alice: Any) -> Cat:
    return CatFactory.create(
        owner=alice, name="Tofu", hunger=90.0, energy=70.0, affection=60.0, fun=60.0
    )


async def test_the_mood_shapes_the_prompt_and_is_recorded_on_the_reply(
    alice: Any, starving: Cat, mistral: Any
) -> None:
    mistral.script(Reply("Feed me."))
    tab = await open_chat(alice, starving)
    await tab.send_json_to(send_frame("how are you?"))
    done = (await receive_until(tab, "chat.done"))[-1]["message"]
    system = streamed_requests(mistral)[-1]["messages"][0]["content"]
    assert "Your current mood: hungry" in system
    assert "bring up food" in system and "bowl is empty" in system
    assert done["mood"] == "hungry"
    reply = (await messages_of(starving))[-1]
    assert reply.mood == "hungry"
    await tab.disconnect()


async def test_the_offline_brain_speaks_in_its_mood(
    alice: Any, starving: Cat, settings: Any
) -> None:
    tab = await open_chat(alice, starving)
    texts = []
    conversation = None
    for i in range(4):
        await tab.send_json_to(send_frame(f"hello {i}", conversation=conversation))
        done = (await receive_until(tab, "chat.done"))[-1]["message"]
        conversation = done["conversation"]
        texts.append(done["text"])
    # Its urgent need shows in every reply, in words of its phrase table.
    hungry = offline.phrases("en")["needs"]["hungry"]
    assert all(any(line in t for line in hungry) for t in texts), texts
    await tab.disconnect()


# --- memories in the chat -----------------------------------------------------------------------


@database_sync_to_async
def remember(cat: Cat, *texts: str, pinned: bool = False) -> list[int]:
    from memories.services import memory_create, profile_for

    profile = profile_for(user=cat.owner, cat=cat)
    return [memory_create(profile=profile, text=t, pinned=pinned).pk for t in texts]


async def test_recalled_memories_reach_the_prompt_and_are_named_on_the_reply(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    sushi, storms = await remember(whiskers, "Loves sushi", "Is afraid of thunderstorms")
    (cello,) = await remember(whiskers, "Plays the cello", pinned=True)
    mistral.script(Reply("Sushi, obviously."))
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("What should I cook tonight?"))
    frames = await receive_until(tab, "chat.done")
    done = frames[-1]["message"]
    system = streamed_requests(mistral)[-1]["messages"][0]["content"]
    assert "What you remember about your human" in system
    assert "Loves sushi" in system and "Plays the cello" in system  # pinned: always
    assert sushi in done["memories_used"] and cello in done["memories_used"]
    assert done["memories_used"].index(cello) == 0
    reply = (await messages_of(whiskers))[-1]
    assert reply.memories_used == done["memories_used"]
    # chat.started names them with their texts, in the same order, for the page's receipts.
    (started,) = [f for f in frames if f["type"] == "chat.started"]
    texts = {sushi: "Loves sushi", storms: "Is afraid of thunderstorms", cello: "Plays the cello"}
    assert started["remembered"] == [
        {"kind": "fact", "id": i, "text": texts[i]} for i in done["memories_used"]
    ]
    await tab.disconnect()


async def test_the_cat_learns_during_the_chat_and_every_tab_hears_of_it(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("I have a dog named Rex."))
    await receive_until(tab, "chat.done")
    changed = await receive_until(tab, "memory.changed")
    assert changed[-1]["op"] == "added"
    assert "Rex" in changed[-1]["memory"]["text"]
    assert changed[-1]["memory"]["source"]["quote"]
    await tab.disconnect()


async def test_forget_that_in_the_chat_forgets_and_confirms(alice: Any, whiskers: Cat) -> None:
    lyon, _ = await remember(whiskers, "Lives in Lyon", "Loves sushi")
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("Please forget that I live in Lyon"))
    frames = await receive_until(tab, "chat.done")
    removed = [f for f in frames if f["type"] == "memory.changed"]
    assert [(f["op"], f["memory"]["id"]) for f in removed] == [("removed", lyon)]
    assert "Lyon" in frames[-1]["message"]["text"]  # the offline brain confirms what it forgot

    @database_sync_to_async
    def state() -> tuple[str, list[tuple[str, str]]]:
        from memories.models import Memory

        memory = Memory.objects.get(pk=lyon)
        return memory.status, list(memory.history.values_list("operation", "actor"))

    status, history = await state()
    assert status == "rejected"
    assert history == [("add", "cat"), ("reject", "user")]
    await tab.disconnect()
