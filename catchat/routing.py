"""WebSocket URL patterns of every app, and the answer to every other path."""

from __future__ import annotations

import json
from typing import Any

from django.urls import path, re_path

from bench.floor import FloorConsumer
from cats.routing import websocket_urlpatterns as cats_patterns

CLOSE_NOT_FOUND = 4404


async def no_such_socket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Any other path: accepted, told so in one `error` frame, closed with 4404 (as a missing
    cat). Without it channels' router raises for every such connection (a 500 and a traceback
    each). Accepting first lets a client read the code; a handshake refusal is a bare 403."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    frame = {"type": "error", "code": "not_found", "detail": "No WebSocket at this address."}
    await send({"type": "websocket.send", "text": json.dumps(frame)})
    await send({"type": "websocket.close", "code": CLOSE_NOT_FOUND})


websocket_urlpatterns = [
    *cats_patterns,
    # `make bench`'s floor: always routed, but it refuses (4404) unless settings.BENCH_FLOOR.
    path("ws/bench/floor/", FloorConsumer.as_asgi()),
    # Last: whatever matched nothing above. (django-stubs types a route as a Django view.)
    re_path(r"", no_such_socket),  # type: ignore[arg-type]
]
