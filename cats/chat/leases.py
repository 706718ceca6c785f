"""Leases of streaming replies: renewed while their process writes them, and swept (marked
`interrupted`, said to their tabs) by any live process once they run out, when the process that
wrote them died.

How soon a dead process's reply ends: its lease (`CHAT_REPLY_LEASE_S`) runs out at most one
lease after the last renewal, and every live process sweeps every `SWEEP_FRACTION` of a lease:
the tabs hear `chat.done` within about 1.25 leases (plus a database and a Redis round trip).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from catchat.realtime import group_name, send_to_group
from cats import frames, services
from memories import learning

logger = logging.getLogger(__name__)

INTERRUPTED_DETAIL = "*blinks* I lost my thread when my server napped. Try again?"
SWEEP_FRACTION = 0.25  # of a lease, between two sweeps


async def keep_lease(reply: Any) -> None:
    """Renew `reply()`'s lease (a callable giving the reply, or None before it exists) while
    this process writes it; cancelled when the reply ends."""
    lease = settings.CHAT_REPLY_LEASE_S
    while True:
        await asyncio.sleep(lease / 3)
        current = reply()
        if current is not None:
            await database_sync_to_async(services.reply_renew_lease)(reply_id=current.pk)


_sweepers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def start_sweeper() -> None:
    """Sweep for replies whose lease ran out, now and then every `SWEEP_FRACTION` of a lease,
    on this loop (once per loop). And look once at the learning queue: what a process that
    died left there (or the batch it was making) is learned without waiting for a chat turn
    here; learning's own timer takes it from there."""
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is None or task.done():
        _sweepers[loop] = loop.create_task(_sweep_forever(), name="reply-sweeper")
        learning.kick()


async def _sweep_forever() -> None:
    while True:
        try:
            await sweep_interrupted()
        except Exception:
            logger.exception("Sweeping interrupted replies failed; trying again later")
        await asyncio.sleep(settings.CHAT_REPLY_LEASE_S * SWEEP_FRACTION)


async def sweep_interrupted() -> int:
    """Mark `interrupted` the streaming replies whose lease ran out (their process died), and
    tell their (user, cat) tabs with `chat.done`. Returns how many."""
    ended = await database_sync_to_async(services.replies_interrupt_expired)()
    for reply, owner_id, cat_id in ended:
        done: frames.Done = {
            "type": "chat.done",
            "message": frames.message_payload(reply, error_detail=INTERRUPTED_DETAIL),
        }
        await send_to_group(group_name(owner_id, cat_id), done)
    return len(ended)
