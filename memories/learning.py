"""Learning from what the human said: the durable queue, episodes at once, facts in batches.

A chat turn queues its user message (`job_enqueue`, in the turn's transaction) and, once the
reply is out, kicks this process's two workers (`kick`):

- **Episodes** (`memories.episodes`): every waiting message whose reply is out becomes an
  episode right away. No model call (the passage is embedded by the local embedder), so what
  was just said is recallable, word for word, before the next message.
- **Facts**, in batches: the waiting messages of one memory profile, up to
  `LEARNING_BATCH_MESSAGES`, go to Mistral in ONE JSON-mode call (`memories.extraction`: every
  fact names its message, so its source, quote and supersession stay per message). A profile's
  messages wait until `LEARNING_BATCH_MESSAGES` of them are queued, the human has been quiet
  for `LEARNING_DEFER_S` (the conversation paused), or the oldest has waited
  `LEARNING_MAX_DEFER_S`. A timer on the worker's loop wakes it when the next profile is due,
  and at least every `SWEEP_S`, so a lone message is learned about `LEARNING_DEFER_S` after
  it was said with nothing else happening, and jobs another process left are found. Offline
  (heuristics, no model call) nothing waits. The figures: memories/LEARNING.md.

Durable: a job is a row until its facts are saved. A batch is claimed with `SKIP LOCKED`
(`running`, with a lease), one batch per profile at a time; a process that dies holding one
leaves it to any other after `LEASE`. A failed model call puts the batch back, retried
`LEARNING_RETRY_S` later (the last of `MAX_ATTEMPTS` falls back to the heuristics). Once: a
batch's facts are saved and its jobs marked done in one transaction, so a batch retried after
a failure or a death stores nothing twice; and the same fact said twice is stored once.

Forgetting: a "forget ..." is carried out in the chat turn (`memories.forgetting`), possibly
before the batch holding what it names has run. So, with `forgetting`'s own rule (more than
half of the request's words), a message a later "forget ..." names is not made an episode
again, and a fact of an earlier message that it names is not stored: what the turn would have
forgotten had the batch run before it. A bare "forget it" cancels its message's job in the turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Value
from django.utils import timezone

from catchat import embeddings
from catchat.llm import LLMError, llm_mode
from memories import episodes, forgetting, heuristics, services
from memories.extraction import Decision, Existing, Said, extract_with_llm
from memories.models import Episode, ExtractionJob, Memory, MemoryProfile, text_key
from memories.recall import FACT, recall

logger = logging.getLogger(__name__)

# A batch whose process died is taken again after this long (its model call, with the SDK's
# retries, ends well before).
LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 3
# The worker looks at the queue at least this often (seconds): jobs another process queued and
# left when it died.
SWEEP_S = 60.0
# Existing memories shown to the model for a batch (the nearest to each message, in turn).
EXISTING_PER_BATCH = 24
SIMILAR_PER_MESSAGE = 8
# Messages that may be a "forget ..." (`forgetting.forget_request` decides), found in SQL.
_FORGET_WORDS = r"forget|stop\s+remembering|unlearn|oubli|olvid"

PENDING = ExtractionJob.Status.PENDING
RUNNING = ExtractionJob.Status.RUNNING
DONE = ExtractionJob.Status.DONE
FAILED = ExtractionJob.Status.FAILED


def job_enqueue(*, profile: MemoryProfile, message_id: int) -> None:
    """Queue a user message for learning (idempotent: one job per message)."""
    if profile.enabled:
        ExtractionJob.objects.bulk_create(
            [ExtractionJob(message_id=message_id, profile=profile)], ignore_conflicts=True
        )


def job_requeue(*, profile: MemoryProfile, message_id: int) -> None:
    """Learn from a message again, as from a new one, when it is shown again after being taken
    back (a version of it is shown again: `cats.services.versions`): its episode, then its
    facts, reconciled with what is known now. Only a job taken back is queued afresh: a
    message said while memory was off (it has none) or forgotten is never learned; nothing
    while memory is off."""
    if not profile.enabled:
        return
    ExtractionJob.objects.filter(
        message_id=message_id, error__startswith=ExtractionJob.TAKEN_BACK
    ).update(
        status=PENDING,
        attempts=0,
        claimed_at=None,
        finished_at=None,
        error="",
        created_at=timezone.now(),
    )


def jobs_enqueue(*, profile: MemoryProfile, message_ids: list[int]) -> None:
    """`job_enqueue` for many messages (an import), in batches."""
    if profile.enabled and message_ids:
        ExtractionJob.objects.bulk_create(
            [ExtractionJob(message_id=pk, profile=profile) for pk in message_ids],
            ignore_conflicts=True,
            batch_size=1000,
        )


def job_keep_query(*, message_id: int, vector: list[float] | None, model: str) -> None:
    """Keep the message's recall vector (made by `model`) with its learning job, for learning
    to reuse. One UPDATE; nothing when there is no vector."""
    if vector is not None:
        ExtractionJob.objects.filter(message_id=message_id).update(
            query_vector=vector, query_model=model
        )


# --- the worker of this process ---------------------------------------------------------------


class _Worker:
    """A task of this loop running `work` until it finds nothing left, and once more when it
    was kicked meanwhile (a job queued just as it found none waits for no one)."""

    def __init__(self, work: Callable[[], Awaitable[None]], name: str) -> None:
        self.work = work
        self.name = name
        self.task: asyncio.Task[None] | None = None
        self.again = False

    def kick(self) -> None:
        if self.task is None or self.task.done():
            self.again = False
            self.task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
        else:
            self.again = True

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.done()

    async def idle(self) -> None:
        if self.task is not None and self.task is not asyncio.current_task():
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.work()
            except Exception:
                logger.exception("%s failed; the next kick or timer tries again", self.name)
            if not self.again:
                return
            self.again = False


@dataclass
class _Process:
    """This loop's learning: the worker (looks at the queue, makes episodes, starts batches),
    the batch in flight (its model call never holds up the next message's episode), and the
    timer that wakes the worker when the next batch is due."""

    worker: _Worker
    batch: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None


_loops: dict[asyncio.AbstractEventLoop, _Process] = {}


def _here() -> _Process:
    loop = asyncio.get_running_loop()
    found = _loops.get(loop)
    if found is None:
        for closed in [other for other in _loops if other.is_closed()]:
            del _loops[closed]
        found = _loops[loop] = _Process(_Worker(_look_and_start, "memories-learning"))
    return found


def kick() -> None:
    """Look at the queue in the background, on this loop: make the waiting messages episodes,
    start the batch that is due, and arm the timer for the next one."""
    _here().worker.kick()


async def wait_idle() -> None:
    """Wait until this loop's worker and batches are done with what they found. Facts whose
    batch is not due yet stay queued (`drain()` learns everything now)."""
    here = _loops.get(asyncio.get_running_loop())
    while here is not None:
        await here.worker.idle()
        if here.batch is not None and not here.batch.done():
            await asyncio.gather(here.batch, return_exceptions=True)
        elif not here.worker.busy:
            return


async def drain(limit: int | None = None, *, force: bool = True) -> int:
    """Learn from the queue now, on this loop; returns how many jobs were finished.

    First the episodes of every waiting message, then the facts, batch by batch: of every
    waiting message (`force`, the default: a management command, a test, a benchmark), or
    only of the batches due (`force=False`). Stops after about `limit` jobs, or when nothing
    (due) is left. Messages whose reply is still streaming wait for it. Every step is awaited
    (the database and the embedder run in threads), so the loop is never blocked.
    """
    done = await _record_waiting_episodes()
    passed: set[int] = set()
    while limit is None or done < limit:
        queue = await database_sync_to_async(_look)(force=force, passed=passed)
        if queue.due is None:
            break
        size = settings.LEARNING_BATCH_MESSAGES
        if limit is not None:
            size = min(size, limit - done)
        learned = await _learn_batch(queue.due, size)
        if learned is None:
            passed.add(queue.due)
        else:
            done += learned
        await asyncio.sleep(0)
    return done


async def _look_and_start() -> None:
    """The worker's pass: one query when nothing waits."""
    here = _here()
    wake: float | None = SWEEP_S
    try:
        queue = await database_sync_to_async(_look)(force=False, passed=set())
        wake = queue.wake
        if queue.episodes:
            await _record_waiting_episodes()
        if queue.due is not None and (here.batch is None or here.batch.done()):
            here.batch = asyncio.get_running_loop().create_task(
                _batch_then_look(queue.due), name="memories-batch"
            )
    finally:
        _arm(here, SWEEP_S if wake is None else min(wake, SWEEP_S))


async def _batch_then_look(profile_id: int) -> None:
    here = _here()
    learned = None
    try:
        learned = await _learn_batch(profile_id, settings.LEARNING_BATCH_MESSAGES)
    finally:
        if learned is None:
            _arm(here, 1.0)  # another drain was claiming it: look again in a while
        else:
            here.worker.kick()  # the next batch may be due already


def _arm(here: _Process, delay: float) -> None:
    """Wake the worker in `delay` seconds (one timer per loop, the latest wins)."""
    if here.timer is not None:
        here.timer.cancel()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # the loop is closing, and its pending tasks are being destroyed
    here.timer = loop.call_later(max(delay, 0.05), here.worker.kick)


# --- episodes ----------------------------------------------------------------------------------


async def _record_waiting_episodes() -> int:
    """Episodes for every waiting message whose reply is out (or the vector of one an import
    recorded), a chunk at a time, one embedding call per chunk; not for a message a later
    "forget ..." named. A "forget ..." itself teaches nothing: its job is finished here.
    Returns how many jobs were finished. An embedder failure leaves episodes without a vector,
    tried again at the next pass."""
    model = embeddings.model_name()
    finished = 0
    after: tuple[datetime, int] | None = None
    while True:
        jobs = await database_sync_to_async(_episode_jobs)(model, after)
        if not jobs:
            return finished
        after = (jobs[-1].created_at, jobs[-1].pk)
        asks, forgotten = await database_sync_to_async(_sort_out)(jobs)
        finished += len(asks)
        await _record_episodes([job for job in jobs if job.pk not in asks | forgotten])


def _episode_jobs(model: str, after: tuple[datetime, int] | None) -> list[ExtractionJob]:
    """Pending jobs of profiles switched on whose message has no episode with a vector of
    `model`, oldest first, after `after` (created_at, id)."""
    jobs = _open_jobs().filter(status=PENDING, profile__enabled=True)
    if after is not None:
        jobs = jobs.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], pk__gt=after[1]))
    embedded = Episode.objects.filter(message_id=OuterRef("message_id"), embedding_model=model)
    return list(
        jobs.filter(~Exists(embedded))
        .select_related("message", "profile__cat")
        .order_by("created_at", "id")[: episodes.EMBED_BATCH]
    )


