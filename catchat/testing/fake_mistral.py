"""A fake Mistral HTTP server for tests and benchmarks (stdlib only).

The real ``mistralai`` SDK talks to it over TCP on 127.0.0.1, exactly as it talks to the real API;
only the network peer is fake. It answers:

- ``POST /v1/chat/completions``: the next scripted behaviour (FIFO, see :meth:`FakeMistral.script`),
  or :attr:`FakeMistral.default` when the script is empty. Streamed as SSE when the request has
  ``"stream": true``, as one JSON completion otherwise.
- ``POST /v1/embeddings``: a deterministic, L2-normalised 1024-dim vector per input (see
  :func:`embedding_for`), unless a failure was queued with :meth:`FakeMistral.script_embeddings`.
- anything else: 404 with a JSON body.

Behaviours: :class:`Reply`, :class:`Fail`, :class:`Hang`, :class:`BreakMidStream`,
:class:`Truncate`, and :class:`RawStream` (SSE bytes sent as given, for the edge cases of a
stream reader; :func:`stream_frames` makes the frames of a normal reply to cut up).

Usage::

    with FakeMistral() as fake:
        fake.script(Reply("Mrrp hello there"), Fail(429, headers={"Retry-After": "7"}))
        client = Mistral(api_key="test", server_url=fake.url, timeout_ms=1000)
        ...
        assert fake.requests[-1]["body"]["stream"] is True

The server is an ``http.server.ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive, one daemon
thread per connection, ``TCP_NODELAY`` on every accepted socket (without it Nagle's algorithm adds
~40 ms stalls to the small SSE writes). Clients that go away mid-response are expected and never
print anything; they are counted (:attr:`FakeMistral.streams_abandoned`), and so are the TCP
connections accepted (:attr:`FakeMistral.connections`, to tell whether a client reuses them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import select
import selectors
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = [
    "EMBEDDING_DIM",
    "Behaviour",
    "BreakMidStream",
    "Fail",
    "FakeMistral",
    "Hang",
    "RawStream",
    "Reply",
    "Truncate",
    "embedding_for",
    "split_tokens",
    "sse_frame",
    "stream_frames",
]

EMBEDDING_DIM = 1024
DEFAULT_MODEL = "mistral-small-latest"
EMBED_MODEL = "mistral-embed"

_TOKEN_RE = re.compile(r"\s*\S+")


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into word tokens that keep their leading whitespace.

    ``"Mrrp hello there"`` gives ``["Mrrp", " hello", " there"]``; ``"".join(result) == text``
    always holds (trailing whitespace sticks to the last token).
    """
    tokens = _TOKEN_RE.findall(text)
    tail = text[sum(len(t) for t in tokens) :]
    if tail:
        if tokens:
            tokens[-1] += tail
        else:
            tokens.append(tail)
    return tokens


def _as_tokens(tokens: list[str] | str) -> list[str]:
    return split_tokens(tokens) if isinstance(tokens, str) else list(tokens)


def embedding_for(text: str) -> list[float]:
    """The fake's embedding of ``text``: 1024 floats derived from a hash, L2-normalised.

    Deterministic across processes; unrelated to meaning (equal texts give equal vectors).
    """
    raw = hashlib.shake_256(text.encode("utf-8")).digest(2 * EMBEDDING_DIM)
    values = struct.unpack(f"<{EMBEDDING_DIM}h", raw)
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [v / norm for v in values]


def _rough_token_count(value: Any) -> int:
    """About one token per four characters of text, at least 1."""
    if value is None:
        return 1
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return max(1, round(len(text) / 4))


def _chunk_payload(
    cid: str, model: str, created: int, delta: dict[str, Any], finish: str | None
) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def sse_frame(payload: Any) -> bytes:
    """One SSE event, ``data: <compact JSON>\\n\\n``, as the fake (and Mistral) sends it; the
    JSON keeps non-ASCII characters as UTF-8 bytes."""
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return b"data: " + data + b"\n\n"


