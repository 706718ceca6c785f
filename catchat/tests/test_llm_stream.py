"""catchat.llm's reader of Mistral's streamed reply, through the real SDK against the fake server:
every shape the bytes can arrive in, and every way a stream can fail (STACK.md)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from catchat import llm
from catchat.testing.fake_mistral import (
    BreakMidStream,
    Fail,
    FakeMistral,
    Hang,
    RawStream,
    Reply,
    Truncate,
    sse_frame,
    stream_frames,
)

pytestmark = pytest.mark.asyncio

TEXT = "Ça ronronne 😺 très fort"  # 2-, 3- and 4-byte UTF-8 characters
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


@pytest.fixture(autouse=True)
async def _close_the_client(mistral: FakeMistral) -> AsyncIterator[None]:
    yield
    await llm.close_clients()


def request() -> llm.ChatRequest:
    return llm.ChatRequest(
        system="You are a cat.",
        turns=[llm.Turn("user", "Hello!")],
        persona=llm.Persona(name="Whiskers"),
    )


def opened() -> AsyncGenerator[llm.Token | llm.Finished, None]:
    """A reply's stream, as the async generator it is (stop closes it)."""
    return cast(AsyncGenerator[llm.Token | llm.Finished, None], llm.stream_chat(request()))


async def read(seen: list[llm.Token] | None = None) -> tuple[list[llm.Token], llm.Finished]:
    """Stream one reply: its tokens and its one Finished, the last event."""
    tokens: list[llm.Token] = [] if seen is None else seen
    finished: list[llm.Finished] = []
    async for event in llm.stream_chat(request()):
        assert not finished, "nothing may follow Finished"
        if isinstance(event, llm.Token):
            assert event.text, "no empty tokens"
            tokens.append(event)
        else:
            finished.append(event)
    assert len(finished) == 1
    return tokens, finished[0]


async def failure(seen: list[llm.Token] | None = None) -> llm.LLMError:
    with pytest.raises(llm.LLMError) as raised:
        await read(seen)
    return raised.value


def text(tokens: list[llm.Token]) -> str:
    return "".join(t.text for t in tokens)


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def multi_line(frame: bytes) -> bytes:
    """`frame`'s JSON over two `data:` lines (the second without the optional space), among
    fields a reader must skip."""
    head, tail = frame.removeprefix(b"data: ").rstrip(b"\n").split(b",", 1)
    return b"data: " + head + b",\nid: 7\ndata:" + tail + b"\nevent: message\nretry: 3000\n\n"


# --- a normal reply ------------------------------------------------------------------------------


@pytest.mark.parametrize("finish_reason", ["stop", "length"])
async def test_a_reply_streams_its_text_then_finished_with_reason_usage_and_model(
    mistral: FakeMistral, finish_reason: str
) -> None:
    reply = Reply(TEXT, usage=USAGE, model="mistral-large-2411", finish_reason=finish_reason)
    mistral.script(reply)

    tokens, finished = await read()

    assert text(tokens) == TEXT
    assert finished == llm.Finished("mistral-large-2411", USAGE, finish_reason)


async def test_content_given_as_chunks_keeps_only_their_text(mistral: FakeMistral) -> None:
    frames = stream_frames(["Mrrp"], usage=USAGE)
    chunked = {
        "id": "x",
        "model": "mistral-small-latest",
        "choices": [
            {
                "index": 0,
                "finish_reason": None,
                "delta": {
                    "content": [
                        {"type": "text", "text": " purr"},
                        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                        {"type": "from-the-future", "text": "(not said)"},
                        {"type": "text", "text": " purr"},
                    ]
                },
            }
        ],
    }
    mistral.script(RawStream([*frames[:2], sse_frame(chunked), *frames[2:]]))

    tokens, finished = await read()

    assert text(tokens) == "Mrrp purr purr" and finished.usage == USAGE


# --- reads: one token each, never held back -------------------------------------------------------


async def test_each_read_gives_one_token_with_the_text_of_all_its_events(
    mistral: FakeMistral,
) -> None:
    frames = stream_frames(["Mrrp", " hello", " there", " little", " human"])
    # role + 3 tokens in one write; 2 tokens, the last chunk and [DONE] in the next.
    mistral.script(RawStream([b"".join(frames[:4]), b"".join(frames[4:])]))

    tokens, finished = await read()

    assert [t.text for t in tokens] == ["Mrrp hello there", " little human"]
    assert finished.finish_reason == "stop"


