"""Learning from what the human said: the durable extraction queue and its worker.

A finished turn queues its user message (`job_enqueue`, inside the turn's transaction). The
worker (`drain`) claims jobs one at a time with `SELECT ... FOR UPDATE SKIP LOCKED`, so two
processes never take the same one; a job left `running` by a crashed process is taken again
after `LEASE`. With Mistral, facts come from JSON mode and are reconciled against similar
memories shown under short local ids; offline (or when Mistral fails), from heuristics, with
supersession by slot. The same fact said twice is never stored twice.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction
from django.db.models import F, Q, Value
from django.utils import timezone

from catchat import embeddings
from catchat.llm import LLMError, llm_mode
from memories import episodes, heuristics, services
from memories.extraction import Decision, Existing, extract_with_llm
from memories.models import Episode, ExtractionJob, Memory, MemoryProfile, text_key
from memories.recall import FACT, recall

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 3
# Jobs per batch: a drain works through any backlog, yielding to the event loop between batches.
BATCH = 20

_drainers: dict[asyncio.AbstractEventLoop, asyncio.Task[int]] = {}
# Loops whose running drain was kicked again: it looks once more before it stops.
_kicked: set[asyncio.AbstractEventLoop] = set()


def job_enqueue(*, profile: MemoryProfile, message_id: int) -> None:
    """Queue a user message for learning (idempotent: one job per message)."""
    if profile.enabled:
        ExtractionJob.objects.bulk_create(
            [ExtractionJob(message_id=message_id, profile=profile)], ignore_conflicts=True
        )


def jobs_enqueue(*, profile: MemoryProfile, message_ids: list[int]) -> None:
    """`job_enqueue` for many messages (an import), in batches."""
    if profile.enabled and message_ids:
        ExtractionJob.objects.bulk_create(
            [ExtractionJob(message_id=pk, profile=profile) for pk in message_ids],
            ignore_conflicts=True,
            batch_size=1000,
        )


def kick() -> None:
    """Start draining the queue in the background, unless a drain already runs on this loop (it
    is then told to look again before it stops: a job queued just as it found none waits for no
    one)."""
    loop = asyncio.get_running_loop()
    task = _drainers.get(loop)
    if task is None or task.done():
        _kicked.discard(loop)
        _drainers[loop] = loop.create_task(drain(), name="memories-drain")
    else:
        _kicked.add(loop)


async def wait_idle() -> None:
    task = _drainers.get(asyncio.get_running_loop())
    if task is not None:
        await asyncio.gather(task, return_exceptions=True)


async def drain(limit: int | None = None) -> int:
    """Process pending jobs until none is left (or `limit` have run); returns how many ran.

    In batches of `BATCH` jobs, yielding to the event loop between batches: when extraction
    fell behind (a burst of messages), one drain works through the whole backlog instead of
    leaving it for the next reply's kick. Every step is awaited (the database and the embedder
    run in threads), so the loop is never blocked.
    """
    loop = asyncio.get_running_loop()
    done = 0
    while limit is None or done < limit:
        size = BATCH if limit is None else min(BATCH, limit - done)
        ran = await _drain_batch(size)
        done += ran
        if ran < size:  # nothing left to claim
            if loop not in _kicked:
                break
            _kicked.discard(loop)  # kicked meanwhile: look again
        await asyncio.sleep(0)
    return done


async def _drain_batch(size: int) -> int:
    done = 0
    while done < size:
        job = await database_sync_to_async(_claim)()
        if job is None:
            break
        try:
            await process(job)
        except Exception as exc:
            logger.exception("Memory extraction of message %s failed", job.message_id)
            await database_sync_to_async(_fail)(job, exc)
        done += 1
    return done


def _claim() -> ExtractionJob | None:
    now = timezone.now()
    with transaction.atomic():
        job = (
            ExtractionJob.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=ExtractionJob.Status.PENDING)
                | Q(status=ExtractionJob.Status.RUNNING, claimed_at__lt=now - LEASE),
                attempts__lt=MAX_ATTEMPTS,
            )
            .select_related("message", "profile__cat")
            .order_by("created_at", "id")
            .first()
        )
        if job is None:
            return None
        job.status = ExtractionJob.Status.RUNNING
        job.attempts += 1
        job.claimed_at = now
        job.save(update_fields=["status", "attempts", "claimed_at"])
    return job


def _fail(job: ExtractionJob, exc: BaseException) -> None:
    # Back to pending until MAX_ATTEMPTS: a later drain tries again.
    status = ExtractionJob.Status.FAILED if job.attempts >= MAX_ATTEMPTS else "pending"
    ExtractionJob.objects.filter(pk=job.pk).update(status=status, error=repr(exc)[:300])


@dataclass(frozen=True)
class _Plan:
    decisions: list[Decision]
    targets: dict[str, Memory]  # local id -> memory, for updates
    slots: list[str]  # per decision, "" when none (heuristics only)


async def process(job: ExtractionJob) -> None:
    """Learn from one message, then mark the job done (at most once: the job row is locked).

    Only the human's own message is read, never the cat's reply: facts are about the human,
    so which of a regenerated turn's alternatives is kept changes nothing learned here (the
    kept reply is what the next prompt shows the model, `cats.services.messages.reply_begin`).
    """
    message = job.message
    text = message.text
    profile = job.profile
    if not profile.enabled or heuristics.forget_request(text) is not None:
        # Switched off since it was queued (nothing is learned), or a "forget that", carried
        # out in the chat itself (memories.forgetting).
        await database_sync_to_async(_apply)(job, _Plan([], {}, []))
        return
    model = embeddings.model_name()
    # What was said is remembered as said, whatever facts are drawn from it (the reply is out
    # by now: the episode holds the cat's answer too).
    await _record_episode(profile, message)
    # The turn kept the message's recall vector with this job: it is not embedded twice.
    vector = list(job.query_vector) if job.query_vector is not None else None
    if vector is None or job.query_model != model:
        vector = None
        try:
            vector = await embeddings.embed_query(text)
        except (LLMError, OSError) as exc:
            logger.warning("No query embedding for extraction: %s", exc)
    similar = await database_sync_to_async(_similar_facts)(profile, text, vector, model)
    plan = None
    if llm_mode() == "mistral":
        existing = [Existing(f"m{i + 1}", m.text, m.category) for i, m in enumerate(similar)]
        try:
            decisions = await extract_with_llm(message=text, existing=existing)
            targets = {e.local_id: m for e, m in zip(existing, similar, strict=True)}
            plan = _Plan(decisions, targets, [""] * len(decisions))
        except LLMError as exc:
            logger.warning("Mistral extraction failed, using heuristics: %s", exc)
    if plan is None:
        plan = _heuristic_plan(text, cat_name=profile.cat.name)
    # Embedded here, before `_apply` locks the job's row.
    texts = sorted({d.text.strip()[:500] for d in plan.decisions if d.op != "none"} - {""})
    embedded = await _embed_facts(texts)
    await database_sync_to_async(_apply)(job, plan, embedded)


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


def job_keep_query(*, message_id: int, vector: list[float] | None, model: str) -> None:
    """Keep the message's recall vector (made by `model`) with its learning job, for learning
    to reuse. One UPDATE; nothing when there is no vector."""
    if vector is not None:
        ExtractionJob.objects.filter(message_id=message_id).update(
            query_vector=vector, query_model=model
        )


async def _record_episode(profile: MemoryProfile, message: Any) -> None:
    """Make `message` an episode, with the cat's lines around it (`memories.episodes`), or give
    the one an import recorded its vector. The passage is embedded in a worker thread, outside
    any lock."""
    model = embeddings.model_name()
    pending = await database_sync_to_async(_episode_to_embed)(message, model)
    if pending is None:
        return
    said, recorded = pending
    text = episodes.passage(profile.cat.name, said.message.text, said.before, said.after)
    vector = None
    try:
        (vector,) = await embeddings.embed_passages([text])
    except (LLMError, OSError) as exc:
        logger.warning("Episode left without an embedding: %s", exc)
    if recorded:
        if vector is not None:
            await database_sync_to_async(
                Episode.objects.filter(pk=message.pk, text=said.message.text).update
            )(embedding=vector, embedding_model=model)
        return
    row = episodes.episode(profile, said, vector, model)
    await database_sync_to_async(Episode.objects.bulk_create)([row], ignore_conflicts=True)


def _episode_to_embed(message: Any, model: str) -> tuple[episodes.Context, bool] | None:
    """What to embed for `message`'s episode and whether the episode exists already (an import
    recorded it without a vector); None when it has its vector."""
    recorded = (
        Episode.objects.filter(pk=message.pk).values_list("before", "after", "embedding_model")
    ).first()
    if recorded is None:
        return episodes.context_of(message), False
    before, after, embedded_by = recorded
    if embedded_by == model:
        return None  # a retried job
    return episodes.Context(message, before=before, after=after), True


def _similar_facts(
    profile: MemoryProfile, text: str, vector: list[float] | None, model: str
) -> list[Memory]:
    """The active facts nearest to `text`, best first: what extraction may update."""
    found = recall(
        profile=profile,
        query_text=text,
        query_vector=vector,
        model=model,
        limit=8,
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


def _apply(
    job: ExtractionJob, plan: _Plan, embedded: dict[str, services.Embedded] | None = None
) -> None:
    """Carry out `plan` for the job's message (facts true since it was said), with the
    vectors `embedded` computed beforehand (by text)."""
    embedded = embedded or {}
    said_at = job.message.created_at
    profile = job.profile
    with transaction.atomic():
        locked = ExtractionJob.objects.select_for_update().get(pk=job.pk)
        if locked.status == ExtractionJob.Status.DONE:
            return
        known, by_slot = _existing(profile, plan)
        for decision, slot in zip(plan.decisions, plan.slots, strict=True):
            if decision.op == "none" or not decision.text.strip():
                continue
            key = services.normalized(decision.text)
            if key in known:
                continue  # said twice, stored once
            target = plan.targets.get(decision.target or "") if decision.op == "update" else None
            if target is None and slot:
                target = by_slot.get(slot)
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
                    embedded=embedded.get(decision.text.strip()[:500]),
                )
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
                    embedded=embedded.get(decision.text.strip()[:500]),
                )
            known.add(key)
            if new.slot:
                by_slot[new.slot] = new
        locked.status = ExtractionJob.Status.DONE
        locked.finished_at = timezone.now()
        locked.error = ""
        locked.save(update_fields=["status", "finished_at", "error"])


def _existing(profile: MemoryProfile, plan: _Plan) -> tuple[set[str], dict[str, Memory]]:
    """What `plan` must not repeat and may replace, among the active memories of `profile`: the
    normalized texts of those that could be one of its facts said again, and the memories
    filling its slots (by slot; the last in the model's order when two fill one, as when every
    active memory was read).

    One query through two partial indexes (see `memories.models.text_key`), whatever the number
    of memories: the candidates share a decision's text key or one of its slots; `normalized`
    (computed here) decides which texts are the same fact. Vectors are never read.
    """
    texts = {d.text for d in plan.decisions if d.op != "none" and d.text.strip()}
    slots = {slot for slot in plan.slots if slot}
    if not texts and not slots:
        return set(), {}
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
    known = {services.normalized(m.text) for m in found}
    by_slot = {m.slot: m for m in found if m.slot in slots}
    return known, by_slot