def _sort_out(jobs: list[ExtractionJob]) -> tuple[set[int], set[int]]:
    """Of `jobs`, the "forget ..." requests (carried out in the chat; nothing to learn: marked
    done) and the messages a later request named (no episode); by job id."""
    requests: dict[int, list[_Forget]] = {}
    asks, forgotten = set(), set()
    for job in jobs:
        if job.profile_id not in requests:
            mine = [j for j in jobs if j.profile_id == job.profile_id]
            requests[job.profile_id] = _forget_requests(job.profile_id, mine)
        if heuristics.forget_request(job.message.text) is not None:
            asks.add(job.pk)
        elif _forgotten(requests[job.profile_id], job.message):
            forgotten.add(job.pk)
    if asks:
        ExtractionJob.objects.filter(pk__in=asks, status=PENDING).update(
            status=DONE, finished_at=timezone.now(), error=""
        )
    return asks, forgotten


async def _record_episodes(jobs: list[ExtractionJob]) -> None:
    """Make each job's message an episode, with the cat's lines around it, or give the one an
    import recorded its vector; one embedding call, outside any lock. Idempotent."""
    if not jobs:
        return
    model = embeddings.model_name()
    todo = await database_sync_to_async(_episodes_to_embed)(jobs, model)
    if not todo:
        return
    texts = [
        episodes.passage(job.profile.cat.name, said.message.text, said.before, said.after)
        for job, said, _ in todo
    ]
    vectors: list[list[float] | None]
    try:
        vectors = list(await embeddings.embed_passages(texts))
    except (LLMError, OSError) as exc:
        logger.warning("Episodes left without an embedding: %s", exc)
        vectors = [None] * len(texts)
    await database_sync_to_async(_save_episodes)(todo, vectors, model)


