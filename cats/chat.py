"""The streaming half of a chat turn: one task per reply, independent of any socket.

`start_reply` runs the model in a task owned by this module (not by the socket that asked), so a
reload or a closed tab does not end the reply. Frames go to the channel group of the (user, cat),
so every open tab sees the same stream. Tokens are gathered for `CHAT_DELTA_WINDOW_MS` and cross
the channel layer as one numbered `chat.delta` (STACK.md: a group message per token is 8-80x
slower and channels_redis drops frames). The partial text is saved at most every
`CHAT_SAVE_INTERVAL_MS`, so a reconnecting tab (or another process) can resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from catchat import embeddings, llm
from catchat.realtime import group_name, send_to_group
from cats import frames, services
from cats.models import Cat, Message
from cats.services.messages import latest_reply
from memories import learning

logger = logging.getLogger(__name__)

FRIENDLY_ERRORS: dict[str, str] = {
    "rate_limited": "*curls up* I'm napping for a moment. Try again in a little while.",
    "llm_auth": "*paws at a locked door* My thinking cap won't open. A human must find the key.",
    "llm_unavailable": "*stares into the distance* I lost my train of thought. Try again?",
    "llm_timeout": "*dozed off mid-thought* Sorry, that took too long. Try again?",
    "llm_truncated": "*distracted by a moth* I didn't finish that thought. Try again?",
    "llm_bad_request": "*tilts head* I got muddled. Try again?",
    "server_error": "*knocks something over* Something went wrong on my side. Try again?",
}


def friendly_error(code: str) -> str:
    return FRIENDLY_ERRORS.get(code, FRIENDLY_ERRORS["llm_unavailable"])


@dataclass
class ReplyJob:
    cat_id: int
    conversation_id: int
    group: str
    received_at: float  # monotonic time the user's message arrived
    reply: Message | None = None
    text: str = ""  # everything the model has said so far
    published: str = ""  # the part of `text` already sent as deltas
    seq: int = 0  # the last delta sent; `published` is exactly deltas 1..seq
    first_token_at: float | None = None
    finished: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    interrupted: bool = False  # stopped by a shutdown, not by the human
    task: asyncio.Task[None] | None = None


# Replies in flight in this process, by conversation: one at a time per conversation.
_jobs: dict[int, ReplyJob] = {}


def start_reply(
    *,
    cat: Cat,
    user_message: Message,
    received_at: float | None = None,
    query: asyncio.Future[list[float] | None] | None = None,
) -> None:
    """Start the cat's reply to `user_message` in a task of its own.

    `query`: the message's recall vector, from `embed_ahead` (started while the message was
    being saved); computed here when not given. Raises ChatInputError(`busy`) if this
    conversation already has a reply in flight.
    """
    conversation_id = user_message.conversation_id
    if conversation_id in _jobs:
        raise services.ChatInputError(
            "busy", "The cat is still answering in this conversation: wait or stop it first."
        )
    job = ReplyJob(
        cat_id=cat.pk,
        conversation_id=conversation_id,
        group=group_name(cat.owner_id, cat.pk),
        received_at=received_at or time.monotonic(),
    )
    _jobs[conversation_id] = job  # reserved before any await: no double start
    # A context of its own: the reply must not inherit the caller's (a REST request's
    # thread-sensitive executor ends with the request; the reply outlives it).
    job.task = asyncio.create_task(
        _run(job, cat, user_message, query),
        name=f"reply-{conversation_id}",
        context=contextvars.Context(),
    )


def is_busy(conversation_id: int | None) -> bool:
    return conversation_id in _jobs


def request_stop(*, cat: Cat, conversation_id: int) -> bool:
    """Ask the reply in flight in that conversation to stop; False if there is none here."""
    job = _jobs.get(conversation_id)
    if job is None or job.cat_id != cat.pk:
        return False
    job.stop.set()
    return True


def stop_group(conversation_id: int) -> str:
    """The group a reply listens on for `chat.stop` sent to another server process."""
    return f"reply-stop.{conversation_id}"


async def stop_anywhere(*, cat: Cat, conversation_id: int) -> None:
    """Stop the reply in flight in that conversation, in this process or any other sharing the
    channel layer. The caller has checked that the conversation is `cat`'s."""
    if request_stop(cat=cat, conversation_id=conversation_id):
        return
    layer = get_channel_layer()
    assert layer is not None  # noqa: S101 - CHANNEL_LAYERS is always configured
    await layer.group_send(
        stop_group(conversation_id), {"type": "reply.stop", "conversation": conversation_id}
    )


# One channel per process (per event loop) hears every relayed stop. Its receive is never
# cancelled: cancelling a channels_redis receive can lose a message meant for another channel
# of the same process (seen in tests: a reply's `chat.done` went missing).
_stop_channels: dict[asyncio.AbstractEventLoop, str] = {}


