"""Writes (and the one computed read) for the cat itself: adoption, vitals, mood and care.

Vitals are stored as last settled (`vitals_at`) and computed for any moment by
`cats.vitals.settle`. Every write settles them first, under a row lock (`select_for_update`),
so two tabs or two requests acting at once never lose an update.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists
from django.utils import timezone

from accounts.models import User
from catchat.realtime import group_name, push_on_commit
from cats import frames
from cats import vitals as v
from cats.models import CareEvent, Cat, Message
from memories.models import MemoryProfile
from memories.services import profile_for

# In-character answers to care, accepted or refused (by reason).
CARE_LINES: dict[str, str] = {
    "feed": "*crunch crunch* Mmm. That hit the spot.",
    "play": "*pounces* Got it! Again, again!",
    "pet": "*purrs and leans into your hand*",
    "pet_asleep": "*purrs softly in its sleep*",
    "sleep": "*curls up in a sunbeam* Wake me for dinner.",
    "not_hungry": "*sniffs the bowl and walks away* I'm not hungry.",
    "too_tired": "*flops over* Too tired to play. Maybe after a nap.",
    "not_sleepy": "*wide awake* Sleep? Now? There are things to knock over.",
    "asleep": "*snores* ...shh. The cat is sleeping.",
}


def cat_create(*, owner: User, name: str, personality: str = "", coat: str = "") -> Cat:
    """Adopt a cat; it comes with an empty memory profile."""
    with transaction.atomic():
        cat = Cat.objects.create(
            owner=owner, name=name.strip(), personality=personality.strip(), coat=coat.strip()
        )
        profile_for(user=owner, cat=cat)
    return cat


def memory_profile(cat: Cat) -> MemoryProfile:
    """The cat's memory profile (select_related by `find_cat`; created for cats adopted before
    memories existed)."""
    try:
        return cat.memory_profile
    except MemoryProfile.DoesNotExist:
        cat.memory_profile = profile_for(user=cat.owner, cat=cat)
        return cat.memory_profile


def _stored(cat: Cat) -> v.Vitals:
    return v.Vitals(hunger=cat.hunger, energy=cat.energy, affection=cat.affection, fun=cat.fun)


def _asleep(cat: Cat, now: datetime) -> bool:
    return cat.asleep_until is not None and cat.asleep_until > now


def current_vitals(cat: Cat, now: datetime) -> v.Vitals:
    return v.settle(_stored(cat), since=cat.vitals_at, now=now, asleep_until=cat.asleep_until)


def current_mood(cat: Cat, now: datetime) -> str:
    return v.mood_for(current_vitals(cat, now), current=cat.mood, asleep=_asleep(cat, now))


def cat_state(cat: Cat, *, now: datetime | None = None) -> dict[str, Any]:
    """The cat's vitals and mood right now (computed; nothing is written)."""
    now = now or timezone.now()
    vitals = current_vitals(cat, now)
    asleep = _asleep(cat, now)
    return {
        **vitals.as_ints(),
        "mood": v.mood_for(vitals, current=cat.mood, asleep=asleep),
        "asleep": asleep,
        "asleep_until": cat.asleep_until.isoformat() if asleep and cat.asleep_until else None,
        "needs": v.needs(vitals, asleep=asleep),
        "updated_at": now.isoformat(),
    }


def _settle_into(
    cat: Cat, vitals: v.Vitals, *, now: datetime, asleep_until: datetime | None
) -> None:
    cat.hunger, cat.energy = vitals.hunger, vitals.energy
    cat.affection, cat.fun = vitals.affection, vitals.fun
    cat.vitals_at = now
    cat.asleep_until = asleep_until
    cat.mood = v.mood_for(vitals, current=cat.mood, asleep=_asleep(cat, now))
    cat.save(
        update_fields=["hunger", "energy", "affection", "fun", "vitals_at", "asleep_until", "mood"]
    )


def _push_state(cat: Cat, now: datetime, care: frames.CareOutcome | None = None) -> dict[str, Any]:
    state = cat_state(cat, now=now)
    frame: frames.CatState = {"type": "cat.state", "state": state}
    if care is not None:
        frame["care"] = care
    push_on_commit(group_name(cat.owner_id, cat.pk), frame)
    return state


@dataclass(frozen=True)
class CareResult:
    accepted: bool
    reason: str
    message: str
    state: dict[str, Any]
    event: CareEvent