def _episodes_to_embed(
    jobs: list[ExtractionJob], model: str
) -> list[tuple[ExtractionJob, episodes.Context, bool]]:
    """Per job still to embed: what to embed for its message's episode, and whether the episode
    exists already (an import recorded it without a vector)."""
    recorded = {
        pk: (before, after, embedded_by)
        for pk, before, after, embedded_by in Episode.objects.filter(
            pk__in=[job.message_id for job in jobs]
        ).values_list("pk", "before", "after", "embedding_model")
    }
    todo = []
    for job in jobs:
        found = recorded.get(job.message_id)
        if found is None:
            todo.append((job, episodes.context_of(job.message), False))
        elif found[2] != model:
            before, after, _ = found
            todo.append((job, episodes.Context(job.message, before=before, after=after), True))
    return todo


def _save_episodes(
    todo: list[tuple[ExtractionJob, episodes.Context, bool]],
    vectors: list[list[float] | None],
    model: str,
) -> None:
    """Save the episodes embedded outside any lock, but not of a message taken back or
    forgotten meanwhile: its job's row is locked and read again first, so one taken back
    while this commits waits for it, then deletes what it saved (`forgetting`)."""
    with transaction.atomic():
        locked = ExtractionJob.objects.filter(pk__in=[job.pk for job, _, _ in todo])
        gone = {
            pk
            for pk, error in locked.select_for_update().values_list("pk", "error")
            if error.startswith((ExtractionJob.TAKEN_BACK, ExtractionJob.FORGOTTEN))
        }
        rows = []
        for (job, said, recorded), vector in zip(todo, vectors, strict=True):
            if job.pk in gone:
                continue
            if not recorded:
                rows.append(episodes.episode(job.profile, said, vector, model))
            elif vector is not None:
                Episode.objects.filter(pk=job.message_id, text=said.message.text).update(
                    embedding=vector, embedding_model=model
                )
        Episode.objects.bulk_create(rows, ignore_conflicts=True)


