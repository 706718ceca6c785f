"""The LLM gateway: the one module that talks to Mistral (and the only one importing its SDK).

Callers describe a chat as a `ChatRequest` and iterate `stream_chat(request)`: an async generator
of `Token` events ending with one `Finished`. Closing the generator early (stop) closes the
upstream response. `complete_json(system=..., user=...)` is one non-streamed call in JSON mode
that returns the parsed object (memory extraction). Every failure of the model, the network or the
SDK comes out as `LLMError` with a stable `code`, so callers never see an SDK exception.

Without `MISTRAL_API_KEY` the same interface is served by the offline brain (`catchat.offline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
from django.conf import settings
from mistralai.client import Mistral, errors, models
from mistralai.client.utils import BackoffStrategy, RetryConfig
from mistralai.client.utils import requestbodies as sdk_requestbodies
from mistralai.client.utils import serializers as sdk_serializers
from pydantic import BaseModel, ConfigDict, create_model

from catchat import offline

logger = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]
LLMErrorCode = Literal[
    "llm_auth",
    "rate_limited",
    "llm_unavailable",
    "llm_timeout",
    "llm_truncated",
    "llm_bad_request",
    "llm_bad_response",  # a reply that arrived but is unusable (complete_json: not a JSON object)
]


@dataclass(frozen=True)
class Turn:
    role: Role
    content: str


@dataclass(frozen=True)
class Persona:
    """What the offline brain needs to stay in character (the system prompt carries the rest)."""

    name: str
    personality: str = ""
    coat: str = ""
    mood: str = "content"
    memories: tuple[str, ...] = ()  # what the cat recalled for this turn, most relevant first
    forgot: str | None = None  # set when the human just asked it to forget this
    unknown: str | None = None  # asked to forget this, it remembered nothing of the kind
    # What was recalled, structured (the offline brain answers questions from it), the cat's
    # urgent needs, and the hour of the day where it lives.
    recalled: tuple[offline.Remembered, ...] = ()
    needs: tuple[str, ...] = ()
    hour: int | None = None


@dataclass(frozen=True)
class ChatRequest:
    system: str
    turns: list[Turn]
    persona: Persona
    max_tokens: int = 400


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class Finished:
    model: str
    usage: dict[str, int] = field(default_factory=dict)
    finish_reason: str = "stop"


class LLMError(Exception):
    """A model call that failed; `code` is stable, `retry_after` is seconds (429 only)."""

    def __init__(self, code: LLMErrorCode, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code: LLMErrorCode = code
        self.retry_after = retry_after


def llm_mode() -> Literal["mistral", "offline"]:
    return "mistral" if settings.MISTRAL_API_KEY else "offline"


def model_name() -> str:
    return settings.MISTRAL_MODEL if llm_mode() == "mistral" else offline.MODEL_NAME


# mistralai 3.x decodes through `utils.serializers.unmarshal`, which builds a new pydantic model
# class each time (`create_model`): measured with py-spy, ~14% of a server process's CPU under
# load went to making the same class 50 times a reply, when streamed events went through it
# (they no longer do: see `_SSEReader`). Non-streamed responses and some request arguments
# still do. The same class, made once per type, decodes the same way.
_unmarshallers: dict[Any, type[BaseModel]] = {}
_sdk_unmarshal = sdk_serializers.unmarshal


def _body_model(cache: dict[Any, type[BaseModel]], name: str, typ: Any) -> type[BaseModel]:
    """The SDK's one-field model around `typ`, made once per type. TypeError for a type that
    cannot be a key (the callers then take the SDK's own way)."""
    model = cache.get(typ)
    if model is None:
        model = create_model(
            name,
            body=(typ, ...),
            __config__=ConfigDict(populate_by_name=True, arbitrary_types_allowed=True),
        )
        cache[typ] = model
    return model


def _unmarshal(val: Any, typ: Any, coerce_iterables: bool = True) -> Any:
    try:
        model = _body_model(_unmarshallers, "Unmarshaller", typ)
    except TypeError:  # an unhashable type annotation: the SDK's own way
        return _sdk_unmarshal(val, typ, coerce_iterables)
    if coerce_iterables:
        val = sdk_serializers._coerce_iterables_for_type(val, typ)
    return model(body=val).body  # type: ignore[attr-defined]


sdk_serializers.unmarshal = _unmarshal

# The same for the request body: `marshal_json` made a new class for every request (~5% of a
# server's samples at 10 conversations). Patched where the request body is serialized.
_marshallers: dict[Any, type[BaseModel]] = {}
_sdk_marshal_json = sdk_requestbodies.marshal_json


def _marshal_json(val: Any, typ: Any) -> str:
    if sdk_serializers.is_nullable(typ) and val is None:
        return "null"
    try:
        model = _body_model(_marshallers, "Marshaller", typ)
    except TypeError:  # an unhashable type annotation: the SDK's own way
        return str(_sdk_marshal_json(val, typ))
    dumped = model(body=val).model_dump(by_alias=True, mode="json", exclude_none=True)
    if not dumped:
        return ""
    return json.dumps(dumped[next(iter(dumped))], separators=(",", ":"))


sdk_requestbodies.marshal_json = _marshal_json

_MESSAGE_TYPES: dict[
    Role, type[models.SystemMessage | models.UserMessage | models.AssistantMessage]
] = {
    "system": models.SystemMessage,
    "user": models.UserMessage,
    "assistant": models.AssistantMessage,
}


# One client per event loop: an SDK client is bound to the loop it first ran on, and building
# one costs ~65 ms (two HTTP clients with TLS contexts), far too much per message.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Mistral] = (
    weakref.WeakKeyDictionary()
)


