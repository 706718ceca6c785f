"""The chat pipeline: a turn (`turn`: budget, busy, save, start), the reply's stream (`stream`:
one task per reply, independent of any socket) and its lease (`leases`: renewal, and the sweep
of replies whose process died).

`from cats import chat` gives the whole pipeline's entry points.
"""

from __future__ import annotations

from cats.chat.leases import INTERRUPTED_DETAIL, start_sweeper, sweep_interrupted
from cats.chat.stream import (
    FRIENDLY_ERRORS,
    ReplyJob,
    embed_ahead,
    friendly_error,
    in_flight,
    is_busy,
    request_stop,
    shutdown,
    start_reply,
    stop_anywhere,
    stop_group,
    wait_idle,
)
from cats.chat.turn import RateLimited, Turn, follow_turn, spend_message, take_turn

__all__ = [
    "FRIENDLY_ERRORS",
    "INTERRUPTED_DETAIL",
    "RateLimited",
    "ReplyJob",
    "Turn",
    "embed_ahead",
    "follow_turn",
    "friendly_error",
    "in_flight",
    "is_busy",
    "request_stop",
    "shutdown",
    "spend_message",
    "start_reply",
    "start_sweeper",
    "stop_anywhere",
    "stop_group",
    "sweep_interrupted",
    "take_turn",
    "wait_idle",
]