def stream_frames(
    tokens: list[str] | str,
    *,
    model: str = DEFAULT_MODEL,
    usage: dict[str, Any] | None = None,
    finish_reason: str | None = "stop",
    done: bool = True,
) -> list[bytes]:
    """The SSE frames of a streamed reply, as :class:`Reply` sends them: the role chunk, one chunk
    per token, the last chunk with ``finish_reason`` and ``usage`` (left out when
    ``finish_reason`` is ``None``), then ``data: [DONE]`` (unless ``done`` is false). ``usage``
    defaults to 7 prompt tokens and one completion token per token. For :class:`RawStream`."""
    tokens = _as_tokens(tokens)
    cid, created = uuid.uuid4().hex, int(time.time())
    frames = [
        sse_frame(_chunk_payload(cid, model, created, {"role": "assistant", "content": ""}, None))
    ]
    frames += [sse_frame(_chunk_payload(cid, model, created, {"content": t}, None)) for t in tokens]
    if finish_reason is not None:
        last = _chunk_payload(cid, model, created, {"content": ""}, finish_reason)
        last["usage"] = usage or {
            "prompt_tokens": 7,
            "completion_tokens": len(tokens),
            "total_tokens": 7 + len(tokens),
        }
        frames.append(sse_frame(last))
    if done:
        frames.append(b"data: [DONE]\n\n")
    return frames


# --- behaviours -----------------------------------------------------------------------------------


@dataclass
class Reply:
    """A successful completion.

    Streamed (request ``stream: true``) as SSE: a first chunk with ``delta`` ``{"role":
    "assistant", "content": ""}``, one chunk per token with ``finish_reason: null``, a last chunk
    with ``finish_reason`` and ``usage``, then ``data: [DONE]``. Non-streamed: one JSON completion
    whose content is ``"".join(tokens)``.

    - ``tokens``: a list, or a string split into word tokens (see :func:`split_tokens`).
    - ``delay``: seconds between two tokens; ``first_delay``: seconds before the first content
      token (after the headers and the role chunk).
    - ``usage``: sent as is; by default ``prompt_tokens`` is a rough count of the request's
      messages and ``completion_tokens == len(tokens)``.
    - ``hold``: after the first token, wait until this event is set before sending the rest
      (non-streamed: wait before answering at all). :meth:`FakeMistral.wait_for_held` tells when a
      stream is parked there.
    """

    tokens: list[str] | str = "Mrrp! Hello there."
    delay: float = 0.0
    first_delay: float = 0.0
    usage: dict[str, Any] | None = None
    model: str = DEFAULT_MODEL
    hold: threading.Event | None = None
    finish_reason: str = "stop"

    def __post_init__(self) -> None:
        self.tokens = _as_tokens(self.tokens)

    @property
    def text(self) -> str:
        """The whole reply text."""
        return "".join(self.tokens)