# --- which batch is due ------------------------------------------------------------------------


def _open_jobs() -> QuerySet[ExtractionJob]:
    """Jobs not finished, short of MAX_ATTEMPTS; pending ones only once their message's reply
    is out (an episode holds the cat's answer)."""
    message_model: Any = ExtractionJob._meta.get_field("message").related_model
    streaming = message_model.objects.filter(reply_to=OuterRef("message_id"), status="streaming")
    return ExtractionJob.objects.filter(
        Q(status=RUNNING) | (Q(status=PENDING) & ~Exists(streaming)),
        attempts__lt=MAX_ATTEMPTS,
    )


def _available(now: datetime) -> Q:
    """Jobs a batch may take: pending (a retried one `LEARNING_RETRY_S` after its last
    attempt), or left running by a process that died (lease run out)."""
    retry = timedelta(seconds=settings.LEARNING_RETRY_S)
    return (
        Q(status=PENDING, attempts=0)
        | Q(status=PENDING, claimed_at__lte=now - retry)
        | Q(status=RUNNING, claimed_at__lte=now - LEASE)
    )


@dataclass(frozen=True)
class _Queue:
    episodes: bool  # some waiting message has no episode yet
    due: int | None  # the profile whose batch to learn now (None: none is due)
    wake: float | None  # seconds until the next batch is due (None: no job waits)


def _look(*, force: bool, passed: set[int]) -> _Queue:
    """The queue, in one query (an empty one costs only that): whether episodes are waiting,
    which profile's batch to learn now (its oldest waiting message first), when the next will
    be due. Profiles in `passed` are left out.

    A profile is due when `LEARNING_BATCH_MESSAGES` of its messages wait, when its newest
    waited `LEARNING_DEFER_S` (a pause), when its oldest waited `LEARNING_MAX_DEFER_S`, when a
    retry's time came, or when a dead process's lease ran out; with `force` or offline, as soon
    as a message waits. Never while a batch of it is in flight (one at a time per profile).
    """
    now = timezone.now()
    fresh = Q(status=PENDING, attempts=0)
    embedded = Episode.objects.filter(
        message_id=OuterRef("message_id"), embedding_model=embeddings.model_name()
    )
    rows = (
        _open_jobs()
        .exclude(profile_id__in=passed)
        .values("profile_id")
        .annotate(
            episodes=Count(
                "id", filter=Q(~Exists(embedded), status=PENDING, profile__enabled=True)
            ),
            waiting=Count("id", filter=fresh),
            first=Min("created_at", filter=fresh),
            last=Max("created_at", filter=fresh),
            retry_from=Min("claimed_at", filter=Q(status=PENDING, attempts__gt=0)),
            running_since=Max("claimed_at", filter=Q(status=RUNNING)),
        )
        .order_by()
    )
    immediate = force or llm_mode() != "mistral"
    due: list[tuple[datetime, datetime, int]] = []
    episodes_waiting = False
    for row in rows:
        episodes_waiting = episodes_waiting or row["episodes"] > 0
        at = _due_at(row, now, immediate=immediate)
        if at is not None:
            due.append((at, row["first"] or at, row["profile_id"]))
    now_due = [d for d in due if d[0] <= now]
    later = [d[0] for d in due if d[0] > now]
    wake = (min(later) - now).total_seconds() if later else None
    first_due = min(now_due, key=lambda d: (d[1], d[2]))[2] if now_due else None
    return _Queue(episodes_waiting, first_due, wake)


