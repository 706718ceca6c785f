"""Every limit of the chat socket, one test each: the `error` frame's code and detail, the socket
still answering afterwards, and nothing saved from the refused frame. Then the one limit that
does close the socket: a client that keeps sending garbage (1008).

Real consumer and PostgreSQL; the fake Mistral server only where a reply must be held open.
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

from catchat.testing.fake_mistral import Reply
from cats import chat
from cats.consumers import BAD_FRAMES_PER_MINUTE, MAX_FRAME_CHARS
from cats.models import Cat, Conversation, Message
from cats.services import ChatInputError, clean_text
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


@database_sync_to_async
def saved(cat: Cat) -> tuple[int, int]:
    """(conversations, messages) of the cat: what a refused frame must leave alone."""
    return (
        Conversation.objects.filter(cat=cat).count(),
        Message.objects.filter(conversation__cat=cat).count(),
    )


@database_sync_to_async
def user_texts(cat: Cat) -> list[str]:
    return list(
        Message.objects.filter(conversation__cat=cat, role=Message.Role.USER)
        .order_by("created_at", "id")
        .values_list("text", flat=True)
    )


# Frames a tab gets from the (user, cat) group, whatever it sends: a finished turn may still be
# followed by the vitals it moved and the memories it taught.
BROADCASTS = frozenset({"cat.state", "memory.changed"})


async def next_frame(comm: WebsocketCommunicator) -> dict[str, Any]:
    """The next frame that answers what this tab sent (broadcasts skipped)."""
    while True:
        frame: dict[str, Any] = await comm.receive_json_from(timeout=5)
        if frame["type"] not in BROADCASTS:
            return frame


async def refused(comm: WebsocketCommunicator, raw: str | bytes, code: str) -> dict[str, Any]:
    """Send one raw frame; it must be answered by an `error` of `code`, and nothing else."""
    if isinstance(raw, bytes):
        await comm.send_to(bytes_data=raw)
    else:
        await comm.send_to(text_data=raw)
    frame = await next_frame(comm)
    assert frame["type"] == "error", frame
    assert frame["code"] == code, frame
    return frame


async def ping_pong(comm: WebsocketCommunicator) -> None:
    """The socket is open and still reads frames."""
    await comm.send_json_to({"type": "ping"})
    assert await next_frame(comm) == {"type": "pong"}


async def assert_refused_and_alive(
    alice: Any, cat: Cat, raw: str | bytes, code: str
) -> dict[str, Any]:
    """A fresh socket refuses `raw` with `code`, saves nothing and still answers a ping."""
    before = await saved(cat)
    tab = await open_chat(alice, cat)
    frame = await refused(tab, raw, code)
    await ping_pong(tab)
    assert await saved(cat) == before
    await tab.disconnect()
    return frame


# --- message length -------------------------------------------------------------------------


async def test_a_message_over_4000_characters_is_too_long(alice: Any, whiskers: Cat) -> None:
    frame = await assert_refused_and_alive(
        alice, whiskers, json.dumps(send_frame("x" * 4001)), "too_long"
    )
    assert frame["detail"] == "That message is 4001 characters; the limit is 4000."


async def test_the_length_is_counted_after_trimming_and_cleaning(alice: Any, whiskers: Cat) -> None:
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("  " + "x" * 4000 + "\x07" * 50 + "\n "))
    await receive_until(tab, "chat.done")
    assert await user_texts(whiskers) == ["x" * 4000]
    await tab.disconnect()


# --- frame size -------------------------------------------------------------------------------


async def test_a_frame_over_64_kib_is_refused_unread(alice: Any, whiskers: Cat) -> None:
    # Deeply nested brackets would be a bad_frame if parsed: the size is checked first.
    frame = await assert_refused_and_alive(
        alice, whiskers, "[" * (MAX_FRAME_CHARS + 1), "frame_too_large"
    )
    assert frame["detail"] == "That frame is 64 KiB; frames are at most 64 KiB."
    oversized = json.dumps(send_frame("x" * 70_000))
    frame = await assert_refused_and_alive(alice, whiskers, oversized, "frame_too_large")
    assert "at most 64 KiB" in frame["detail"]
    assert await assert_refused_and_alive(alice, whiskers, oversized.encode(), "frame_too_large")


async def test_a_frame_of_exactly_64_kib_is_read(alice: Any, whiskers: Cat) -> None:
    frame = send_frame("hello")
    raw = json.dumps(frame)
    padded = raw[:-1] + ', "pad": "' + "p" * (MAX_FRAME_CHARS - len(raw) - 11) + '"}'
    assert len(padded) == MAX_FRAME_CHARS
    tab = await open_chat(alice, whiskers)
    await tab.send_to(text_data=padded)
    frames = await receive_until(tab, "chat.done")
    assert frames[0]["type"] == "chat.accepted"
    await tab.disconnect()


# --- JSON and frame types ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("not json", id="text"),
        pytest.param('{"type": "ping"', id="cut-short"),
        pytest.param("[" * 60_000, id="nested-too-deep"),
        pytest.param("1" * 5000, id="huge-number"),
        pytest.param(b"\xff\xfe\x00garbage", id="binary"),
    ],
)
async def test_invalid_json_is_a_bad_frame(alice: Any, whiskers: Cat, raw: str | bytes) -> None:
    frame = await assert_refused_and_alive(alice, whiskers, raw, "bad_frame")
    assert frame["detail"] == "Frames must be JSON objects."


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("[1, 2]", id="array"),
        pytest.param('"ping"', id="string"),
        pytest.param("null", id="null"),
        pytest.param('{"text": "hi"}', id="no-type"),
        pytest.param('{"type": 7}', id="type-not-a-string"),
    ],
)
async def test_a_frame_must_be_an_object_with_a_type(alice: Any, whiskers: Cat, raw: str) -> None:
    frame = await assert_refused_and_alive(alice, whiskers, raw, "bad_frame")
    assert frame["detail"] == "Frames are JSON objects with a `type`."


async def test_an_unknown_type_is_a_bad_frame_named_briefly(alice: Any, whiskers: Cat) -> None:
    frame = await assert_refused_and_alive(
        alice, whiskers, json.dumps({"type": "chat.dance"}), "bad_frame"
    )
    assert frame["detail"] == "Unknown frame type 'chat.dance'."
    # A long type is cut; a lone surrogate in it is escaped (it could not be sent as UTF-8).
    frame = await assert_refused_and_alive(
        alice, whiskers, json.dumps({"type": "\ud800" + "z" * 1000}), "bad_frame"
    )
    assert frame["detail"] == "Unknown frame type '\\ud800" + "z" * 39 + "'."


# --- field types ------------------------------------------------------------------------------

CLIENT_ID = str(uuid.uuid4())
WRONG_FIELDS = [
    ({**send_frame("hi"), "text": 5}, "`text` must be a string."),
    ({**send_frame("hi"), "text": None}, "`text` must be a string."),
    ({**send_frame("hi"), "text": ["hi"]}, "`text` must be a string."),
    ({"type": "chat.send", "client_id": CLIENT_ID}, "`text` is required: a string."),
    ({"type": "chat.send", "text": "hi"}, "`client_id` is required: a UUID string."),
    ({**send_frame("hi"), "client_id": 7}, "`client_id` must be a UUID string."),
    ({**send_frame("hi"), "client_id": "not-a-uuid"}, "`client_id` must be a UUID string."),
    (
        {**send_frame("hi"), "conversation": "7"},
        "`conversation` must be a conversation id or null.",
    ),
    (
        {**send_frame("hi"), "conversation": True},
        "`conversation` must be a conversation id or null.",
    ),
    (
        {**send_frame("hi"), "conversation": 1.0},
        "`conversation` must be a conversation id or null.",
    ),
    ({**send_frame("hi"), "conversation": 0}, "`conversation` must be a conversation id or null."),
    (
        {**send_frame("hi"), "conversation": 2**64},
        "`conversation` must be a conversation id or null.",
    ),
    ({"type": "chat.stop", "conversation": "1"}, "`conversation` must be a conversation id."),
    ({"type": "chat.stop", "conversation": False}, "`conversation` must be a conversation id."),
    (
        {"type": "chat.regenerate", "conversation": True},
        "`conversation` must be a conversation id.",
    ),
    ({"type": "chat.regenerate", "conversation": -3}, "`conversation` must be a conversation id."),
    ({"type": "chat.regenerate", "message_id": "5"}, "`message_id` must be a message id."),
    ({"type": "chat.keep", "message_id": True}, "`message_id` must be a message id."),
    ({"type": "cat.action"}, "`action` is required: one of feed, play, pet, sleep."),
    ({"type": "cat.action", "action": 1}, "`action` must be one of feed, play, pet, sleep."),
    ({"type": "cat.action", "action": "dance"}, "`action` must be one of feed, play, pet, sleep."),
]


@pytest.mark.parametrize(("frame", "detail"), WRONG_FIELDS)
async def test_a_field_of_the_wrong_type_is_a_bad_frame(
    alice: Any, whiskers: Cat, frame: dict[str, Any], detail: str
) -> None:
    error = await assert_refused_and_alive(alice, whiskers, json.dumps(frame), "bad_frame")
    assert error["detail"] == detail


async def test_the_client_id_of_a_refused_message_is_echoed_only_when_it_is_one(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    error = await refused(tab, json.dumps({**send_frame("hi"), "text": 5}), "bad_frame")
    assert uuid.UUID(error["client_id"])
    error = await refused(
        tab, json.dumps({**send_frame("hi"), "client_id": "x" * 500}), "bad_frame"
    )
    assert "client_id" not in error
    await tab.disconnect()


# --- control characters, NUL, surrogates ------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [pytest.param("hi\x00there", id="nul"), pytest.param("hi \ud83d there", id="lone-surrogate")],
)
async def test_text_postgresql_cannot_store_is_a_bad_frame(
    alice: Any, whiskers: Cat, text: str
) -> None:
    frame = await assert_refused_and_alive(
        alice, whiskers, json.dumps(send_frame(text)), "bad_frame"
    )
    assert frame["detail"] == "`text` must not contain NUL characters or lone surrogates."


async def test_other_control_characters_are_removed_before_saving(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("\x1b[31mred\x1b[0m\r\nline\ttab\x85\x9f\x7f 😺"))
    frames = await receive_until(tab, "chat.done")
    assert frames[0]["message"]["text"] == "[31mred[0m\nline\ttab 😺"
    assert await user_texts(whiskers) == ["[31mred[0m\nline\ttab 😺"]
    # Only control characters: nothing left to say.
    frame = await refused(tab, json.dumps(send_frame("\x01\x02\x1f")), "empty")
    assert frame["detail"] == "Say something first: the message is empty."
    await ping_pong(tab)
    assert len(await user_texts(whiskers)) == 1
    await tab.disconnect()


async def test_clean_text_is_what_rest_uses_too() -> None:
    # POST chat/ goes through the same function (cats.chat_api).
    assert clean_text(" a\x0bb\x1b\t") == "ab"
    for text in ("a\x00b", "a\udfffb"):
        with pytest.raises(ChatInputError) as raised:
            clean_text(text)
        assert raised.value.code == "bad_frame"


# --- messages per minute ----------------------------------------------------------------------


async def test_too_many_messages_a_minute_are_rate_limited_on_every_tab(
    alice: Any, whiskers: Cat, settings: Any
) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    tab = await open_chat(alice, whiskers)
    for text in ("one", "two"):
        await tab.send_json_to(send_frame(text))
        await receive_until(tab, "chat.done")
    before = await saved(whiskers)
    client_id = str(uuid.uuid4())
    frame = await refused(tab, json.dumps(send_frame("three", client_id=client_id)), "rate_limited")
    assert frame["client_id"] == client_id
    assert 55 <= frame["retry_after"] <= 60
    assert frame["detail"] == (
        f"Whiskers reads at most 2 messages a minute: try again in {frame['retry_after']} s."
    )
    await ping_pong(tab)
    # The limit is the user's, not the tab's.
    other = await open_chat(alice, whiskers)
    await refused(other, json.dumps(send_frame("four")), "rate_limited")
    assert await saved(whiskers) == before
    assert await user_texts(whiskers) == ["one", "two"]
    await other.disconnect()
    await tab.disconnect()


async def test_the_rate_limit_is_per_user(
    alice: Any, bob: Any, whiskers: Cat, settings: Any
) -> None:
    settings.CHAT_MESSAGES_PER_MINUTE = 1
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("one"))
    await receive_until(tab, "chat.done")
    await refused(tab, json.dumps(send_frame("two")), "rate_limited")
    bobs_cat = await database_sync_to_async(CatFactory.create)(owner=bob)
    bobs_tab = await open_chat(bob, bobs_cat)
    await bobs_tab.send_json_to(send_frame("hi"))
    assert (await receive_until(bobs_tab, "chat.done"))[0]["type"] == "chat.accepted"
    await bobs_tab.disconnect()
    await tab.disconnect()


# --- one reply at a time ----------------------------------------------------------------------


async def test_a_message_while_the_cat_answers_there_is_busy_and_unsaved(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    hold = threading.Event()
    mistral.script(Reply(["Mrr", "ow"], hold=hold))
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(send_frame("first"))
    frames = await receive_until(tab, "chat.delta")
    conversation = frames[0]["message"]["conversation"]
    before = await saved(whiskers)
    client_id = str(uuid.uuid4())
    frame = await refused(tab, json.dumps(send_frame("second", conversation, client_id)), "busy")
    assert frame["detail"] == (
        "The cat is still answering in this conversation: wait or stop it first."
    )
    assert frame["client_id"] == client_id
    await ping_pong(tab)
    assert await saved(whiskers) == before
    hold.set()
    await receive_until(tab, "chat.done")
    assert await user_texts(whiskers) == ["first"]
    await tab.disconnect()


# --- a client that keeps sending garbage ------------------------------------------------------


async def test_ten_bad_frames_within_a_minute_close_the_socket_with_1008(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    for _ in range(BAD_FRAMES_PER_MINUTE - 1):
        await refused(tab, "garbage", "bad_frame")
    await ping_pong(tab)  # nine is still a client having a bad day
    await refused(tab, "x" * (MAX_FRAME_CHARS + 1), "frame_too_large")
    why = await tab.receive_json_from()
    assert why == {
        "type": "error",
        "code": "too_many_errors",
        "detail": "10 bad frames within a minute: closing the connection.",
    }
    assert await tab.receive_output() == {"type": "websocket.close", "code": 1008}
    assert await saved(whiskers) == (0, 0)
    await tab.disconnect()


async def test_mistakes_a_person_can_fix_never_close_the_socket(alice: Any, whiskers: Cat) -> None:
    tab = await open_chat(alice, whiskers)
    for _ in range(BAD_FRAMES_PER_MINUTE + 2):
        await refused(tab, json.dumps(send_frame("x" * 4001)), "too_long")
        await refused(tab, json.dumps(send_frame(" ")), "empty")
    await ping_pong(tab)
    assert await saved(whiskers) == (0, 0)
    await tab.disconnect()