def _client() -> Mistral:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = Mistral(
            api_key=settings.MISTRAL_API_KEY,
            server_url=settings.MISTRAL_SERVER_URL,
            timeout_ms=settings.MISTRAL_TIMEOUT_MS,
            retry_config=_retry_config(),
        )
        _clients[loop] = client
    return client


def _retry_config() -> RetryConfig | None:
    if settings.MISTRAL_MAX_RETRIES <= 0:
        return None
    # Retried only before the stream starts (the SDK never retries a broken stream). 429 is left
    # out on purpose: the SDK would sleep out a long Retry-After while the user stares at dots;
    # we tell the user instead.
    return RetryConfig(
        "backoff",
        BackoffStrategy(
            initial_interval=250,
            max_interval=2000,
            exponent=2.0,
            max_elapsed_time=250 * 2**settings.MISTRAL_MAX_RETRIES,
            jitter_ms=100,
        ),
        retry_connection_errors=True,
        status_codes_override=["500", "502", "503", "504"],
    )


async def close_clients() -> None:
    """Close this loop's SDK client (process shutdown, end of a test)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.__aexit__(None, None, None)


def stream_chat(request: ChatRequest) -> AsyncIterator[Token | Finished]:
    if llm_mode() == "offline":
        return _stream_offline(request)
    return _stream_mistral(request)


async def _stream_offline(request: ChatRequest) -> AsyncIterator[Token | Finished]:
    persona = request.persona
    said = offline.last_user_text([(t.role, t.content) for t in request.turns])
    reply = offline.compose_reply(
        name=persona.name,
        personality=persona.personality,
        mood=persona.mood,
        last_user_text=said,
        rng=random.Random(),  # noqa: S311 - variety, not security
        memories=persona.memories,
        forgot=persona.forgot,
        unknown=persona.unknown,
        recalled=persona.recalled,
        needs=persona.needs,
        hour=persona.hour,
    )
    count = 0
    async for word in offline.stream_words(reply, settings.OFFLINE_WORD_DELAY_MS / 1000):
        count += 1
        yield Token(word)
    prompt_tokens = sum(len(t.content.split()) for t in request.turns)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": count,
        "total_tokens": prompt_tokens + count,
    }
    yield Finished(model=offline.MODEL_NAME, usage=usage)


async def _stream_mistral(request: ChatRequest) -> AsyncIterator[Token | Finished]:
    """Mistral's streamed reply: one `Token` per read of the response body (the text of every
    event completed by it; none for a read that completes no text), then one `Finished`.

    The SDK builds, authenticates and sends the request, retries it (before the stream starts)
    and maps error statuses; the open 200 response it hands back is read here by `_SSEReader`
    instead of the SDK's event iterator, whose pydantic model per event tripled the CPU of a
    whole reply (issue 13: 11 ms -> 3.6 ms per 50-token reply, fake server, one core).

    Raises `LLMError`: `llm_auth`, `rate_limited` (with `retry_after`), `llm_bad_request` and
    `llm_unavailable` from the status; mid-stream, `llm_timeout` for a read timeout,
    `llm_unavailable` for a broken connection, for a malformed event (not JSON, or not a chunk:
    `llm_unavailable` rather than `llm_bad_response`, as the SDK's validation error was and as
    the websocket contract knows it) and for an error Mistral reports in the stream (an `error`
    event or object, or `finish_reason: "error"`); `llm_truncated` when the stream ends without
    a `finish_reason` (`[DONE]` or not). A `finish_reason` makes the reply complete: what follows
    it (`[DONE]`, the end of the body) gets `_TAIL_SECONDS`, and its absence or failure is no
    error. Closing the generator early (stop) closes the upstream response.
    """
    # The SDK's own message models, not dicts: given dicts, the SDK walks every message of
    # the history through its type-coercion helpers before validating them (measured: 8.1 ->
    # 2.7 ms of CPU per 50-token reply with 21 turns of history).
    messages: list[models.Messages] = [models.SystemMessage(content=request.system)]
    messages += [_MESSAGE_TYPES[t.role](content=t.content) for t in request.turns]
    with _mapped_errors():
        events = await _client().chat.stream_async(
            model=settings.MISTRAL_MODEL,
            messages=messages,
            max_tokens=request.max_tokens,
        )
    response = events.response  # the SDK's own iterator over it is never started
    reader = _SSEReader(model=settings.MISTRAL_MODEL)
    chunks = response.aiter_bytes()
    try:
        with _mapped_errors():
            async for chunk in chunks:
                text = reader.feed(chunk)
                if text:
                    yield Token(text)
                if reader.error is not None:
                    raise reader.error
                if reader.finish_reason is not None or reader.done:
                    await _read_tail(chunks, reader)
                    break
            else:
                text = reader.end()
                if text:
                    yield Token(text)
                if reader.error is not None:
                    raise reader.error
    finally:
        await chunks.aclose()
        await response.aclose()
    if reader.finish_reason is None:
        # The SDK raises nothing for a stream that ends early: a reply without a finish_reason
        # was cut short ([DONE] included).
        raise LLMError("llm_truncated", "Mistral's stream ended before the reply was finished.")
    yield Finished(model=reader.model, usage=reader.usage, finish_reason=reader.finish_reason)


# How long the rest of a finished reply is read: up to [DONE] and the end of the body, which
# returns the connection to the pool (the SDK's reader closed it at [DONE]: a new connection, TLS
# handshake included, for every reply). A server that keeps the body open is not waited for.
_TAIL_SECONDS = 0.1


async def _read_tail(chunks: AsyncIterator[bytes], reader: _SSEReader) -> None:
    """Read what follows a finish_reason or [DONE] for `_TAIL_SECONDS` at most, feeding `reader`
    (a later `usage` still counts); a timeout, a broken connection or a bad event there is no
    error: the reply is whole."""
    with contextlib.suppress(TimeoutError, httpx2.HTTPError):
        async with asyncio.timeout(_TAIL_SECONDS):
            async for chunk in chunks:
                reader.feed(chunk)


class _SSEReader:
    """Decodes Mistral's server-sent events as they arrive, with the SDK's semantics
    (`mistralai.client.utils.eventstreaming`): events end at a blank line (LF, CRLF or CR line
    endings), a `data:` field may span several lines (joined with `\\n`), comment lines
    (`:`, keep-alives) and `id`/`retry` fields are ignored, a leading BOM is dropped,
    `data: [DONE]` ends the stream. Each event's JSON is read with `json.loads` into plain dicts.

    `feed(bytes)` returns the text of the events completed by those bytes; bytes of an
    unfinished event (even half a UTF-8 character) wait for the next call. The first error stops
    the decoding and is left in `error`, for the caller to raise after yielding the text before
    it. State after the stream: `model`, `usage`, `finish_reason`, `done` ([DONE] seen).
    """

    def __init__(self, *, model: str) -> None:
        self.model = model
        self.usage: dict[str, int] = {}
        self.finish_reason: str | None = None
        self.done = False
        self.error: LLMError | None = None
        self._buffer = b""
        self._started = False
        self._after_cr = False  # the last bytes fed ended in CR: a LF next completes a CRLF

    def feed(self, chunk: bytes) -> str:
        if self.done or self.error is not None or not chunk:
            return ""
        if not self._started:
            self._started = True
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")
        if b"\r" in chunk or self._after_cr:
            if self._after_cr and chunk.startswith(b"\n"):
                chunk = chunk[1:]
            self._after_cr = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buffer = self._buffer + chunk if self._buffer else chunk
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self._buffer = buffer
            return ""
        self._buffer = buffer[end + 2 :]
        texts: list[str] = []
        for block in buffer[:end].split(b"\n\n"):
            self._event(block, texts)
            if self.done or self.error is not None:
                break
        return "".join(texts)

    def end(self) -> str:
        """The body ended: an event complete but for its blank line still counts (as in the
        SDK); a partial one is dropped (the missing finish_reason then tells the truncation)."""
        rest, self._buffer = self._buffer, b""
        if self.done or self.error is not None or not rest.strip():
            return ""
        texts: list[str] = []
        self._event(rest, texts, partial=True)
        return "".join(texts)

    def _event(self, block: bytes, texts: list[str], partial: bool = False) -> None:
        if block.startswith(b"data: ") and b"\n" not in block:  # Mistral's every event
            data: bytes = block[6:]
            kind = b""
        else:
            parts: list[bytes] = []
            kind = b""
            for line in block.split(b"\n"):
                # A comment (keep-alive) is a line starting with ":": a field without a name.
                name, _, value = line.partition(b":")
                value = value.removeprefix(b" ")
                if name == b"data":
                    parts.append(value)
                elif name == b"event":
                    kind = value
            if not parts:
                return  # no data: nothing to decode (the SDK skips these too)
            data = b"\n".join(parts)
        if data == b"[DONE]":
            self.done = True
            return
        try:
            payload = json.loads(data)
        except ValueError:
            if not partial:
                self.error = LLMError(
                    "llm_unavailable", f"Mistral sent an event that is not JSON: {data[:200]!r}"
                )
            return
        if isinstance(payload, dict) and (kind == b"error" or _is_error(payload)):
            self.error = LLMError(
                "llm_unavailable", f"Mistral reported an error mid-stream: {data[:300]!r}"
            )
            return
        try:
            self._chunk(payload, texts)
        except (AttributeError, TypeError, KeyError, IndexError, ValueError):
            self.error = LLMError(
                "llm_unavailable", f"Mistral sent an event that is not a chunk: {data[:200]!r}"
            )

    def _chunk(self, payload: Any, texts: list[str]) -> None:
        """Take one chunk's text, model, usage and finish_reason; AttributeError, TypeError (or
        the like) for a payload of another shape."""
        model = payload.get("model")
        if model:
            self.model = str(model)
        usage = payload.get("usage")
        if usage:
            self.usage = {
                "prompt_tokens": int(usage.get("prompt_tokens") or 0),
                "completion_tokens": int(usage.get("completion_tokens") or 0),
                "total_tokens": int(usage.get("total_tokens") or 0),
            }
        choices = payload.get("choices")
        if not choices:
            return
        choice = choices[0]
        content = (choice.get("delta") or {}).get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):  # content chunks: the text ones
            texts.extend(
                part["text"]
                for part in content
                if part.get("type", "text") == "text" and isinstance(part.get("text"), str)
            )
        finish_reason = choice.get("finish_reason")
        if finish_reason == "error":
            self.error = LLMError("llm_unavailable", "Mistral stopped the reply with an error.")
        elif finish_reason is not None:
            self.finish_reason = str(finish_reason)


def _is_error(payload: dict[str, Any]) -> bool:
    """Mistral's error body (`{"object": "error", "message": ...}`), or an `error` member."""
    return payload.get("object") == "error" or payload.get("error") is not None