@dataclass
class Fail:
    """An error response with a JSON body (default: a Mistral-like error object; for 422 a
    ``{"detail": [...]}`` validation body). ``headers`` are added as given, e.g.
    ``Fail(429, headers={"Retry-After": "7"})``."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None

    def json_body(self) -> dict[str, Any]:
        """The body that is sent."""
        if self.body is not None:
            return self.body
        if self.status == 422:
            return {
                "detail": [{"loc": ["body", "model"], "msg": "Field required", "type": "missing"}]
            }
        return {
            "object": "error",
            "message": f"Fake Mistral error {self.status}",
            "type": "fake_error",
            "param": None,
            "code": str(self.status),
        }


@dataclass
class Hang:
    """Read the request, send nothing for ``seconds``, then close the connection (the client
    should have given up with a read timeout by then). :meth:`FakeMistral.stop` cuts it short."""

    seconds: float


@dataclass
class BreakMidStream:
    """Start a chunked SSE stream, send the role chunk and the first ``after`` token chunks, then
    close the socket without the terminating chunk: the SDK raises ``httpx2.RemoteProtocolError``.
    For a non-streamed request the connection is closed after the headers."""

    tokens: list[str] | str
    after: int
    delay: float = 0.0
    model: str = DEFAULT_MODEL

    def __post_init__(self) -> None:
        self.tokens = _as_tokens(self.tokens)


@dataclass
class Truncate:
    """Send the role chunk and ``after`` token chunks, then end the HTTP response cleanly with no
    ``finish_reason`` chunk and no ``[DONE]``: the SDK's iteration simply stops, raising nothing.
    For a non-streamed request: a completion whose content is the first ``after`` tokens and whose
    ``finish_reason`` is ``"length"``."""

    tokens: list[str] | str
    after: int
    delay: float = 0.0
    model: str = DEFAULT_MODEL

    def __post_init__(self) -> None:
        self.tokens = _as_tokens(self.tokens)


@dataclass
class RawStream:
    """A 200 ``text/event-stream`` response whose body is ``parts``, byte for byte, each written
    on its own ``delay`` seconds apart: for the edge cases of an SSE reader (an event split
    anywhere, even inside a UTF-8 character; several events in one write; comments; CRLF;
    malformed JSON; no ``[DONE]``). The same bytes answer a non-streamed request.

    - ``chunked`` (default): each part is one HTTP chunk (the client's HTTP layer hands each to
      its reader separately, however TCP delivers them). ``chunked=False``: no framing, the body
      ends when the connection closes, and each part is one TCP write (``TCP_NODELAY``), so a
      ``delay`` makes each part a network read of its own.
    - ``hold``: after the first ``hold_after`` parts, wait until this event is set (counted in
      ``streams_held``, see :meth:`FakeMistral.wait_for_held`).
    - ``cut``: close the socket after the last part without ending the chunked body (the client's
      HTTP layer raises ``RemoteProtocolError``). With ``chunked=False`` a close is the body's
      normal end.
    """

    parts: list[bytes]
    delay: float = 0.0
    chunked: bool = True
    hold: threading.Event | None = None
    hold_after: int = 1
    cut: bool = False


Behaviour = Reply | Fail | Hang | BreakMidStream | Truncate | RawStream
# A JSON-mode answer may also be computed from the request's body (memory extraction tests: the
# facts of whichever messages the request carries).
JsonBehaviour = Behaviour | Callable[[dict[str, Any]], Behaviour]


# --- the server -----------------------------------------------------------------------------------


class _Stopped(Exception):
    """The fake is stopping: abandon the response."""


class _ClientGone(_Stopped):
    """The client closed the connection while a response waited: abandon it."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True  # server_close() joins the connection threads (stop() unblocks them)

    def __init__(self, fake: FakeMistral) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.fake._track(sock)
        self.fake._count("connections")
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        self.fake._untrack(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, _Stopped)):
            return  # a client that went away (BrokenPipe, ConnectionReset, ...) or stop()
        self.fake.errors.append(exc)  # type: ignore[arg-type]
        print(f"FakeMistral: error handling a request from {client_address}", file=sys.stderr)
        traceback.print_exc()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    server_version = "FakeMistral/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # --- plumbing ---------------------------------------------------------------------------------

    @property
    def fake(self) -> FakeMistral:
        return self.server.fake

    def _read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, None

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, chunked: bool = True) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:  # the body ends when the connection closes
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    @contextlib.contextmanager
    def _streaming(self, chunked: bool = True) -> Iterator[None]:
        """Send a stream's headers and count it: started, then finished however it ends, and
        abandoned (before finished) when the client went away first."""
        self._start_stream(chunked)
        self.fake._count("streams_started")
        try:
            yield
        except (OSError, _ClientGone):
            self.close_connection = True
            self.fake._count("streams_abandoned")
            raise
        finally:
            self.fake._count("streams_finished")

    def _client_gone(self) -> bool:
        """Whether the client closed its end (readable, and a peek reads end of file)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _event(self, payload: Any) -> None:
        self._chunk(sse_frame(payload))

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def _sleep(self, seconds: float) -> None:
        if seconds > 0 and self.fake._stopping.wait(seconds):
            raise _Stopped

    def _wait(self, event: threading.Event) -> None:
        while not event.wait(0.02):
            if self.fake._stopping.is_set():
                raise _Stopped
            if self._client_gone():
                raise _ClientGone

    # --- routes -----------------------------------------------------------------------------------

    def do_POST(self) -> None:
        _, body = self._read_body()
        self.fake._record(self, body)
        path = self.path.split("?", 1)[0]
        try:
            if path == "/v1/chat/completions":
                self._chat(body if isinstance(body, dict) else {})
            elif path == "/v1/embeddings":
                self._embeddings(body if isinstance(body, dict) else {})
            else:
                self._not_found()
        except _Stopped:
            self.close_connection = True

    def do_GET(self) -> None:
        self.fake._record(self, None)
        self._not_found()

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _not_found(self) -> None:
        self._send_json(
            404, {"object": "error", "message": f"Not found: {self.path}", "code": "404"}
        )

    def _chat(self, body: dict[str, Any]) -> None:
        json_mode = (body.get("response_format") or {}).get("type") == "json_object"
        behaviour = self.fake._next_chat(json_mode=json_mode)
        if callable(behaviour):
            behaviour = behaviour(body)
        stream = bool(body.get("stream"))
        if isinstance(behaviour, Fail):
            self._send_json(behaviour.status, behaviour.json_body(), behaviour.headers)
        elif isinstance(behaviour, Hang):
            self.close_connection = True
            self._sleep(behaviour.seconds)
        elif isinstance(behaviour, Reply):
            if stream:
                self._stream_reply(behaviour, body)
            else:
                self._complete_reply(behaviour, body)
        elif isinstance(behaviour, (BreakMidStream, Truncate)):
            self._partial(behaviour, body, stream)
        elif isinstance(behaviour, RawStream):
            self._raw_stream(behaviour)
        else:  # pragma: no cover - a programming error in a test
            raise TypeError(f"Not a chat behaviour: {behaviour!r}")

    def _usage(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        if reply.usage is not None:
            return reply.usage
        prompt = _rough_token_count(body.get("messages"))
        completion = len(reply.tokens)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _stream_tokens(
        self,
        tokens: list[str],
        cid: str,
        model: str,
        created: int,
        delay: float,
        first_delay: float = 0.0,
        hold: threading.Event | None = None,
    ) -> None:
        for i, token in enumerate(tokens):
            self._sleep(first_delay if i == 0 else delay)
            self._event(_chunk_payload(cid, model, created, {"content": token}, None))
            if i == 0 and hold is not None:
                self.fake._count("streams_held")
                self._wait(hold)

    def _stream_reply(self, reply: Reply, body: dict[str, Any]) -> None:
        cid, created = uuid.uuid4().hex, int(time.time())
        tokens = list(reply.tokens)
        with self._streaming():
            role = {"role": "assistant", "content": ""}
            self._event(_chunk_payload(cid, reply.model, created, role, None))
            self._stream_tokens(
                tokens, cid, reply.model, created, reply.delay, reply.first_delay, reply.hold
            )
            if not tokens and reply.hold is not None:
                self.fake._count("streams_held")
                self._wait(reply.hold)
            last = _chunk_payload(cid, reply.model, created, {"content": ""}, reply.finish_reason)
            last["usage"] = self._usage(reply, body)
            self._event(last)
            self._chunk(b"data: [DONE]\n\n")
            self._end_chunks()

    def _complete_reply(self, reply: Reply, body: dict[str, Any]) -> None:
        self._sleep(reply.first_delay + reply.delay * max(0, len(reply.tokens) - 1))
        if reply.hold is not None:
            self.fake._count("streams_held")
            self._wait(reply.hold)
        self._send_json(
            200,
            {
                "id": uuid.uuid4().hex,
                "object": "chat.completion",
                "model": reply.model,
                "created": int(time.time()),
                "usage": self._usage(reply, body),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": reply.finish_reason,
                        "message": {
                            "role": "assistant",
                            "content": reply.text,
                            "tool_calls": None,
                        },
                    }
                ],
            },
        )

    def _partial(
        self, behaviour: BreakMidStream | Truncate, body: dict[str, Any], stream: bool
    ) -> None:
        tokens = list(behaviour.tokens)[: max(0, behaviour.after)]
        breaks = isinstance(behaviour, BreakMidStream)
        if not stream:
            if breaks:
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                return
            reply = Reply(tokens, model=behaviour.model, finish_reason="length")
            self._complete_reply(reply, body)
            return
        cid, created = uuid.uuid4().hex, int(time.time())
        with self._streaming():
            role = {"role": "assistant", "content": ""}
            self._event(_chunk_payload(cid, behaviour.model, created, role, None))
            self._stream_tokens(tokens, cid, behaviour.model, created, behaviour.delay)
            if breaks:
                # No terminating chunk: the connection is closed mid-body when we return.
                self.close_connection = True
            else:
                self._end_chunks()

    def _raw_stream(self, raw: RawStream) -> None:
        with self._streaming(raw.chunked):
            for i, part in enumerate(raw.parts):
                if i > 0:
                    self._sleep(raw.delay)
                if raw.chunked:
                    self._chunk(part)
                else:
                    self.wfile.write(part)
                if raw.hold is not None and i + 1 == raw.hold_after:
                    self.fake._count("streams_held")
                    self._wait(raw.hold)
            if raw.cut:
                self.close_connection = True  # mid-body: no terminating chunk
            elif raw.chunked:
                self._end_chunks()

    def _embeddings(self, body: dict[str, Any]) -> None:
        behaviour = self.fake._next_embeddings()
        if isinstance(behaviour, Fail):
            self._send_json(behaviour.status, behaviour.json_body(), behaviour.headers)
            return
        if isinstance(behaviour, Hang):
            self.close_connection = True
            self._sleep(behaviour.seconds)
            return
        inputs = body.get("input", body.get("inputs", []))
        if isinstance(inputs, str):
            inputs = [inputs]
        texts = [str(t) for t in inputs or []]
        prompt = sum(_rough_token_count(t) for t in texts)
        self._send_json(
            200,
            {
                "id": uuid.uuid4().hex,
                "object": "list",
                "model": body.get("model") or EMBED_MODEL,
                "usage": {"prompt_tokens": prompt, "completion_tokens": 0, "total_tokens": prompt},
                "data": [
                    {"object": "embedding", "embedding": embedding_for(t), "index": i}
                    for i, t in enumerate(texts)
                ],
            },
        )


class FakeMistral:
    """A fake Mistral API on ``127.0.0.1`` and a free port (bound at construction).

    Attributes:
        url: ``"http://127.0.0.1:PORT"``, for ``Mistral(server_url=...)``.
        requests: every request received, in arrival order, as ``{"method", "path", "headers",
            "body"}`` (``headers`` with lower-case names, ``body`` the parsed JSON or ``None``).
        default: the behaviour of chat requests when the script is empty (settable).
        streams_started / streams_held / streams_finished: counters of SSE streams that sent their
            headers, that are (or were) parked on a ``hold`` event, and that ended.
        streams_abandoned: streams whose client closed the connection before they ended (seen
            at once while held, else at the next write that fails).
        connections: TCP connections accepted (a client that reuses its connections opens one).
        errors: unexpected exceptions raised inside the fake (client disconnects are not errors).
    """

    url: str
    requests: list[dict[str, Any]]
    default: Behaviour
    errors: list[BaseException]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._chat_script: deque[Behaviour] = deque()
        self._embeddings_script: deque[Behaviour] = deque()
        self._json_script: deque[JsonBehaviour] = deque()
        self._sockets: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.requests = []
        self.errors = []
        self.default = Reply()
        # JSON-mode requests (memory extraction) have their own queue, so a chat test's script
        # is not eaten by the extraction that follows each turn. By default: nothing learned.
        self.json_default: JsonBehaviour = Reply('{"facts": []}')
        self.streams_started = 0
        self.streams_held = 0
        self.streams_finished = 0
        self.streams_abandoned = 0
        self.connections = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve in a daemon thread; returns ``self``."""
        if self._thread is not None or self._stopped:
            raise RuntimeError("FakeMistral can be started once")
        self._thread = threading.Thread(
            target=self._serve, name=f"FakeMistral:{self.url.rsplit(':', 1)[1]}", daemon=True
        )
        self._thread.start()
        return self

    def _serve(self) -> None:
        # Like serve_forever(), but woken at once by stop() instead of polling every 0.5 s.
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._server and not self._stopping.is_set():
                        self._server._handle_request_noblock()  # type: ignore[attr-defined]

    def stop(self) -> None:
        """Stop serving: abandon held/hanging responses, close every connection and the listening
        socket, and join the threads. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()  # also joins the connection threads
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- scripting --------------------------------------------------------------------------------

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next chat requests, first in first out; when the queue is
        empty, :attr:`default` answers."""
        with self._lock:
            self._chat_script.extend(behaviours)

    def script_json(self, *behaviours: JsonBehaviour) -> None:
        """Queue behaviours for the next JSON-mode chat requests (``response_format``
        ``json_object``); when empty, :attr:`json_default` answers. A callable is given the
        request's body and returns the behaviour."""
        with self._lock:
            self._json_script.extend(behaviours)

    def script_embeddings(self, *behaviours: Behaviour) -> None:
        """Queue behaviours (``Fail`` or ``Hang``; anything else means a normal answer) for the
        next embeddings requests; when empty, embeddings are answered normally."""
        with self._lock:
            self._embeddings_script.extend(behaviours)

    def reset(self) -> None:
        """Forget scripts, recorded requests, errors and counters (the default stays)."""
        with self._lock:
            self._chat_script.clear()
            self._json_script.clear()
            self._embeddings_script.clear()
            self.requests.clear()
            self.errors.clear()
            self.streams_started = self.streams_held = self.streams_finished = 0
            self.streams_abandoned = self.connections = 0

    @property
    def pending(self) -> int:
        """How many scripted chat behaviours are still queued."""
        with self._lock:
            return len(self._chat_script)

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The recorded requests to ``/v1/chat/completions``."""
        with self._lock:
            return [r for r in self.requests if r["path"] == "/v1/chat/completions"]

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        """The recorded requests to ``/v1/embeddings``."""
        with self._lock:
            return [r for r in self.requests if r["path"] == "/v1/embeddings"]

    # --- waiting (blocking: from async code use ``await asyncio.to_thread(...)``) --------------

    def wait_for_streams(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` SSE streams have started; ``False`` on timeout."""
        return self._wait_until(lambda: self.streams_started >= n, timeout)

    def wait_for_held(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` streams have sent their first token and reached their
        ``Reply.hold`` event; ``False`` on timeout."""
        return self._wait_until(lambda: self.streams_held >= n, timeout)

    def wait_for_finished(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` SSE streams have ended (completely, cut, or abandoned because
        the client left); ``False`` on timeout."""
        return self._wait_until(lambda: self.streams_finished >= n, timeout)

    def wait_for_abandoned(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` streams were abandoned by their client (it closed the
        connection before the end); ``False`` on timeout."""
        return self._wait_until(lambda: self.streams_abandoned >= n, timeout)

    def wait_for_requests(self, n: int = 1, timeout: float = 5.0) -> bool:
        """Block until at least ``n`` requests have been received; ``False`` on timeout."""
        return self._wait_until(lambda: len(self.requests) >= n, timeout)

    def _wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    # --- used by the handler ----------------------------------------------------------------------

    def _record(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        entry = {
            "method": handler.command,
            "path": handler.path.split("?", 1)[0],
            "headers": {k.lower(): v for k, v in handler.headers.items()},
            "body": body,
        }
        with self._changed:
            self.requests.append(entry)
            self._changed.notify_all()

    def _count(self, name: str) -> None:
        with self._changed:
            setattr(self, name, getattr(self, name) + 1)
            self._changed.notify_all()

    def _next_chat(self, *, json_mode: bool = False) -> JsonBehaviour:
        with self._lock:
            if json_mode:
                return self._json_script.popleft() if self._json_script else self.json_default
            return self._chat_script.popleft() if self._chat_script else self.default

    def _next_embeddings(self) -> Behaviour | None:
        with self._lock:
            return self._embeddings_script.popleft() if self._embeddings_script else None

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