async def _stop_channel() -> str:
    loop = asyncio.get_running_loop()
    if loop not in _stop_channels:
        layer = get_channel_layer()
        assert layer is not None  # noqa: S101
        channel = await layer.new_channel()
        if loop not in _stop_channels:  # another reply may have made it meanwhile
            _stop_channels[loop] = channel
            loop.create_task(_receive_stops(channel), name="reply-stops")
    return _stop_channels[loop]


async def _receive_stops(channel: str) -> None:
    layer = get_channel_layer()
    assert layer is not None  # noqa: S101
    while True:
        try:
            message = await layer.receive(channel)
        except Exception:
            logger.exception("Receiving relayed stops failed; retrying")
            await asyncio.sleep(1)
            continue
        job = _jobs.get(message.get("conversation"))
        if job is not None:
            job.stop.set()


async def _keep_lease(job: ReplyJob) -> None:
    """Renew the reply's lease while this process writes it: if the process dies, the lease
    runs out and `sweep_interrupted` (in any process) marks the reply `interrupted`."""
    lease = settings.CHAT_REPLY_LEASE_S
    while True:
        await asyncio.sleep(lease / 3)
        if job.reply is not None:
            await database_sync_to_async(services.reply_renew_lease)(reply_id=job.reply.pk)


# --- replies whose process died, and this process's own shutdown -----------------------------

_sweepers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def start_sweeper() -> None:
    """Sweep for replies whose lease ran out, now and then every half lease, on this loop."""
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is None or task.done():
        _sweepers[loop] = loop.create_task(_sweep_forever(), name="reply-sweeper")


async def _sweep_forever() -> None:
    while True:
        try:
            await sweep_interrupted()
        except Exception:
            logger.exception("Sweeping interrupted replies failed; trying again later")
        await asyncio.sleep(settings.CHAT_REPLY_LEASE_S / 2)


async def sweep_interrupted() -> int:
    """Mark `interrupted` the streaming replies whose lease ran out (their process died), and
    tell their (user, cat) tabs with `chat.done`. Returns how many."""
    ended = await database_sync_to_async(services.replies_interrupt_expired)()
    for reply, owner_id, cat_id in ended:
        await send_to_group(
            group_name(owner_id, cat_id),
            {
                "type": "chat.done",
                "message": frames.message_payload(reply, error_detail=INTERRUPTED_DETAIL),
            },
        )
    return len(ended)


INTERRUPTED_DETAIL = "*blinks* I lost my thread when my server napped. Try again?"


async def shutdown(grace: float) -> None:
    """On SIGTERM: let the replies in flight here finish within `grace` seconds, then end the
    rest as `interrupted` (saved with the text so far, and said to their tabs)."""
    tasks = [job.task for job in _jobs.values() if job.task is not None]
    if not tasks:
        return
    logger.info("Shutting down: waiting up to %.0f s for %d replies", grace, len(tasks))
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for job in list(_jobs.values()):
        job.interrupted = True
        job.stop.set()
    if pending:
        await asyncio.wait(pending, timeout=5)
    await asyncio.sleep(0.2)  # a moment for the last frames to reach their sockets


def in_flight(cat: Cat) -> list[frames.MessagePayload]:
    """Replies this process is streaming for `cat`, text and `seq` consistent with each other."""
    payloads = []
    for job in _jobs.values():
        if job.cat_id == cat.pk and job.reply is not None:
            payload = frames.message_payload(job.reply)
            payload["text"] = job.published
            payload["seq"] = job.seq
            payloads.append(payload)
    return payloads


# Replies a follower (REST) takes over instead of waiting for: they ended without an answer.
RETRYABLE = frozenset({Message.Status.ERROR, Message.Status.INTERRUPTED})
FOLLOWED = frozenset({"chat.delta", "error", "chat.done"})