def cat_act(*, cat: Cat, actor: User, action: str, now: datetime | None = None) -> CareResult:
    """Feed, play, pet or put the cat to sleep. The cat may refuse (recorded too).

    Raises ValueError for an unknown action. Pushes `cat.state` (with the outcome) to the
    owner's open tabs after the commit. Four queries: lock, count repeats, update, insert.
    """
    if action not in v.ACTIONS:
        raise ValueError(f"Unknown action {action!r}: choose one of {', '.join(v.ACTIONS)}.")
    now = now or timezone.now()
    with transaction.atomic():
        locked = Cat.objects.select_for_update().get(pk=cat.pk)
        vitals = current_vitals(locked, now)
        repeats = CareEvent.objects.filter(
            cat=locked, action=action, accepted=True, created_at__gte=now - v.REPEAT_WINDOW
        ).count()
        outcome = v.care(
            vitals, action, now=now, asleep_until=locked.asleep_until, recent_repeats=repeats
        )
        if outcome.accepted:
            _settle_into(locked, outcome.vitals, now=now, asleep_until=outcome.asleep_until)
        event = CareEvent.objects.create(
            cat=locked,
            actor=actor,
            action=action,
            accepted=outcome.accepted,
            reason=outcome.reason,
            effect=outcome.effect or {},
            created_at=now,
        )
        line = outcome.reason or (
            "pet_asleep" if action == "pet" and _asleep(locked, now) else action
        )
        message = CARE_LINES[line]
        care: frames.CareOutcome = {
            "action": action,
            "accepted": outcome.accepted,
            "reason": outcome.reason,
            "message": message,
        }
        state = _push_state(locked, now, care)
    # The caller's instance is stale now; refresh what it shows.
    cat.mood = locked.mood
    return CareResult(outcome.accepted, outcome.reason, message, state, event)


def cat_reset_vitals(*, cat: Cat) -> None:
    """Back to a fresh cat's vitals (staff tool)."""
    now = timezone.now()
    with transaction.atomic():
        locked = Cat.objects.select_for_update().get(pk=cat.pk)
        locked.mood = "content"
        _settle_into(locked, v.Vitals(), now=now, asleep_until=None)
        _push_state(locked, now)


class AlreadyReplying(Exception):
    """`cat_lock`: a reply is being written in that conversation (streaming, live lease)."""


def cat_lock(*, cat: Cat, conversation_id: int | None = None) -> Cat:
    """Lock the cat's row for a turn (every process's reply takes it before inserting its row,
    and so do an edit and a switch of versions: `cats.services.versions`) and return it as
    locked. Refreshes `cat`'s memory profile in the same query: a tab holds its `cat` for as
    long as it is open, and memory may have been switched off meanwhile.

    With `conversation_id`, the same query also asks whether a reply of that conversation is
    being written (streaming, with a live lease): then it raises AlreadyReplying.
    """
    query = Cat.objects.select_for_update(of=("self",)).select_related("memory_profile")
    if conversation_id is not None:
        query = query.annotate(
            replying=Exists(
                Message.objects.filter(
                    conversation_id=conversation_id,
                    status=Message.Status.STREAMING,
                    lease_until__gt=timezone.now(),
                )
            )
        )
    locked = query.get(pk=cat.pk)
    if getattr(locked, "replying", False):
        raise AlreadyReplying
    with contextlib.suppress(MemoryProfile.DoesNotExist):
        cat.memory_profile = locked.memory_profile
    return locked


def cat_chatted(
    *, locked: Cat, user_turns: int, now: datetime | None = None
) -> tuple[str, list[str]]:
    """A chat turn: company lifts affection and fun, a long chat tires, and it wakes the cat.

    Call inside the turn's transaction, with the cat's row `locked` by `cat_lock`. Returns the
    mood the reply is written in and the cat's urgent needs. Pushes `cat.state` after the
    commit.
    """
    now = now or timezone.now()
    vitals = v.after_chat(current_vitals(locked, now), turn_in_conversation=user_turns)
    _settle_into(locked, vitals, now=now, asleep_until=None)
    _push_state(locked, now)
    return locked.mood, v.needs(vitals)


def cat_update(
    *,
    cat: Cat,
    name: str | None = None,
    personality: str | None = None,
    coat: str | None = None,
) -> Cat:
    """Rename the cat or change its personality or coat; None leaves a field as it is.

    Writes only the fields given (one UPDATE, none when nothing is given), so a care action
    settling the vitals at the same moment is never overwritten.
    """
    changes = {"name": name, "personality": personality, "coat": coat}
    changed = [field for field, value in changes.items() if value is not None]
    for field in changed:
        setattr(cat, field, str(changes[field]).strip())
    if changed:
        cat.save(update_fields=changed)
    return cat


def cat_delete(*, cat: Cat) -> None:
    """Remove the cat and everything of it: care events, conversations and their messages, its
    memory profile with every memory and its history (all by cascade, in one transaction)."""
    with transaction.atomic():
        cat.delete()