async def test_the_first_token_comes_as_soon_as_its_read_arrives(mistral: FakeMistral) -> None:
    hold = threading.Event()
    frames = stream_frames(["Mrrp", " hello"])
    mistral.script(RawStream(frames, hold=hold, hold_after=2))  # role + "Mrrp", then silence
    stream = opened()
    try:
        first = await asyncio.wait_for(anext(stream), timeout=1.0)
        assert first == llm.Token("Mrrp")
        assert mistral.streams_held == 1 and mistral.streams_finished == 0
        hold.set()
        rest = [event async for event in stream]
    finally:
        hold.set()
        await stream.aclose()
    assert rest[0] == llm.Token(" hello") and isinstance(rest[-1], llm.Finished)


# --- bytes split anywhere -------------------------------------------------------------------------


def _cut_inside(data: bytes, char: str) -> list[bytes]:
    """`data` in three parts cut after the first and second byte of `char`'s UTF-8."""
    at = data.index(char.encode())
    return [data[: at + 1], data[at + 1 : at + 2], data[at + 2 :]]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
async def test_events_split_at_any_byte_decode_the_same(mistral: FakeMistral, size: int) -> None:
    body = b"".join(stream_frames(TEXT, usage=USAGE))
    mistral.script(RawStream(split_every(body, size)))

    tokens, finished = await read()

    assert text(tokens) == TEXT and finished.usage == USAGE


@pytest.mark.parametrize("char", ["Ç", "😺", "è"])
@pytest.mark.parametrize("chunked", [True, False], ids=["http-chunks", "tcp-writes"])
async def test_a_read_ending_inside_a_utf8_character_waits_for_the_rest(
    mistral: FakeMistral, char: str, chunked: bool
) -> None:
    body = b"".join(stream_frames(TEXT, usage=USAGE))
    # Without HTTP chunks, each part is one TCP write; 20 ms apart, one network read each.
    mistral.script(RawStream(_cut_inside(body, char), chunked=chunked, delay=0.02))

    tokens, finished = await read()

    assert text(tokens) == TEXT and finished.finish_reason == "stop"


@pytest.mark.parametrize("newline", [b"\r\n", b"\r"], ids=["crlf", "cr"])
async def test_crlf_and_cr_line_endings_even_split_between_cr_and_lf(
    mistral: FakeMistral, newline: bytes
) -> None:
    frames = stream_frames(TEXT, usage=USAGE)
    frames[2] = multi_line(frames[2])  # a CR LF split in two must not end its first line twice
    body = b"".join(frames).replace(b"\n", newline)
    mistral.script(RawStream(split_every(body, 1)))

    tokens, finished = await read()

    assert text(tokens) == TEXT and finished.usage == USAGE


async def test_multi_line_data_other_fields_and_a_bom_are_read_as_the_sdk_does(
    mistral: FakeMistral,
) -> None:
    _, first, second, *rest = stream_frames(["Mrrp", " hello"], usage=USAGE)
    mistral.script(RawStream([b"\xef\xbb\xbf" + first, multi_line(second), *rest]))  # no role

    tokens, finished = await read()

    assert text(tokens) == "Mrrp hello" and finished.usage == USAGE


async def test_keep_alive_comments_and_data_less_events_are_ignored(
    mistral: FakeMistral,
) -> None:
    role, first, *rest = stream_frames(["Mrrp", " hello"], usage=USAGE)
    keep_alive = b": keep-alive\n\n"
    with_comment = b": ping\n" + first  # a comment line inside an event
    mistral.script(
        RawStream([keep_alive, role, keep_alive, with_comment, b"event: ping\n\n", *rest])
    )

    tokens, finished = await read()

    assert text(tokens) == "Mrrp hello" and finished.usage == USAGE


# --- error statuses (the SDK raises, retries 5xx, before the stream starts) -----------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "llm_auth"), (403, "llm_auth"), (400, "llm_bad_request"), (422, "llm_bad_request")],
)
async def test_a_refused_request_is_mapped_and_not_retried(
    mistral: FakeMistral, status: int, code: str
) -> None:
    mistral.default = Fail(status)

    error = await failure()

    assert error.code == code and error.retry_after is None
    assert len(mistral.chat_requests) == 1


async def test_429_is_rate_limited_with_retry_after_and_not_retried(mistral: FakeMistral) -> None:
    mistral.default = Fail(429, headers={"Retry-After": "7"})

    error = await failure()

    assert error.code == "rate_limited" and error.retry_after == 7
    assert len(mistral.chat_requests) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_unavailable_after_the_sdks_retries(
    mistral: FakeMistral, settings: SettingsWrapper, status: int
) -> None:
    settings.MISTRAL_MAX_RETRIES = 1  # a 0.5 s retry budget
    mistral.default = Fail(status)

    error = await failure()

    assert error.code == "llm_unavailable" and str(status) in str(error)
    assert len(mistral.chat_requests) >= 2