async def follow_turn(
    *, cat: Cat, accepted: services.Accepted, keepalive: float = 15.0
) -> AsyncIterator[dict[str, Any]]:
    """The frames of one turn for a client that is not a tab (REST, Server-Sent Events).

    `chat.accepted`, then the reply's `chat.started`, `chat.delta`s, any `error`, and its
    `chat.done`; `{"type": "keepalive"}` after `keepalive` seconds of silence. The reply is the
    same as for a tab (`start_reply`, frames through the (user, cat) group, which the open tabs
    see too). A resend (same client_id) follows the reply already running, returns the one
    already made, or retries one that failed. A follower that stops listening stops nothing:
    the reply runs to its end and is saved.
    """
    layer = get_channel_layer()
    assert layer is not None  # noqa: S101 - CHANNEL_LAYERS is always configured
    group = group_name(cat.owner_id, cat.pk)
    channel = await layer.new_channel()
    await layer.group_add(group, channel)  # before the reply starts: no frame is missed
    receiving: asyncio.Future[dict[str, Any]] | None = None
    try:
        user_message = accepted.message
        accepted_frame: frames.Accepted = {
            "type": "chat.accepted",
            "client_id": str(user_message.client_id),
            "message": frames.message_payload(user_message),
        }
        await send_to_group(group, accepted_frame)  # the open tabs show it too
        yield dict(accepted_frame)
        reply_id: int | None = None
        existing = (
            None
            if accepted.needs_reply
            else await database_sync_to_async(latest_reply)(user_message)
        )
        if existing is not None and existing.status not in RETRYABLE:
            if existing.status != Message.Status.STREAMING:
                yield {"type": "chat.done", "message": frames.message_payload(existing)}
                return
            reply_id = existing.pk  # still being written: follow it
        else:
            try:
                start_reply(cat=cat, user_message=user_message)
            except services.ChatInputError as exc:
                code: frames.ErrorCode = exc.code  # type: ignore[assignment]
                yield dict(
                    frames.error(code, exc.detail, conversation=user_message.conversation_id)
                )
                return
        idle = 0.0
        while True:
            # One receive at a time, kept across keepalives: a receive is cancelled only when
            # the follower goes away (see `_stop_channels` on why).
            if receiving is None:
                receiving = asyncio.ensure_future(layer.receive(channel))
            done, _ = await asyncio.wait({receiving}, timeout=keepalive)
            if not done:
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
            event, receiving = receiving.result(), None
            idle = 0.0
            frame = event.get("frame") or {}
            kind = frame.get("type")
            if kind == "chat.started" and frame["message"].get("reply_to") == user_message.pk:
                reply_id = frame["message"]["id"]
            elif reply_id is None or kind not in FOLLOWED or _reply_of(frame) != reply_id:
                continue
            yield frame
            if kind == "chat.done":
                return
    finally:
        if receiving is not None:
            receiving.cancel()
        await layer.group_discard(group, channel)


def _reply_of(frame: dict[str, Any]) -> int | None:
    if frame.get("type") == "chat.done":
        reply_id: int = frame["message"]["id"]
        return reply_id
    return frame.get("message_id")


async def wait_idle() -> None:
    """Wait until every reply in flight in this process has finished (tests, shutdown)."""
    while _jobs:
        tasks = [job.task for job in list(_jobs.values()) if job.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)


async def _run(
    job: ReplyJob,
    cat: Cat,
    user_message: Message,
    query: asyncio.Future[list[float] | None] | None,
) -> None:
    try:
        await _generate(job, cat, user_message, query)
    except Exception:
        logger.exception("Reply in conversation %s failed", job.conversation_id)
        await _fail_unexpectedly(job)
    finally:
        _jobs.pop(job.conversation_id, None)
        # Learning from the message waits until the reply is out: it never slows the stream.
        learning.kick()


async def _generate(
    job: ReplyJob,
    cat: Cat,
    user_message: Message,
    query: asyncio.Future[list[float] | None] | None,
) -> None:
    query_vector = await (query if query is not None else _query_vector(user_message.text))
    reply, request, recalled = await database_sync_to_async(services.reply_begin)(
        cat=cat, user_message=user_message, query_vector=query_vector
    )
    job.reply = reply
    remembered = [frames.remembered(item) for item in recalled]
    started: frames.Started = {
        "type": "chat.started",
        "message": frames.message_payload(reply),
        "remembered": remembered,
    }
    await send_to_group(job.group, started)

    publisher = asyncio.create_task(_publish(job))
    pump = asyncio.create_task(_pump(job, llm.stream_chat(request)))
    stopper = asyncio.create_task(job.stop.wait())
    lease = asyncio.create_task(_keep_lease(job))
    layer = get_channel_layer()
    assert layer is not None  # noqa: S101
    stops = stop_group(job.conversation_id)
    await layer.group_add(stops, await _stop_channel())  # hear a chat.stop sent elsewhere
    try:
        await _stream(job, reply, pump, stopper, publisher)
    finally:
        for task in (publisher, pump, stopper, lease):
            task.cancel()
        with contextlib.suppress(Exception):
            await layer.group_discard(stops, await _stop_channel())