def _due_at(row: Mapping[str, Any], now: datetime, *, immediate: bool) -> datetime | None:
    running_since = row["running_since"]
    if running_since is not None and running_since + LEASE > now:
        return running_since + LEASE  # in flight; its drain looks again when it is done
    times = []
    if running_since is not None:
        times.append(now)  # left by a process that died
    if row["retry_from"] is not None:
        times.append(row["retry_from"] + timedelta(seconds=settings.LEARNING_RETRY_S))
    if row["waiting"]:
        if immediate or row["waiting"] >= settings.LEARNING_BATCH_MESSAGES:
            times.append(now)
        else:
            times.append(
                min(
                    row["last"] + timedelta(seconds=settings.LEARNING_DEFER_S),
                    row["first"] + timedelta(seconds=settings.LEARNING_MAX_DEFER_S),
                )
            )
    return min(times) if times else None


def _claim(profile_id: int, size: int) -> list[ExtractionJob]:
    """Take up to `size` of the profile's available jobs, oldest first, and mark them running,
    in one short transaction. Nothing when another drain is claiming this profile (its row is
    locked) or a batch of it is in flight: two batches of one profile at once could both add
    the same new fact."""
    now = timezone.now()
    with transaction.atomic():
        profile = MemoryProfile.objects.select_for_update(skip_locked=True, no_key=True)
        if not profile.filter(pk=profile_id).values_list("pk", flat=True):
            return []
        busy = ExtractionJob.objects.filter(
            profile_id=profile_id, status=RUNNING, claimed_at__gt=now - LEASE
        )
        if busy.exists():
            return []
        jobs = list(
            _open_jobs()
            .select_for_update(skip_locked=True, of=("self",))
            .filter(_available(now), profile_id=profile_id)
            .select_related("message", "profile__cat")
            .order_by("created_at", "id")[:size]
        )
        if jobs:
            ExtractionJob.objects.filter(pk__in=[job.pk for job in jobs]).update(
                status=RUNNING, attempts=F("attempts") + 1, claimed_at=now
            )
        for job in jobs:
            job.status = RUNNING
            job.attempts += 1
            job.claimed_at = now
    return jobs


async def _learn_batch(profile_id: int, size: int) -> int | None:
    """Claim and learn one batch of the profile; returns how many jobs were finished, None
    when there was none to claim (another drain holds the profile, or has the batch)."""
    jobs = await database_sync_to_async(_claim)(profile_id, size)
    if not jobs:
        return None
    try:
        return await _learn(jobs)
    except Exception as exc:
        logger.exception("Learning from messages %s failed", [j.message_id for j in jobs])
        await database_sync_to_async(_fail)(jobs, exc)
        return 0


def _fail(jobs: list[ExtractionJob], exc: BaseException) -> None:
    # Pending again until MAX_ATTEMPTS (retried LEARNING_RETRY_S later), then failed.
    for status, mine in (
        (FAILED, [j.pk for j in jobs if j.attempts >= MAX_ATTEMPTS]),
        (PENDING, [j.pk for j in jobs if j.attempts < MAX_ATTEMPTS]),
    ):
        if mine:
            ExtractionJob.objects.filter(pk__in=mine, status=RUNNING).update(
                status=status, error=repr(exc)[:300]
            )


