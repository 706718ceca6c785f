"""`GET /api/v1/health/` (and `GET /api/`): can this server do its job right now?

Open to anyone (load balancers, uptime checks) and cheap: one `SELECT 1`, one channel-layer
round trip, one cache read, each bounded by CHECK_TIMEOUT_S. 503 when any is down: without the
database nothing works (`down`); without the channel layer replies stop reaching tabs, and
without the cache (Redis: throttles, log-in attempts) sign-up, log-in and tokens fail
(`degraded`). A load balancer should stop sending traffic either way.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import DatabaseError, connection
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catchat.llm import llm_mode

logger = logging.getLogger(__name__)

Check = Literal["ok", "down"]
# A channel layer that does not answer within this long counts as down.
CHECK_TIMEOUT_S = 2.0


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["ok", "degraded", "down"],
        help_text="`down` (503) without the database; `degraded` (503) without the channel layer "
        "or the cache.",
    )
    database = serializers.ChoiceField(choices=["ok", "down"])
    channel_layer = serializers.ChoiceField(choices=["ok", "down"])
    cache = serializers.ChoiceField(
        choices=["ok", "down"], help_text="Where throttles and log-in attempts are counted."
    )
    channel_layer_backend = serializers.CharField(help_text="`redis` or `in-memory`.")
    llm = serializers.ChoiceField(
        choices=["mistral", "offline"], help_text="`offline`: the built-in brain answers."
    )


def _database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("Health: the database is down: %s", exc)
        return "down"
    return "ok"


async def _round_trip() -> None:
    layer = get_channel_layer()
    assert layer is not None  # noqa: S101 - CHANNEL_LAYERS is always configured

    async def ping() -> None:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        await layer.receive(channel)

    await asyncio.wait_for(ping(), CHECK_TIMEOUT_S)


def _channel_layer() -> Check:
    try:
        async_to_sync(_round_trip)()
    except Exception as exc:  # noqa: BLE001 - any failure of the layer is "down"
        logger.warning("Health: the channel layer is down: %s", exc)
        return "down"
    return "ok"


def _cache() -> Check:
    # Socket timeouts of the Redis cache are set in settings.CACHES.
    try:
        cache.get("health:ping")
    except Exception as exc:  # noqa: BLE001 - any failure of the cache is "down"
        logger.warning("Health: the cache is down: %s", exc)
        return "down"
    return "ok"


def _backend() -> str:
    layer = get_channel_layer()
    return "redis" if "redis" in type(layer).__module__ else "in-memory"


class HealthView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes: list[type] = []

    @extend_schema(
        tags=["health"],
        summary="Is the service up?",
        auth=[],
        responses={200: HealthSerializer, 503: HealthSerializer},
        examples=[
            OpenApiExample(
                "Healthy",
                value={
                    "status": "ok",
                    "database": "ok",
                    "channel_layer": "ok",
                    "cache": "ok",
                    "channel_layer_backend": "redis",
                    "llm": "mistral",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        database = _database()
        layer = _channel_layer()
        cached = _cache()
        state = (
            "down" if database == "down" else ("degraded" if "down" in (layer, cached) else "ok")
        )
        body = {
            "status": state,
            "database": database,
            "channel_layer": layer,
            "cache": cached,
            "channel_layer_backend": _backend(),
            "llm": llm_mode(),
        }
        return Response(body, status=200 if state == "ok" else 503)