async def complete_json(*, system: str, user: str, max_tokens: int = 600) -> dict[str, Any]:
    """One non-streamed Mistral call in JSON mode; returns the reply parsed as a JSON object.

    Precondition: `llm_mode() == "mistral"` (there is no offline JSON brain); `system` or `user`
    must itself ask for JSON, as Mistral's JSON mode requires. Deterministic (temperature 0).
    Raises `LLMError`: the codes of `stream_chat`, `llm_truncated` when the reply hit
    `max_tokens`, `llm_bad_response` when the content is not a JSON object.
    """
    if llm_mode() == "offline":
        raise LLMError("llm_auth", "MISTRAL_API_KEY is not set: JSON completions need Mistral.")
    messages: list[models.SystemMessage | models.UserMessage] = [
        models.SystemMessage(content=system),
        models.UserMessage(content=user),
    ]
    with _mapped_errors():
        response = await _client().chat.complete_async(
            model=settings.MISTRAL_MODEL,
            messages=messages,
            response_format={"type": "json_object"},
            max_tokens=max_tokens,
            temperature=0,
        )
    if not response.choices:
        raise LLMError("llm_bad_response", "Mistral sent a completion without choices.")
    choice = response.choices[0]
    if choice.finish_reason in ("length", "model_length"):
        # Cut JSON never parses; say why instead of blaming the model's JSON.
        raise LLMError("llm_truncated", f"Mistral's JSON reply hit max_tokens ({max_tokens}).")
    content = choice.message.content if choice.message is not None else None
    if isinstance(content, list):  # content chunks: keep the text ones
        content = "".join(getattr(chunk, "text", "") or "" for chunk in content)
    if not isinstance(content, str):
        raise LLMError("llm_bad_response", "Mistral sent a completion without content.")
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise LLMError(
            "llm_bad_response", f"Mistral's reply is not JSON: {content[:200]!r}"
        ) from exc
    if not isinstance(data, dict):
        raise LLMError("llm_bad_response", f"Mistral's JSON is not an object: {content[:200]!r}")
    return data


