"""The realtime gateway: pushing frames to a user's open tabs, one channel group per (user, cat).

Services push only through here, and writes push only after their transaction commits
(`push_on_commit`), so nothing is broadcast for a write that rolled back.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def group_name(user_id: int, cat_id: int) -> str:
    return f"cat.{user_id}.{cat_id}"


async def send_to_group(group: str, frame: Any) -> None:
    """Deliver a server frame to every open tab of that (user, cat)."""
    layer = get_channel_layer()
    assert layer is not None  # noqa: S101 - CHANNEL_LAYERS is always configured
    await layer.group_send(group, {"type": "cat.frame", "frame": frame})


def push_on_commit(group: str, frame: Any) -> None:
    """From sync code (a service): send `frame` once the current transaction commits."""
    transaction.on_commit(lambda: async_to_sync(send_to_group)(group, frame))
