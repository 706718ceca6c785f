from __future__ import annotations

from django.urls import path

from cats.consumers import CatConsumer

websocket_urlpatterns = [
    path("ws/cats/<int:cat_id>/", CatConsumer.as_asgi()),
]