# --- learning from a batch ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    decisions: list[Decision]
    targets: dict[str, Memory]  # local id -> memory, for updates (shared by a batch)
    slots: list[str]  # per decision, "" when none (heuristics only)


class _TryLater(Exception):
    """The model call failed and attempts remain: the batch goes back to the queue."""


async def process(job: ExtractionJob) -> None:
    """Learn from one job's message alone (a batch of one), then mark the job done."""
    await _learn([job])


async def _learn(jobs: list[ExtractionJob]) -> int:
    """Learn from `jobs` (of one profile, oldest first; claimed), then mark them done with
    their facts in one transaction; returns how many were finished (0 when the model call
    failed and the batch went back to the queue).

    Only the human's own messages are read, never the cat's replies: facts are about the
    human, so which of a regenerated turn's alternatives is kept changes nothing learned here
    (the kept reply is what the next prompt shows the model,
    `cats.services.messages.reply_begin`).
    """
    profile = jobs[0].profile
    plans: dict[int, _Plan] = {}
    if profile.enabled:  # switched off since they were queued: nothing is learned
        requests = await database_sync_to_async(_forget_requests)(profile.pk, jobs)
        learnable = [job for job in jobs if heuristics.forget_request(job.message.text) is None]
        # Normally made right after the turn (`_record_waiting_episodes`); not when the process
        # died before.
        await _record_episodes([j for j in learnable if not _forgotten(requests, j.message)])
        try:
            plans = await _plans(profile, learnable)
        except _TryLater as exc:
            await database_sync_to_async(_fail)(jobs, exc)
            return 0
    # Embedded here, before `_apply` locks the jobs' rows.
    texts = {
        d.text.strip()[:500] for plan in plans.values() for d in plan.decisions if d.op != "none"
    }
    embedded = await _embed_facts(sorted(texts - {""}))
    return await database_sync_to_async(_apply)(jobs, plans, embedded)


async def _plans(profile: MemoryProfile, jobs: list[ExtractionJob]) -> dict[int, _Plan]:
    """Per job, what to learn: from Mistral in one call for all, else from heuristics."""
    if not jobs:
        return {}
    if llm_mode() == "mistral":
        try:
            return await _llm_plans(profile, jobs)
        except LLMError as exc:
            if max(job.attempts for job in jobs) < MAX_ATTEMPTS:
                logger.warning("Mistral extraction failed, retried later: %s", exc)
                raise _TryLater(repr(exc)) from exc
            logger.warning("Mistral extraction failed again, using heuristics: %s", exc)
    name = profile.cat.name
    return {job.pk: _heuristic_plan(job.message.text, cat_name=name) for job in jobs}


async def _llm_plans(profile: MemoryProfile, jobs: list[ExtractionJob]) -> dict[int, _Plan]:
    model = embeddings.model_name()
    vectors = await asyncio.gather(*(_query_vector(job, model) for job in jobs))
    queries = [(job.message.text, vector) for job, vector in zip(jobs, vectors, strict=True)]
    similar = await database_sync_to_async(_similar_to_any)(profile, queries, model)
    existing = [Existing(f"m{i + 1}", m.text, m.category) for i, m in enumerate(similar)]
    said = [Said(f"u{i + 1}", job.message.text) for i, job in enumerate(jobs)]
    decisions = await extract_with_llm(messages=said, existing=existing)
    targets = {e.local_id: m for e, m in zip(existing, similar, strict=True)}
    plans = {}
    for job, message in zip(jobs, said, strict=True):
        mine = [d for d in decisions if d.message == message.local_id]
        plans[job.pk] = _Plan(mine, targets, [""] * len(mine))
    return plans


async def _query_vector(job: ExtractionJob, model: str) -> list[float] | None:
    # The turn kept the message's recall vector with its job: it is not embedded twice.
    if job.query_vector is not None and job.query_model == model:
        return list(job.query_vector)
    try:
        return await embeddings.embed_query(job.message.text)
    except (LLMError, OSError) as exc:
        logger.warning("No query embedding for extraction: %s", exc)
        return None


def _similar_to_any(
    profile: MemoryProfile, queries: list[tuple[str, list[float] | None]], model: str
) -> list[Memory]:
    """The active facts nearest to each message, taken in turn (each message's best first),
    at most EXISTING_PER_BATCH: what the batch may update."""
    found = [_similar_facts(profile, text, vector, model) for text, vector in queries]
    merged: dict[int, Memory] = {}
    for rank in range(SIMILAR_PER_MESSAGE):
        for facts in found:
            if rank < len(facts) and len(merged) < EXISTING_PER_BATCH:
                merged.setdefault(facts[rank].pk, facts[rank])
    return list(merged.values())