async def test_a_5xx_then_a_reply_streams_the_reply(mistral: FakeMistral) -> None:
    mistral.script(Fail(503), Reply(TEXT))

    tokens, finished = await read()

    assert text(tokens) == TEXT and finished.finish_reason == "stop"
    assert len(mistral.chat_requests) == 2


# --- timeouts (per read) --------------------------------------------------------------------------


@pytest.fixture
def short_timeout(settings: SettingsWrapper) -> None:
    settings.MISTRAL_TIMEOUT_MS = 300
    settings.MISTRAL_MAX_RETRIES = 0


@pytest.mark.usefixtures("short_timeout")
async def test_a_timeout_before_the_headers(mistral: FakeMistral) -> None:
    mistral.script(Hang(5))

    error = await failure()

    assert error.code == "llm_timeout"


@pytest.mark.usefixtures("short_timeout")
async def test_a_timeout_after_the_headers_before_the_first_token(mistral: FakeMistral) -> None:
    mistral.script(Reply(["late"], first_delay=5))  # headers and the role chunk, then nothing
    seen: list[llm.Token] = []

    error = await failure(seen)

    assert error.code == "llm_timeout" and seen == []


@pytest.mark.usefixtures("short_timeout")
async def test_a_timeout_mid_stream(mistral: FakeMistral) -> None:
    mistral.script(Reply(["Mrrp", " never", " mind"], hold=threading.Event()))  # never released
    seen: list[llm.Token] = []
    started = time.perf_counter()

    error = await failure(seen)

    assert error.code == "llm_timeout" and text(seen) == "Mrrp"
    assert 0.25 < time.perf_counter() - started < 2.0


# --- broken and short streams ---------------------------------------------------------------------


async def test_a_connection_cut_mid_stream_is_unavailable(mistral: FakeMistral) -> None:
    mistral.script(BreakMidStream("Mrrp I was saying", after=2))
    seen: list[llm.Token] = []

    error = await failure(seen)

    assert error.code == "llm_unavailable" and text(seen) == "Mrrp I"


async def test_a_connection_cut_inside_an_event_is_unavailable(mistral: FakeMistral) -> None:
    role, first, second, *_ = stream_frames(["Mrrp", " I", " was"])
    mistral.script(RawStream([role, first, second[:20]], cut=True))
    seen: list[llm.Token] = []

    error = await failure(seen)

    assert error.code == "llm_unavailable" and text(seen) == "Mrrp"


async def test_a_stream_ending_without_finish_reason_is_truncated(mistral: FakeMistral) -> None:
    mistral.script(Truncate("Mrrp I was saying", after=2))
    seen: list[llm.Token] = []

    error = await failure(seen)

    assert error.code == "llm_truncated" and text(seen) == "Mrrp I"


async def test_done_without_finish_reason_is_truncated(mistral: FakeMistral) -> None:
    mistral.script(RawStream(stream_frames(["Mrrp", " I"], finish_reason=None, done=True)))

    error = await failure()

    assert error.code == "llm_truncated"