async def embed(texts: list[str]) -> list[list[float]]:
    """Mistral's embeddings of `texts` (`MISTRAL_EMBED_MODEL`), one vector per text, in order.

    Callers go through `catchat.embeddings`, which picks the embedder. Precondition:
    `MISTRAL_API_KEY` is set (without it Mistral answers 401: `llm_auth`). Raises `LLMError`: the
    codes of `stream_chat`, `llm_bad_response` when a vector is missing.
    """
    if not texts:
        return []
    with _mapped_errors():
        response = await _client().embeddings.create_async(
            model=settings.MISTRAL_EMBED_MODEL, inputs=texts
        )
    items = sorted(response.data, key=lambda item: item.index or 0)
    vectors = [list(item.embedding or ()) for item in items]
    if len(vectors) != len(texts) or not all(vectors):
        raise LLMError(
            "llm_bad_response", f"Mistral sent {len(vectors)} embeddings for {len(texts)} texts."
        )
    return vectors


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn every SDK and network failure raised inside into the matching `LLMError`."""
    try:
        yield
    except errors.SDKError as exc:
        raise _from_status(exc.status_code, exc.headers.get("retry-after")) from exc
    except errors.HTTPValidationError as exc:
        raise LLMError("llm_bad_request", "Mistral rejected the request (422).") from exc
    except errors.ResponseValidationError as exc:
        raise LLMError("llm_unavailable", "Mistral sent a response of the wrong shape.") from exc
    except httpx2.TimeoutException as exc:
        raise LLMError("llm_timeout", "Mistral did not answer in time.") from exc
    except httpx2.HTTPError as exc:  # connect errors, a stream cut mid-body, ...
        raise LLMError("llm_unavailable", f"Network error talking to Mistral: {exc!r}") from exc


def _from_status(status: int, retry_after: str | None) -> LLMError:
    if status in (401, 403):
        return LLMError("llm_auth", f"Mistral refused our credentials ({status}).")
    if status == 429:
        return LLMError(
            "rate_limited", "Mistral asked us to slow down (429).", _seconds(retry_after)
        )
    if 400 <= status < 500:
        return LLMError("llm_bad_request", f"Mistral rejected the request ({status}).")
    return LLMError("llm_unavailable", f"Mistral is unavailable ({status}).")


def _seconds(value: str | None) -> int:
    try:
        return max(1, int(float(value or "")))
    except ValueError:
        return 30
