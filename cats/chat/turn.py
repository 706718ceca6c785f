"""One chat turn, whoever asks: the tab's `chat.send` (cats.consumers) and `POST chat/`
(cats.chat_api, through `follow_turn`) both call `take_turn`.

A turn: the user's message budget (CHAT_MESSAGES_PER_MINUTE, one for the WebSocket and REST,
counted in the cache, so every process shares it), whether the conversation is busy (the
database decides), the message saved, `chat.accepted` pushed to the tabs once committed, and
the reply started.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from catchat import realtime
from catchat.realtime import group_name
from cats import frames, services
from cats.chat.stream import embed_ahead, friendly_error, is_busy, start_reply
from cats.models import Cat, Message
from cats.services.messages import latest_reply

WINDOW_S = 60


class RateLimited(services.ChatInputError):
    """Over the user's CHAT_MESSAGES_PER_MINUTE; `retry_after` seconds until the next may go."""

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__("rate_limited", detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Turn:
    accepted: services.Accepted
    started: bool  # a reply to the message was started by this turn
    existing: Message | None = None  # a resend's newest reply, when it has one


async def take_turn(
    *,
    cat: Cat,
    user_id: int,
    text: str,
    client_id: uuid.UUID,
    conversation_id: int | None,
    received_at: float | None = None,
    retry_failed: bool = False,
    edit_of: int | None = None,
) -> Turn:
    """Count, save and answer the user's `text` (cleaned already: `services.clean_text`).

    Raises RateLimited over the budget (nothing saved), ChatInputError `busy` while a reply is
    being written in that conversation by any process, `not_found`, `conflict`
    (`message_accept`). A resend (same `client_id`) starts nothing, unless `retry_failed` and
    its newest reply ended without an answer (`error`, `interrupted`): then it is answered
    again. Every tab hears `chat.accepted` (pushed on commit), then the reply's frames.
    `edit_of`: the user message this one edits (`services.message_accept`).
    """
    received_at = received_at or time.monotonic()
    # The recall vector is computed while the message is counted and saved.
    query = embed_ahead(text)
    started = False
    try:
        wait = await spend_message(user_id)
        if wait:
            limit = settings.CHAT_MESSAGES_PER_MINUTE
            raise RateLimited(
                f"{cat.name} reads at most {limit} messages a minute: try again in {wait} s.",
                retry_after=wait,
            )
        accepted = await database_sync_to_async(services.message_accept)(
            cat=cat,
            text=text,
            client_id=client_id,
            conversation_id=conversation_id,
            busy=is_busy,  # this process's fast answer; else the database's
            edit_of=edit_of,
        )
        existing = None
        if not accepted.needs_reply:
            if not retry_failed:
                return Turn(accepted=accepted, started=False)
            existing = await database_sync_to_async(latest_reply)(accepted.message)
            if existing is not None and existing.status not in RETRYABLE:
                return Turn(accepted=accepted, started=False, existing=existing)
        start_reply(cat=cat, user_message=accepted.message, received_at=received_at, query=query)
        started = True
        return Turn(accepted=accepted, started=True, existing=existing)
    finally:
        if not started:  # refused, a resend, or a fault: nobody will read it
            query.cancel()


async def spend_message(user_id: int) -> int:
    """Count a chat message against the user's CHAT_MESSAGES_PER_MINUTE (every tab and REST
    client, every process: the cache is Redis when REDIS_URL is set). Returns 0 when it may go,
    or the seconds until it may.

    On a thread of its own, not the database's: Django's `cache.aget` runs on the one thread
    that serves every query of this process, and a Redis round trip there delays them all."""
    return await sync_to_async(_spend_message_sync, thread_sensitive=False)(user_id)


def _spend_message_sync(user_id: int) -> int:
    # A window starts with the user's first message and lasts WINDOW_S; its count is one key
    # named after its start, counted with the cache's atomic `add` and `incr` (never a
    # read-modify-write that two processes could interleave). The count's key outlives its
    # window, so an `incr` never meets a key that just expired.
    key = f"chat-messages:{user_id}"
    now = time.time()
    if cache.add(f"{key}:start", now, timeout=WINDOW_S):
        start = now
    else:
        start = cache.get(f"{key}:start", now)
    count_key = f"{key}:{start!r}"
    cache.add(count_key, 0, timeout=WINDOW_S + 10)
    try:
        count = cache.incr(count_key)
    except ValueError:  # evicted meanwhile: count afresh
        cache.set(count_key, 1, timeout=WINDOW_S + 10)
        count = 1
    if count <= settings.CHAT_MESSAGES_PER_MINUTE:
        return 0
    return max(1, math.ceil(start + WINDOW_S - now))


# --- the same turn for a client that is not a tab -------------------------------------------

# Replies a follower (REST) takes over instead of waiting for: they ended without an answer.
RETRYABLE = frozenset({Message.Status.ERROR, Message.Status.INTERRUPTED})
FOLLOWED = frozenset({"chat.delta", "error", "chat.done"})


async def follow_turn(
    *,
    cat: Cat,
    user_id: int,
    text: str,
    client_id: uuid.UUID,
    conversation_id: int | None,
    keepalive: float = 15.0,
    edit_of: int | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """`take_turn`, and the turn's frames for a client that is not a tab (REST, Server-Sent
    Events): `chat.accepted`, then the reply's `chat.started`, `chat.delta`s, any `error`, and
    its `chat.done`; `{"type": "keepalive"}` after `keepalive` seconds of silence.

    The turn's refusals (ChatInputError, RateLimited) are raised by the first `anext`, before
    any frame. The reply is the same as for a tab (frames through the (user, cat) group, which
    the open tabs see too). A resend (same client_id) follows the reply already running,
    returns the one already made, or retries one that failed. A follower that stops listening
    stops nothing: the reply runs to its end and is saved.
    """
    group = group_name(cat.owner_id, cat.pk)
    # Through this process's one channel (the realtime hub), as a tab: a channel of its own
    # would be a second receiver in the process, and channels_redis can then lose messages.
    heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def deliver(event: dict[str, Any]) -> None:
        heard.put_nowait(event)

    await realtime.join(group, deliver)  # before the reply starts: no frame is missed
    try:
        turn = await take_turn(
            cat=cat,
            user_id=user_id,
            text=text,
            client_id=client_id,
            conversation_id=conversation_id,
            retry_failed=True,
            edit_of=edit_of,
        )
        await sync_to_async(_release_connection)()
        user_message = turn.accepted.message
        accepted: frames.Accepted = {
            "type": "chat.accepted",
            "client_id": str(user_message.client_id),
            "message": frames.message_payload(user_message),
        }
        yield dict(accepted)
        reply_id: int | None = None
        existing = turn.existing
        if not turn.started:
            if existing is None:  # answered before, by nothing we know of
                return
            if existing.status != Message.Status.STREAMING:
                yield {"type": "chat.done", "message": frames.message_payload(existing)}
                return
            reply_id = existing.pk  # still being written: follow it
        idle = 0.0
        while True:
            try:
                event = await asyncio.wait_for(heard.get(), timeout=keepalive)
            except TimeoutError:
                idle += keepalive
                if idle >= settings.CHAT_FOLLOW_TIMEOUT_S:
                    yield dict(
                        frames.error(
                            "llm_timeout",
                            friendly_error("llm_timeout"),
                            conversation=user_message.conversation_id,
                        )
                    )
                    return
                yield {"type": "keepalive"}
                continue
            idle = 0.0
            frame = event.get("frame") or {}
            kind = frame.get("type")
            if kind == "chat.started" and frame["message"].get("reply_to") == user_message.pk:
                reply_id = frame["message"]["id"]
            elif (
                kind == "error"
                and reply_id is None
                and user_message.client_id
                and frame.get("client_id") == str(user_message.client_id)
            ):
                yield frame  # the reply was refused before it began (`busy`)
                return
            elif reply_id is None or kind not in FOLLOWED or _reply_of(frame) != reply_id:
                continue
            yield frame
            if kind == "chat.done":
                return
    finally:
        await realtime.leave(group, deliver)


def _release_connection() -> None:
    """The follower is done with the database, but would hold its (request's) pooled connection
    until the response ends, while the reply it waits for needs one of its own: at the pool's
    size in waiting requests, every reply would wait forever. Give it back now (unless a
    transaction is open around the request, as in tests: it is then not ours to end)."""
    if not connection.in_atomic_block:
        connection.close()


def _reply_of(frame: dict[str, Any]) -> int | None:
    if frame.get("type") == "chat.done":
        reply_id: int = frame["message"]["id"]
        return reply_id
    return frame.get("message_id")
