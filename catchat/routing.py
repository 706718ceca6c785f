"""WebSocket URL patterns of every app."""

from __future__ import annotations

from django.urls import path

from bench.floor import FloorConsumer
from cats.routing import websocket_urlpatterns as cats_patterns

websocket_urlpatterns = [
    *cats_patterns,
    # `make bench`'s floor: always routed, but it refuses (4404) unless settings.BENCH_FLOOR.
    path("ws/bench/floor/", FloorConsumer.as_asgi()),
]
