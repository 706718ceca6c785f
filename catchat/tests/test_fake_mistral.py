"""The fake Mistral server, proven against the real mistralai SDK (no database, no Django).

Run alone with ``pytest catchat/tests/test_fake_mistral.py -p no:django``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from mistralai.client import Mistral, errors
from mistralai.client.utils import BackoffStrategy, RetryConfig

from catchat.testing.fake_mistral import (
    EMBEDDING_DIM,
    BreakMidStream,
    Fail,
    FakeMistral,
    Hang,
    RawStream,
    Reply,
    Truncate,
    embedding_for,
    split_tokens,
    sse_frame,
    stream_frames,
)

MESSAGES: list[Any] = [
    {"role": "system", "content": "You are a cat."},
    {"role": "user", "content": "Hello kitty"},
]


# The project's conftest has autouse fixtures that need pytest-django's `settings`; these tests need
# no Django at all, so the same names are overridden here with no-ops.
@pytest.fixture(autouse=True)
def _fast_offline_brain() -> None:
    """No Django settings are touched by these tests."""


@pytest.fixture(autouse=True)
def _channels_keeps_test_connections() -> None:
    """No consumers run in these tests."""


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server
    assert server.errors == []


def client(fake: FakeMistral, timeout_ms: int = 2000, **kwargs: Any) -> Mistral:
    return Mistral(api_key="test", server_url=fake.url, timeout_ms=timeout_ms, **kwargs)


def fast_retries(connection_errors: bool = False) -> RetryConfig:
    return RetryConfig(
        "backoff", BackoffStrategy(10, 50, 1.5, 5000, jitter_ms=0), connection_errors
    )


async def stream(
    mistral: Mistral, stop_after: int | None = None, seen: list[str] | None = None, **kwargs: Any
) -> tuple[list[str], list[str | None], Any]:
    """Stream one reply; returns (text tokens, finish reasons per chunk, last usage)."""
    tokens: list[str] = [] if seen is None else seen
    finishes: list[str | None] = []
    usage = None
    res = await mistral.chat.stream_async(model="mistral-small-latest", messages=MESSAGES, **kwargs)
    async with res:
        async for event in res:
            choice = event.data.choices[0]
            content = choice.delta.content
            if isinstance(content, str) and content:
                tokens.append(content)
            finishes.append(choice.finish_reason)
            usage = event.data.usage or usage
            if stop_after is not None and len(tokens) >= stop_after:
                break
    return tokens, finishes, usage


# --- tokens ---------------------------------------------------------------------------------------


def test_a_string_is_split_into_word_tokens_keeping_spaces() -> None:
    assert split_tokens("Mrrp hello there") == ["Mrrp", " hello", " there"]
    assert Reply("Mrrp hello there").tokens == ["Mrrp", " hello", " there"]
    for text in ["", "  lead", "trail \n", "a\n\nb  c"]:
        assert "".join(split_tokens(text)) == text


# --- replies --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_streamed_reply_gives_every_token_then_stop_and_usage(fake: FakeMistral) -> None:
    fake.script(Reply("Mrrp hello there"))
    async with client(fake) as mistral:
        tokens, finishes, usage = await stream(mistral, max_tokens=50)
    assert tokens == ["Mrrp", " hello", " there"]
    assert finishes == [None, None, None, None, "stop"]  # role chunk, 3 tokens, last chunk
    assert usage.completion_tokens == 3
    assert usage.prompt_tokens > 0 and usage.total_tokens == usage.prompt_tokens + 3
    (request,) = fake.requests
    assert request["path"] == "/v1/chat/completions" and request["method"] == "POST"
    assert request["headers"]["authorization"] == "Bearer test"
    body = request["body"]
    assert body["stream"] is True and body["max_tokens"] == 50
    assert body["model"] == "mistral-small-latest" and body["messages"] == MESSAGES
    assert fake.streams_started == 1 and fake.wait_for_finished(1)


@pytest.mark.asyncio
async def test_a_streamed_reply_carries_the_given_usage_and_model(fake: FakeMistral) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}
    fake.script(Reply(["Mi", "aou"], usage=usage, model="mistral-large-latest"))
    async with client(fake) as mistral:
        res = await mistral.chat.stream_async(model="mistral-small-latest", messages=MESSAGES)
        async with res:
            events = [event.data async for event in res]
    assert {e.model for e in events} == {"mistral-large-latest"}
    assert events[0].choices[0].delta.role == "assistant"
    assert events[-1].usage is not None and events[-1].usage.total_tokens == 13


@pytest.mark.asyncio
async def test_complete_async_returns_the_whole_text(fake: FakeMistral) -> None:
    fake.script(Reply(["Purr", "fect", "."]))
    async with client(fake) as mistral:
        res = await mistral.chat.complete_async(model="mistral-small-latest", messages=MESSAGES)
    assert res.choices[0].message.content == "Purrfect."
    assert res.choices[0].finish_reason == "stop"
    assert res.usage.completion_tokens == 3 and res.usage.prompt_tokens > 0
    assert fake.requests[0]["body"]["stream"] is False


@pytest.mark.asyncio
async def test_the_script_is_first_in_first_out_then_the_default(fake: FakeMistral) -> None:
    fake.script(Reply("one"), Reply("two"))
    fake.default = Reply("fallback")
    async with client(fake) as mistral:
        texts = []
        for _ in range(3):
            res = await mistral.chat.complete_async(model="m", messages=MESSAGES)
            texts.append(res.choices[0].message.content)
    assert texts == ["one", "two", "fallback"]
    assert fake.pending == 0 and len(fake.chat_requests) == 3


@pytest.mark.asyncio
async def test_the_timeout_is_per_read_not_per_call(fake: FakeMistral) -> None:
    fake.script(Reply(["a", "b", "c", "d"], first_delay=0.12, delay=0.12))
    started = time.perf_counter()
    async with client(fake, timeout_ms=300) as mistral:
        tokens, finishes, _ = await stream(mistral)
    assert time.perf_counter() - started > 0.4  # longer than the timeout, yet no timeout
    assert tokens == ["a", "b", "c", "d"] and finishes[-1] == "stop"


# --- hold: deterministic mid-stream points --------------------------------------------------------


@pytest.mark.asyncio
async def test_hold_parks_the_stream_after_its_first_token(fake: FakeMistral) -> None:
    hold = threading.Event()
    fake.script(Reply(["Once", " upon", " a", " time"], hold=hold))
    async with client(fake) as mistral:
        res = await mistral.chat.stream_async(model="m", messages=MESSAGES)
        async with res:
            it = res.__aiter__()
            assert (await it.__anext__()).data.choices[0].delta.content == ""
            assert (await it.__anext__()).data.choices[0].delta.content == "Once"
            assert await asyncio.to_thread(fake.wait_for_held, 1, 2.0)
            assert fake.streams_started == 1 and fake.streams_finished == 0
            pending = asyncio.ensure_future(it.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=0.1)
            assert not done  # nothing more until the hold is released
            hold.set()
            rest = [(await pending).data.choices[0].delta.content]
            rest += [e.data.choices[0].delta.content async for e in res]
    assert "".join(c for c in rest if isinstance(c, str)) == " upon a time"


@pytest.mark.asyncio
async def test_sdk_surprise_cancelling_a_pending_read_ends_the_stream_silently(
    fake: FakeMistral,
) -> None:
    """asyncio.wait_for() around the stream's __anext__ cancels the SDK's async generator: later
    iteration just stops, with no error and no finish_reason (looks like a truncated reply)."""
    hold = threading.Event()
    fake.script(Reply(["Once", " upon"], hold=hold))
    async with client(fake) as mistral:
        res = await mistral.chat.stream_async(model="m", messages=MESSAGES)
        async with res:
            it = res.__aiter__()
            await it.__anext__()
            await it.__anext__()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(it.__anext__(), timeout=0.05)
            hold.set()
            assert [e async for e in res] == []


@pytest.mark.asyncio
async def test_a_client_leaving_mid_stream_is_quiet(
    fake: FakeMistral, capfd: pytest.CaptureFixture[str]
) -> None:
    hold = threading.Event()
    fake.script(Reply([f" t{i}" for i in range(30)], hold=hold))
    async with client(fake) as mistral:
        tokens, finishes, _ = await stream(mistral, stop_after=1)  # leaving `async with` closes it
    assert tokens == [" t0"] and "stop" not in finishes
    hold.set()  # the fake now writes to a closed socket
    assert await asyncio.to_thread(fake.wait_for_finished, 1, 2.0)
    assert fake.errors == []
    assert capfd.readouterr().err == ""


@pytest.mark.asyncio
async def test_a_client_leaving_a_held_stream_is_seen_at_once(fake: FakeMistral) -> None:
    fake.script(Reply([f" t{i}" for i in range(30)], hold=threading.Event()))  # never released
    async with client(fake) as mistral:
        await stream(mistral, stop_after=1)
        assert await asyncio.to_thread(fake.wait_for_abandoned, 1, 1.0)
    assert fake.streams_finished == 1 and fake.errors == []


@pytest.mark.asyncio
async def test_streams_read_to_the_end_are_not_abandoned_and_share_a_connection(
    fake: FakeMistral,
) -> None:
    fake.script(Reply("one"), Reply("two"))
    async with client(fake) as mistral:
        for _ in range(2):
            res = await mistral.chat.stream_async(model="m", messages=MESSAGES)
            async with res:
                async for _ in res:
                    pass
            # The SDK's reader closes the response at [DONE], before the end of the body: the
            # connection is not reused (catchat.llm's reader reads to the end for that reason).
        await mistral.chat.complete_async(model="m", messages=MESSAGES)
        await mistral.chat.complete_async(model="m", messages=MESSAGES)
    assert fake.wait_for_finished(2) and fake.streams_abandoned == 0
    assert fake.connections == 3  # one per stream, then one for both completions


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [401, 429, 500, 503])
async def test_an_error_status_raises_sdk_error(fake: FakeMistral, status: int) -> None:
    headers = {"Retry-After": "7"} if status == 429 else None
    fake.script(Fail(status, headers=headers), Fail(status, headers=headers))
    async with client(fake) as mistral:
        with pytest.raises(errors.SDKError) as streamed:
            await mistral.chat.stream_async(model="m", messages=MESSAGES)
        with pytest.raises(errors.SDKError) as completed:
            await mistral.chat.complete_async(model="m", messages=MESSAGES)
    for err in (streamed.value, completed.value):
        assert type(err) is errors.SDKError
        assert err.status_code == status
        assert json.loads(err.body)["code"] == str(status)
        assert err.headers.get("retry-after") == ("7" if status == 429 else None)
    assert len(fake.requests) == 2  # no retries without a RetryConfig


@pytest.mark.asyncio
async def test_422_raises_http_validation_error(fake: FakeMistral) -> None:
    detail = [{"loc": ["body", "messages"], "msg": "Field required", "type": "missing"}]
    fake.script(Fail(422, body={"detail": detail}), Fail(422))
    async with client(fake) as mistral:
        with pytest.raises(errors.HTTPValidationError) as given:
            await mistral.chat.stream_async(model="m", messages=MESSAGES)
        with pytest.raises(errors.HTTPValidationError) as default:
            await mistral.chat.complete_async(model="m", messages=MESSAGES)
    assert given.value.status_code == 422
    assert given.value.data.detail is not None
    assert given.value.data.detail[0].msg == "Field required"
    assert not isinstance(given.value, errors.SDKError)
    assert default.value.data.detail


@pytest.mark.asyncio
async def test_a_hang_raises_read_timeout(fake: FakeMistral) -> None:
    fake.script(Hang(5))
    started = time.perf_counter()
    async with client(fake, timeout_ms=300) as mistral:
        with pytest.raises(httpx2.ReadTimeout):
            await mistral.chat.stream_async(model="m", messages=MESSAGES)
    assert 0.25 < time.perf_counter() - started < 1.5
    assert issubclass(httpx2.ReadTimeout, httpx2.TimeoutException)


@pytest.mark.asyncio
async def test_a_silence_mid_stream_raises_read_timeout_while_iterating(fake: FakeMistral) -> None:
    fake.script(Reply(["Mrrp", " never", " mind"], hold=threading.Event()))  # never released
    seen: list[str] = []
    async with client(fake, timeout_ms=300) as mistral:
        with pytest.raises(httpx2.ReadTimeout):
            await stream(mistral, seen=seen)
    assert seen == ["Mrrp"]


@pytest.mark.asyncio
async def test_a_stream_cut_mid_body_raises_remote_protocol_error(fake: FakeMistral) -> None:
    fake.script(BreakMidStream("Mrrp I was saying", after=2))
    seen: list[str] = []
    async with client(fake) as mistral:
        with pytest.raises(httpx2.RemoteProtocolError):
            await stream(mistral, seen=seen)
    assert seen == ["Mrrp", " I"]


@pytest.mark.asyncio
async def test_a_truncated_stream_ends_quietly_without_finish_reason(fake: FakeMistral) -> None:
    fake.script(Truncate("Mrrp I was saying", after=2), Reply("next"))
    async with client(fake) as mistral:
        tokens, finishes, usage = await stream(mistral)
        assert tokens == ["Mrrp", " I"]
        assert finishes == [None, None, None] and usage is None
        # The connection stayed usable (the response ended cleanly).
        assert (await stream(mistral))[0] == ["next"]


# --- raw streams ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stream_frames_in_a_raw_stream_are_what_the_sdk_expects(fake: FakeMistral) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    frames = stream_frames(["Mi", "aou 😺"], usage=usage, model="mistral-large-latest")
    body = b"".join(frames)
    fake.script(RawStream([body[i : i + 5] for i in range(0, len(body), 5)]))
    async with client(fake) as mistral:
        res = await mistral.chat.stream_async(model="m", messages=MESSAGES)
        async with res:
            events = [event.data async for event in res]
    assert [e.choices[0].delta.content for e in events] == ["", "Mi", "aou 😺", ""]
    assert [e.choices[0].finish_reason for e in events] == [None, None, None, "stop"]
    assert events[-1].usage is not None and events[-1].usage.total_tokens == 5
    assert {e.model for e in events} == {"mistral-large-latest"}
    assert frames[-1] == b"data: [DONE]\n\n"
    assert sse_frame({"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
    short = stream_frames(["x"], finish_reason=None, done=False)
    assert len(short) == 2 and b'"content":"x"' in short[-1] and b'finish_reason":null' in short[-1]


def _raw_post(fake: FakeMistral) -> bytes:
    """POST a streamed chat request on a raw socket; everything the fake sends until it closes
    the connection or ends the chunked body."""
    body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    received = b""
    host, port = fake.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=2) as s:
        s.sendall(head + body)
        while not received.endswith(b"0\r\n\r\n"):
            data = s.recv(65536)
            if not data:
                break
            received += data
    return received


def test_a_raw_stream_sends_each_part_as_one_chunk_byte_for_byte(fake: FakeMistral) -> None:
    parts = [b'data: {"a":', b"1}\n", b"\n: keep-alive\r\n\r", "😺".encode()[:2]]
    fake.script(RawStream(parts))
    head, _, body = _raw_post(fake).partition(b"\r\n\r\n")
    assert b"Content-Type: text/event-stream" in head and b"Transfer-Encoding: chunked" in head
    assert body == b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_raw_stream_without_chunks_ends_by_closing(fake: FakeMistral) -> None:
    parts = [b'data: {"a":', b"1}\n\n"]
    fake.script(RawStream(parts, chunked=False, delay=0.01))
    head, _, body = _raw_post(fake).partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"Transfer-Encoding" not in head
    assert body == b"".join(parts)


@pytest.mark.asyncio
async def test_a_raw_stream_can_be_held_and_cut(fake: FakeMistral) -> None:
    hold = threading.Event()
    frames = stream_frames(["Mrrp", " I", " was"])
    fake.script(RawStream(frames[:3], hold=hold, hold_after=1, cut=True))
    seen: list[str] = []
    async with client(fake) as mistral:
        task = asyncio.ensure_future(stream(mistral, seen=seen))
        assert await asyncio.to_thread(fake.wait_for_held, 1, 2.0)
        assert seen == []  # the role chunk only, so far
        hold.set()
        with pytest.raises(httpx2.RemoteProtocolError):
            await task
    assert seen == ["Mrrp", " I"]


# --- retries (only with a RetryConfig) ------------------------------------------------------------


@pytest.mark.asyncio
async def test_retry_config_retries_5xx_and_honours_retry_after(fake: FakeMistral) -> None:
    fake.script(Fail(503), Fail(429, headers={"Retry-After": "0.3"}), Reply("Fine now."))
    started = time.perf_counter()
    async with client(fake, retry_config=fast_retries()) as mistral:
        tokens, finishes, _ = await stream(mistral)
    assert "".join(tokens) == "Fine now." and finishes[-1] == "stop"
    assert len(fake.requests) == 3
    assert time.perf_counter() - started >= 0.3  # Retry-After wins over the 10-50 ms backoff


@pytest.mark.asyncio
async def test_retry_config_never_retries_a_broken_stream(fake: FakeMistral) -> None:
    fake.script(BreakMidStream("Mrrp I was saying", after=1), Reply("second"))
    async with client(fake, retry_config=fast_retries(connection_errors=True)) as mistral:
        with pytest.raises(httpx2.RemoteProtocolError):
            await stream(mistral)
    assert len(fake.requests) == 1


@pytest.mark.asyncio
async def test_retry_connection_errors_also_retries_a_timeout_before_headers(
    fake: FakeMistral,
) -> None:
    fake.script(Hang(5), Reply("after the hang"))
    async with client(fake, timeout_ms=200, retry_config=fast_retries(True)) as mistral:
        tokens, _, _ = await stream(mistral)
    assert "".join(tokens) == "after the hang" and len(fake.requests) == 2


# --- embeddings -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_embeddings_are_deterministic_unit_vectors(fake: FakeMistral) -> None:
    async with client(fake) as mistral:
        res = await mistral.embeddings.create_async(
            model="mistral-embed", inputs=["I love tuna", "Rex is a dog"]
        )
        again = await mistral.embeddings.create_async(model="mistral-embed", inputs="I love tuna")
    assert [d.index for d in res.data] == [0, 1]
    first = res.data[0].embedding
    assert len(first) == EMBEDDING_DIM and all(isinstance(x, float) for x in first)
    assert abs(sum(x * x for x in first) - 1) < 1e-9
    assert first == embedding_for("I love tuna") == again.data[0].embedding
    assert first != res.data[1].embedding
    assert res.model == "mistral-embed" and res.usage.prompt_tokens > 0
    assert fake.embedding_requests[0]["body"]["input"] == ["I love tuna", "Rex is a dog"]


@pytest.mark.asyncio
async def test_scripted_embedding_failures_use_their_own_queue(fake: FakeMistral) -> None:
    fake.script_embeddings(Fail(503))
    fake.script(Reply("chat is unaffected"))
    async with client(fake) as mistral:
        with pytest.raises(errors.SDKError) as failed:
            await mistral.embeddings.create_async(model="mistral-embed", inputs=["x"])
        ok = await mistral.embeddings.create_async(model="mistral-embed", inputs=["x"])
        chat = await mistral.chat.complete_async(model="m", messages=MESSAGES)
    assert failed.value.status_code == 503
    assert len(ok.data) == 1 and chat.choices[0].message.content == "chat is unaffected"


# --- the server itself ----------------------------------------------------------------------------


def test_an_unknown_path_is_a_json_404(fake: FakeMistral) -> None:
    conn = http.client.HTTPConnection(fake.url.removeprefix("http://"), timeout=2)
    conn.request("GET", "/v1/models")
    res = conn.getresponse()
    assert res.status == 404 and res.getheader("Content-Type") == "application/json"
    assert json.loads(res.read())["code"] == "404"
    conn.request("POST", "/v1/nope", body=b"{}", headers={"Content-Type": "application/json"})
    assert conn.getresponse().status == 404  # same keep-alive connection
    conn.close()
    assert [r["path"] for r in fake.requests] == ["/v1/models", "/v1/nope"]


def test_stop_is_prompt_even_with_hanging_and_held_responses() -> None:
    fake = FakeMistral().start()
    fake.script(Hang(30), Reply(["a", "b"], hold=threading.Event()))
    host = fake.url.removeprefix("http://")
    body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True})
    hanging = http.client.HTTPConnection(host, timeout=5)
    hanging.request("POST", "/v1/chat/completions", body=body)
    assert fake.wait_for_requests(1, 2.0)
    held = http.client.HTTPConnection(host, timeout=5)
    held.request("POST", "/v1/chat/completions", body=body)
    assert fake.wait_for_held(1, 2.0)
    started = time.perf_counter()
    fake.stop()
    assert time.perf_counter() - started < 1.0
    fake.stop()  # idempotent
    hanging.close()
    held.close()
    assert fake.errors == []


@pytest.mark.asyncio
async def test_json_mode_requests_have_their_own_script(fake: FakeMistral) -> None:
    fake.script(Reply("chat reply"))
    fake.script_json(Reply('{"facts": [1]}'))
    async with Mistral(api_key="test", server_url=fake.url) as client:
        res = await client.chat.complete_async(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_object"},
        )
        assert res.choices[0].message.content == '{"facts": [1]}'
        res = await client.chat.complete_async(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
        assert res.choices[0].message.content == "chat reply"
        res = await client.chat.complete_async(
            model="m",
            messages=[{"role": "user", "content": "x"}],
            response_format={"type": "json_object"},
        )
        assert res.choices[0].message.content == '{"facts": []}'