def _similar_facts(
    profile: MemoryProfile, text: str, vector: list[float] | None, model: str
) -> list[Memory]:
    """The active facts nearest to `text`, best first: what extraction may update."""
    found = recall(
        profile=profile,
        query_text=text,
        query_vector=vector,
        model=model,
        limit=SIMILAR_PER_MESSAGE,
        token_budget=800,
        kinds=frozenset({FACT}),
    )
    memories = Memory.objects.defer("embedding", "search").in_bulk([f.id for f in found])
    return [memories[f.id] for f in found if f.id in memories]


def _heuristic_plan(text: str, *, cat_name: str) -> _Plan:
    # Facts about the cat itself ("my cat Whiskers") are not facts about the human.
    facts = heuristics.extract_facts(text, cat_name=cat_name)
    decisions = [Decision("add", f.text, f.category, f.importance, None, f.quote) for f in facts]
    return _Plan(decisions, {}, [f.slot or "" for f in facts])


async def _embed_facts(texts: list[str]) -> dict[str, services.Embedded]:
    """Each text's vector as a fact; an embedder failure leaves them to `memory_create` (which
    saves a fact without a vector rather than lose it)."""
    if not texts:
        return {}
    try:
        vectors = await embeddings.embed_passages(texts)
    except (LLMError, OSError) as exc:
        logger.warning("No embeddings for new facts: %s", exc)
        return {}
    model = embeddings.model_name()
    return {t: (v, model) for t, v in zip(texts, vectors, strict=True)}


def _apply(
    jobs: list[ExtractionJob],
    plans: dict[int, _Plan],
    embedded: dict[str, services.Embedded] | None = None,
) -> int:
    """Carry out `plans` (by job id; a job without one learns nothing) for the jobs' messages,
    each fact true since its message was said, with the vectors `embedded` computed beforehand
    (by text), and mark the jobs done: all in one transaction, so a fact is saved with its job
    marked done, or neither. Jobs done meanwhile (a "forget it", another process after the
    lease) or gone (their message was deleted) are left alone. A "forget ..." said since the
    plans were made is obeyed. Returns how many jobs were finished."""
    embedded = embedded or {}
    if not jobs:
        return 0
    profile = jobs[0].profile
    with transaction.atomic():
        open_ids = set(
            ExtractionJob.objects.select_for_update()
            .filter(pk__in=[job.pk for job in jobs])
            .exclude(status=DONE)
            .values_list("pk", flat=True)
        )
        live = [job for job in jobs if job.pk in open_ids]
        if not live:
            return 0
        requests = _forget_requests(profile.pk, live) if plans else []
        kept = [
            (job, _unforgotten(plans[job.pk], requests, job.message))
            for job in live
            if job.pk in plans
        ]
        known, by_slot = _existing(profile, *(plan for _, plan in kept))
        made: dict[str, Memory] = {}  # a decision's ref -> the memory that holds it
        replaced: dict[int, Memory] = {}  # a memory superseded here -> the one replacing it
        for job, plan in kept:
            said_at = job.message.created_at
            for decision, slot in zip(plan.decisions, plan.slots, strict=True):
                if decision.op == "none" or not decision.text.strip():
                    if decision.ref and decision.target in plan.targets:
                        made[decision.ref] = plan.targets[decision.target]
                    continue
                key = services.normalized(decision.text)
                if key in known:
                    if decision.ref:
                        made[decision.ref] = known[key]
                    continue  # said twice, stored once
                target = None
                if decision.op == "update" and decision.target:
                    target = plan.targets.get(decision.target) or made.get(decision.target)
                if target is None and slot:
                    target = by_slot.get(slot)
                while target is not None and target.pk in replaced:
                    target = replaced[target.pk]  # updated earlier in this batch
                vector = embedded.get(decision.text.strip()[:500])
                if target is not None and target.status == Memory.Status.ACTIVE:
                    new = services.memory_supersede(
                        old=target,
                        text=decision.text,
                        category=decision.category,
                        importance=decision.importance,
                        slot=slot or target.slot,
                        source_message_id=job.message_id,
                        quote=decision.quote,
                        valid_from=said_at,
                        embedded=vector,
                    )
                    replaced[target.pk] = new
                else:
                    new = services.memory_create(
                        profile=profile,
                        text=decision.text,
                        category=decision.category,
                        importance=decision.importance,
                        slot=slot,
                        source_message_id=job.message_id,
                        quote=decision.quote,
                        valid_from=said_at,
                        embedded=vector,
                    )
                known[key] = new
                if decision.ref:
                    made[decision.ref] = new
                if new.slot:
                    by_slot[new.slot] = new
        # Switched off since they were queued: never learned, even if shown again later.
        off = "" if jobs[0].profile.enabled else f"{ExtractionJob.MEMORY_OFF} when it was learned"
        ExtractionJob.objects.filter(pk__in=open_ids).update(
            status=DONE, finished_at=timezone.now(), error=off
        )
    return len(open_ids)