async def _stream(
    job: ReplyJob,
    reply: Message,
    pump: asyncio.Task[llm.Finished | None],
    stopper: asyncio.Task[Any],
    publisher: asyncio.Task[None],
) -> None:
    await asyncio.wait({pump, stopper}, return_when=asyncio.FIRST_COMPLETED)

    status = Message.Status.COMPLETE
    finished: llm.Finished | None = None
    failure: llm.LLMError | None = None
    if pump.done():
        stopper.cancel()
        try:
            finished = pump.result()
        except llm.LLMError as exc:
            failure = exc
    else:
        # Cancelling the pump leaves the SDK's `async with`, which closes the upstream response.
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, llm.LLMError):
            await pump
        status = Message.Status.INTERRUPTED if job.interrupted else Message.Status.STOPPED
    if failure is not None:
        status = Message.Status.ERROR
        logger.warning("LLM failure in conversation %s: %s", job.conversation_id, failure)

    job.finished = True
    job.changed.set()
    await publisher

    now = time.monotonic()
    final = await database_sync_to_async(services.reply_finish)(
        reply=reply,
        text=job.published,
        status=status,
        seq=job.seq,
        model=finished.model if finished else "",
        usage=finished.usage if finished else None,
        error_code=failure.code if failure else "",
        latency_ms=round((now - job.received_at) * 1000),
        ttft_ms=round((job.first_token_at - job.received_at) * 1000)
        if job.first_token_at
        else None,
    )
    detail = friendly_error(failure.code) if failure else ""
    if failure is not None:
        extra: dict[str, Any] = {"conversation": job.conversation_id, "message_id": reply.pk}
        if failure.retry_after is not None:
            extra["retry_after"] = failure.retry_after
        await send_to_group(job.group, frames.error(failure.code, detail, **extra))  # type: ignore[arg-type]
    await send_to_group(
        job.group,
        {"type": "chat.done", "message": frames.message_payload(final, error_detail=detail)},
    )


def embed_ahead(text: str) -> asyncio.Future[list[float] | None]:
    """Start computing `text`'s recall vector now, in a worker thread, so that it is ready
    when the reply starts: the caller saves the message meanwhile (the two overlap instead of
    adding up before the first token). Pass the result to `start_reply(query=...)`; cancel it
    if the message is refused."""
    return asyncio.ensure_future(_query_vector(text))


async def _query_vector(text: str) -> list[float] | None:
    """The user's message as a recall query, computed off the event loop. Recall still works
    from full text alone if the embedder fails."""
    try:
        return await embeddings.embed_query(text)
    except (llm.LLMError, OSError) as exc:
        logger.warning("No query embedding for recall: %s", exc)
        return None


async def _pump(job: ReplyJob, stream: Any) -> llm.Finished | None:
    finished = None
    async for event in stream:
        if isinstance(event, llm.Token):
            if job.first_token_at is None:
                job.first_token_at = time.monotonic()
            job.text += event.text
            job.changed.set()
        else:
            finished = event
    return finished


async def _publish(job: ReplyJob) -> None:
    """Send what the model said as coalesced deltas: the first at once, then one per window."""
    window = settings.CHAT_DELTA_WINDOW_MS / 1000
    save_every = settings.CHAT_SAVE_INTERVAL_MS / 1000
    last_save = time.monotonic()
    while True:
        await job.changed.wait()
        job.changed.clear()
        await _flush(job)
        if job.finished:
            await _flush(job)  # whatever arrived while the last delta was on its way
            return
        if time.monotonic() - last_save >= save_every and job.reply is not None:
            last_save = time.monotonic()
            await database_sync_to_async(services.reply_save_partial)(
                reply_id=job.reply.pk, text=job.published, seq=job.seq
            )
        await asyncio.sleep(window)


async def _flush(job: ReplyJob) -> None:
    if len(job.text) == len(job.published) or job.reply is None:
        return
    chunk = job.text[len(job.published) :]
    # Advance the snapshot before sending: a tab that joins now gets this text in `hello` and
    # ignores the delta by its seq.
    job.seq += 1
    job.published = job.text
    delta: frames.Delta = {
        "type": "chat.delta",
        "message_id": job.reply.pk,
        "conversation": job.conversation_id,
        "seq": job.seq,
        "text": chunk,
    }
    await send_to_group(job.group, delta)


async def _fail_unexpectedly(job: ReplyJob) -> None:
    """A bug or a database fault: end the reply as `error` if we can, and tell the tabs."""
    reply = job.reply
    detail = friendly_error("server_error")
    with contextlib.suppress(Exception):
        if reply is not None:
            reply = await database_sync_to_async(services.reply_finish)(
                reply=reply,
                text=job.published,
                status=Message.Status.ERROR,
                seq=job.seq,
                error_code="server_error",
            )
    extra: dict[str, Any] = {"conversation": job.conversation_id}
    if reply is not None:
        extra["message_id"] = reply.pk
    with contextlib.suppress(Exception):
        await send_to_group(job.group, frames.error("server_error", detail, **extra))
        if reply is not None:
            await send_to_group(
                job.group,
                {
                    "type": "chat.done",
                    "message": frames.message_payload(reply, error_detail=detail),
                },
            )
