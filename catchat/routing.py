"""WebSocket URL patterns of every app."""

from __future__ import annotations

from cats.routing import websocket_urlpatterns as cats_patterns

websocket_urlpatterns = [*cats_patterns]
