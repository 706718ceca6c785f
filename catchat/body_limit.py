"""A cap on HTTP request bodies, enforced by the ASGI app before Django buffers anything.

Django reads a whole body before it routes the request (into memory, then a temporary file), and
its own `DATA_UPLOAD_MAX_MEMORY_SIZE` check runs only after that, so an unauthenticated client
could make a process hold hundreds of megabytes. Here a `Content-Length` over the cap is refused
at once, and a body without one (chunked) is counted as its `http.request` messages arrive: past
the cap the app stops reading and answers 413 with `Connection: close`, so the rest is never read.

The cap is `settings.REQUEST_MAX_BODY_BYTES`; Django's `DATA_UPLOAD_MAX_MEMORY_SIZE` is set from
the same setting, so both agree on what is too big.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# Loose on purpose: Django's ASGIHandler and Channels' apps each type their arguments their way.
ASGIApp = Callable[..., Awaitable[None]]


class _BodyTooLarge(Exception):
    """Raised from `receive` inside the app once the body outgrows the cap."""


def too_large_message(limit: int) -> str:
    return f"The request body is larger than this server accepts ({limit} bytes at most)."


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length before we see it
    return None


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    """Answer 413: `{"detail": ...}` under /api/ (the API's error shape), a short page elsewhere."""
    message = too_large_message(limit)
    if str(scope.get("path", "")).startswith("/api/"):
        body = json.dumps({"detail": message}).encode()
        content_type = b"application/json"
    else:
        body = f"<!doctype html><title>413</title><h1>Too large</h1><p>{message}</p>\n".encode()
        content_type = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                # The unread rest of the body would otherwise be taken for the next request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def limit_body_size(app: ASGIApp, *, max_bytes: Callable[[], int]) -> ASGIApp:
    """Wrap an HTTP ASGI app so no request body over `max_bytes()` reaches it.

    `max_bytes` is read per request (tests override the setting). Other scope types pass through.
    """

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        limit = max_bytes()
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await app(scope, counting_receive, watching_send)
        except _BodyTooLarge:
            if started:  # an app that answers while it reads: nothing more can be said
                raise
            await _refuse(scope, send, limit)

    return limited