async def test_a_body_ending_inside_an_event_is_truncated(mistral: FakeMistral) -> None:
    frames = stream_frames(["Mrrp", " I"], usage=USAGE)
    last = frames[-2]  # the chunk with finish_reason, cut short; the body then ends cleanly
    mistral.script(RawStream([*frames[:-2], last[: len(last) // 2]]))

    error = await failure()

    assert error.code == "llm_truncated"


@pytest.mark.parametrize("blank_line", [True, False], ids=["whole", "no-blank-line"])
async def test_finish_reason_without_done_is_a_complete_reply(
    mistral: FakeMistral, blank_line: bool
) -> None:
    frames = stream_frames(TEXT, usage=USAGE, done=False)
    if not blank_line:  # the body ends right after the last event's JSON (the SDK reads it too)
        frames[-1] = frames[-1].rstrip(b"\n")
    mistral.script(RawStream(frames))

    tokens, finished = await read()

    assert text(tokens) == TEXT and finished == llm.Finished("mistral-small-latest", USAGE)


async def test_a_connection_cut_after_finish_reason_still_finishes(mistral: FakeMistral) -> None:
    frames = stream_frames(TEXT, usage=USAGE, done=False)
    mistral.script(RawStream(frames, cut=True))

    tokens, finished = await read()

    assert text(tokens) == TEXT and finished == llm.Finished("mistral-small-latest", USAGE)


async def test_usage_in_an_event_after_finish_reason_counts(mistral: FakeMistral) -> None:
    frames = stream_frames(["Mrrp"], usage=USAGE)
    role, token, last, done = frames
    without_usage = last.replace(
        b',"usage":' + json.dumps(USAGE, separators=(",", ":")).encode(), b""
    )
    usage_only = sse_frame(
        {"id": "x", "model": "mistral-small-latest", "choices": [], "usage": USAGE}
    )
    assert without_usage != last
    mistral.script(RawStream([role + token + without_usage, usage_only, done]))

    tokens, finished = await read()

    assert text(tokens) == "Mrrp" and finished.usage == USAGE


async def test_nothing_after_done_is_read(mistral: FakeMistral) -> None:
    frames = stream_frames(["Mrrp"], usage=USAGE)
    mistral.script(RawStream([*frames, sse_frame({"choices": "not even a chunk"})]))

    tokens, finished = await read()

    assert text(tokens) == "Mrrp" and finished.usage == USAGE


# --- unusable events and errors reported in the stream --------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        b'data: {"id": "x", "choices": [{"delta": {"content": "oops"\n\n',
        b"data: not json at all\n\n",
        b"data: [1, 2, 3]\n\n",
        sse_frame({"id": "x", "model": "m", "choices": "not a list"}),
        sse_frame({"id": "x", "model": "m", "choices": [{"delta": {"content": [7]}}]}),
    ],
    ids=["cut-json", "not-json", "not-an-object", "choices-not-a-list", "chunk-not-an-object"],
)
async def test_a_malformed_event_is_unavailable_after_the_text_before_it(
    mistral: FakeMistral, event: bytes
) -> None:
    role, first, *rest = stream_frames(["Mrrp", " after"])
    mistral.script(RawStream([role + first + event, *rest]))
    seen: list[llm.Token] = []

    error = await failure(seen)

    assert error.code == "llm_unavailable" and text(seen) == "Mrrp"


@pytest.mark.parametrize(
    "event",
    [
        sse_frame({"object": "error", "message": "Internal error", "type": "internal", "code": 1}),
        sse_frame({"error": {"message": "overloaded", "code": 503}}),
        b'event: error\ndata: {"message": "overloaded"}\n\n',
    ],
    ids=["error-object", "error-member", "error-event"],
)
async def test_an_error_reported_mid_stream_is_unavailable(
    mistral: FakeMistral, event: bytes
) -> None:
    role, first, *rest = stream_frames(["Mrrp", " after"])
    mistral.script(RawStream([role, first, event, *rest]))
    seen: list[llm.Token] = []

    error = await failure(seen)

    assert error.code == "llm_unavailable" and text(seen) == "Mrrp"


async def test_finish_reason_error_is_unavailable_not_finished(mistral: FakeMistral) -> None:
    mistral.script(Reply("Mrrp I", finish_reason="error"))
    seen: list[llm.Token] = []

    error = await failure(seen)

    assert error.code == "llm_unavailable" and text(seen) == "Mrrp I"


# --- stop and the connection ----------------------------------------------------------------------


async def test_closing_the_stream_early_closes_the_upstream_response(
    mistral: FakeMistral,
) -> None:
    mistral.script(Reply([f" t{i}" for i in range(30)], hold=threading.Event()))  # never released
    stream = opened()
    assert await anext(stream) == llm.Token(" t0")

    await stream.aclose()

    assert await asyncio.to_thread(mistral.wait_for_abandoned, 1, 1.0)
    assert mistral.errors == []


async def test_cancelling_the_reader_closes_the_upstream_response(mistral: FakeMistral) -> None:
    mistral.script(Reply([f" t{i}" for i in range(30)], hold=threading.Event()))
    first = asyncio.Event()

    async def pump() -> None:  # as cats.chat.stream's pump, cancelled on stop
        async for _ in llm.stream_chat(request()):
            first.set()

    task = asyncio.create_task(pump())
    await asyncio.wait_for(first.wait(), 1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await asyncio.to_thread(mistral.wait_for_abandoned, 1, 1.0)


async def test_a_finished_reply_leaves_its_connection_for_the_next(mistral: FakeMistral) -> None:
    mistral.script(Reply(TEXT), Reply(TEXT), Reply(TEXT))

    for _ in range(3):
        tokens, _ = await read()
        assert text(tokens) == TEXT

    # Read to the end of its body after [DONE], each reply hands its connection back to the
    # pool (the SDK's own reader closed it: a new connection, and TLS handshake, per reply).
    assert mistral.connections == 1


@pytest.mark.parametrize("done", [True, False], ids=["after-done", "after-finish-reason"])
async def test_a_body_left_open_after_the_reply_is_not_waited_for(
    mistral: FakeMistral, done: bool
) -> None:
    frames = stream_frames(TEXT, usage=USAGE, done=done)
    mistral.script(RawStream(frames, hold=threading.Event(), hold_after=len(frames)))
    started = time.perf_counter()

    tokens, finished = await read()

    assert text(tokens) == TEXT and finished.usage == USAGE
    assert time.perf_counter() - started < 1.0  # the read timeout is 1.5 s
