"""The streaming half of a chat turn: one task per reply, independent of any socket.

`start_reply` runs the model in a task owned by this module (not by the socket that asked), so a
reload or a closed tab does not end the reply. Frames go to the channel group of the (user, cat),
so every open tab sees the same stream. Tokens are gathered for `CHAT_DELTA_WINDOW_MS` and cross
the channel layer as one numbered `chat.delta` (STACK.md: a group message per token is 8-80x
slower and channels_redis drops frames). The partial text is saved at most every
`CHAT_SAVE_INTERVAL_MS`, so a reconnecting tab (or another process) can resume; with a shared
cache (Redis) the text published so far and its seq are also put there before each delta is
sent, so a tab joining on another process gets exactly the text up to the deltas it will hear.

Whether a conversation is busy is the database's to say (a streaming reply with a live lease:
`services.message_accept`, `regenerate_target`); `_jobs` is this process's fast path.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache

from catchat import embeddings, llm, realtime
from catchat.realtime import group_name, send_to_group
from cats import frames, services
from cats.chat.leases import keep_lease
from cats.models import Cat, Message
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
    # Saved as finished: the conversation is free (the task still tells the tabs, then ends).
    saved: bool = False
    task: asyncio.Task[None] | None = None


# Replies in flight in this process, by conversation: one at a time per conversation (one saved
# as finished may still be telling its tabs while the next starts: `is_busy`).
_jobs: dict[int, ReplyJob] = {}
# Every reply task of this process until it ends (what `wait_idle` and `shutdown` wait for).
_tasks: set[asyncio.Task[None]] = set()


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
    conversation already has a reply in flight in this process (the caller has asked the
    database about the others: `message_accept`, `regenerate_target`).
    """
    conversation_id = user_message.conversation_id
    if is_busy(conversation_id):
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
    _tasks.add(job.task)
    job.task.add_done_callback(_tasks.discard)


def is_busy(conversation_id: int | None) -> bool:
    job = _jobs.get(conversation_id)  # type: ignore[arg-type]
    return job is not None and not job.saved


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
    group = stop_group(conversation_id)
    layer = get_channel_layer()
    assert layer is not None  # noqa: S101 - CHANNEL_LAYERS is always configured
    # `group`: the realtime hub of the process writing the reply hands it to that reply.
    await layer.group_send(
        group, {"type": "reply.stop", "conversation": conversation_id, "group": group}
    )


async def shutdown(grace: float) -> None:
    """On SIGTERM: let the replies in flight here finish within `grace` seconds, then end the
    rest as `interrupted` (saved with the text so far, and said to their tabs)."""
    tasks = list(_tasks)
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


# --- what a tab that joins now must be shown ------------------------------------------------


def _shared_cache() -> bool:
    """True when the cache is shared by the processes (Redis), not one per process."""
    return "locmem" not in settings.CACHES["default"]["BACKEND"].lower()


def _snapshot_key(reply_id: int) -> str:
    return f"reply-snapshot:{reply_id}"


async def _put_snapshot(reply_id: int, seq: int, text: str) -> None:
    """Before delta `seq` is sent: the text of deltas 1..seq, for tabs joining elsewhere.
    Off the event loop and off the database's thread (a Redis round trip)."""
    timeout = max(60, settings.CHAT_REPLY_LEASE_S * 4)
    await sync_to_async(cache.set, thread_sensitive=False)(
        _snapshot_key(reply_id), (seq, text), timeout
    )


async def in_flight(cat: Cat) -> list[frames.MessagePayload]:
    """The replies being written for `cat` in any process (streaming, with a live lease), each
    with its text so far and the `seq` of the last delta that text includes.

    Call it after joining the (user, cat) group: the text is then at least as new as every
    delta sent before the join (this process's own job, or the shared snapshot that the writing
    process updates before each delta; the database's copy, saved every
    CHAT_SAVE_INTERVAL_MS, when neither is newer), and the tab drops deltas up to `seq`."""
    replies = await database_sync_to_async(services.replies_streaming)(cat=cat)
    local = {job.reply.pk: job for job in _jobs.values() if job.cat_id == cat.pk and job.reply}
    remote = [reply.pk for reply in replies if reply.pk not in local]
    snapshots: dict[str, tuple[int, str]] = {}
    if remote and _shared_cache():
        snapshots = await sync_to_async(cache.get_many, thread_sensitive=False)(
            [_snapshot_key(pk) for pk in remote]
        )
    payloads = []
    for reply in replies:
        payload = frames.message_payload(reply)
        job = local.pop(reply.pk, None)
        if job is not None:
            payload["text"], payload["seq"] = job.published, job.seq
        else:
            seq, text = snapshots.get(_snapshot_key(reply.pk), (reply.stream_seq, reply.text))
            if seq >= reply.stream_seq:
                payload["text"], payload["seq"] = text, seq
        payloads.append(payload)
    for job in local.values():  # started here since the query
        assert job.reply is not None  # noqa: S101
        payload = frames.message_payload(job.reply)
        payload["text"], payload["seq"] = job.published, job.seq
        payloads.append(payload)
    return payloads


async def wait_idle() -> None:
    """Wait until every reply in flight in this process has finished (tests, shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


async def _run(
    job: ReplyJob,
    cat: Cat,
    user_message: Message,
    query: asyncio.Future[list[float] | None] | None,
) -> None:
    try:
        await _generate(job, cat, user_message, query)
    except services.ChatInputError as exc:
        # Refused before the reply was created (`busy`: another process began one in this
        # conversation first). The user's message is kept; the tabs and the sender hear why.
        extra: dict[str, Any] = {"conversation": job.conversation_id}
        if user_message.client_id:  # whose message it was (a REST sender waits for it)
            extra["client_id"] = str(user_message.client_id)
        refused = frames.error(exc.code, exc.detail, **extra)  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            await send_to_group(job.group, refused)
    except Exception:
        logger.exception("Reply in conversation %s failed", job.conversation_id)
        await _fail_unexpectedly(job)
    finally:
        _release(job)
        # Learning from the message waits until the reply is out: it never slows the stream.
        learning.kick()


def _release(job: ReplyJob) -> None:
    """`job` is over (and not a job started after it, once it was saved: `is_busy`)."""
    if _jobs.get(job.conversation_id) is job:
        del _jobs[job.conversation_id]


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
    lease = asyncio.create_task(keep_lease(lambda: job.reply))
    # Hear a chat.stop sent elsewhere through this process's one channel (the realtime hub): a
    # second receiving channel in one process can lose messages meant for the other
    # (channels_redis), which is how a tab once missed a reply's `chat.done`.
    stops = stop_group(job.conversation_id)

    async def heard(message: dict[str, Any]) -> None:
        job.stop.set()

    await realtime.join(stops, heard)
    try:
        await _stream(job, reply, pump, stopper, publisher)
    finally:
        for task in (publisher, pump, stopper, lease):
            task.cancel()
        with contextlib.suppress(Exception):
            await realtime.leave(stops, heard)


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
    # Saved as finished: the conversation is free before the tabs hear so, or a switch or an
    # edit sent the moment `chat.done` arrives would be told `busy`.
    job.saved = True
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
    if _shared_cache():
        await _put_snapshot(job.reply.pk, job.seq, job.published)
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