def _existing(profile: MemoryProfile, *plans: _Plan) -> tuple[dict[str, Memory], dict[str, Memory]]:
    """What `plans` must not repeat and may replace, among the active memories of `profile`:
    by normalized text, those that could be one of their facts said again, and by slot, the
    memories filling their slots (the last in the model's order when two fill one, as when
    every active memory was read).

    One query through two partial indexes (see `memories.models.text_key`), whatever the number
    of memories: the candidates share a decision's text key or one of its slots; `normalized`
    (computed here) decides which texts are the same fact. Vectors are never read.
    """
    texts = {d.text for p in plans for d in p.decisions if d.op != "none" and d.text.strip()}
    slots = {slot for p in plans for slot in p.slots if slot}
    if not texts and not slots:
        return {}, {}
    wanted = Q()
    if texts:
        wanted |= Q(key__in=[text_key(Value(text)) for text in sorted(texts)])
    if slots:
        wanted |= Q(slot__in=sorted(slots)) & ~Q(slot="")
    found: list[Memory] = list(
        profile.memories.filter(status=Memory.Status.ACTIVE)
        .alias(key=text_key(F("text")))
        .filter(wanted)
        .defer("embedding", "search")
    )
    known = {services.normalized(m.text): m for m in found}
    by_slot = {m.slot: m for m in found if m.slot in slots}
    return known, by_slot


# --- what a later "forget ..." asked ------------------------------------------------------------


@dataclass(frozen=True)
class _Forget:
    """A named "forget ..." the human sent: when (created_at, message id), and its words."""

    at: tuple[datetime, int]
    wanted: list[str]


def _forget_requests(profile_id: int, jobs: Iterable[ExtractionJob]) -> list[_Forget]:
    """The named "forget ..." requests of the profile's human since the earliest of the jobs'
    messages (one query; a bare "forget it" cancels its message's job in the chat itself).
    Matched with `forgetting`'s own rule (its private helpers: one rule, not two copies)."""
    said = [job.message.created_at for job in jobs]
    if not said:
        return []
    rows = ExtractionJob.objects.filter(
        profile_id=profile_id,
        message__created_at__gte=min(said),
        message__text__iregex=_FORGET_WORDS,
    ).values_list("message_id", "message__text", "message__created_at")
    found = []
    for pk, text, at in rows:
        what = forgetting.forget_request(text)
        if what:
            found.append(_Forget((at, pk), forgetting._content_words(what)))
    return found


def _forgotten(requests: list[_Forget], message: Any) -> bool:
    """Whether a later request named `message` (as `forgetting` finds an episode to delete)."""
    return any(_named_since(requests, message, message.text))


def _named_since(requests: list[_Forget], message: Any, text: str) -> Iterable[bool]:
    key = (message.created_at, message.pk)
    return (r.at > key and forgetting._matches(r.wanted, text) for r in requests)


def _unforgotten(plan: _Plan, requests: list[_Forget], message: Any) -> _Plan:
    """`plan` without the facts a later request named (as `forgetting` rejects a fact)."""
    if not requests:
        return plan
    kept = [
        (d, slot)
        for d, slot in zip(plan.decisions, plan.slots, strict=True)
        if not any(_named_since(requests, message, d.text))
    ]
    return _Plan([d for d, _ in kept], plan.targets, [slot for _, slot in kept])
