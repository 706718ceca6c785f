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

from channels.db import database_sync_to_async
from django.db import transaction
from django.db.models import F, Q, Value
from django.utils import timezone

from catchat import embeddings
from catchat.llm import LLMError, llm_mode
from memories import heuristics, services
from memories.extraction import Decision, Existing, extract_with_llm
from memories.models import ExtractionJob, Memory, MemoryProfile, text_key
from memories.recall import recall

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
    text = job.message.text
    profile = job.profile
    if heuristics.forget_request(text) is not None:
        # Carried out in the chat itself (cats.services.messages); nothing to learn here.
        await database_sync_to_async(_apply)(job, _Plan([], {}, []))
        return
    vector = None
    model = embeddings.model_name()
    try:
        vector = await embeddings.embed_query(text)
    except (LLMError, OSError) as exc:
        logger.warning("No query embedding for extraction: %s", exc)
    similar = await database_sync_to_async(recall)(
        profile=profile,
        query_text=text,
        query_vector=vector,
        model=model,
        limit=8,
        token_budget=800,
    )
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
    await database_sync_to_async(_apply)(job, plan)


def _heuristic_plan(text: str, *, cat_name: str) -> _Plan:
    # Facts about the cat itself ("my cat Whiskers") are not facts about the human.
    facts = heuristics.extract_facts(text, cat_name=cat_name)
    decisions = [Decision("add", f.text, f.category, f.importance, None, f.quote) for f in facts]
    return _Plan(decisions, {}, [f.slot or "" for f in facts])


def _apply(job: ExtractionJob, plan: _Plan) -> None:
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
