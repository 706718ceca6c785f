"""A living cat, as pure functions: vitals drift with time, care and company move them, a mood
follows with inertia. No database and no clock here: the time is always passed in.

Vitals are 0-100. `hunger` is a need (100 = starving); `energy`, `affection` and `fun` are
good when high. Left alone, each drifts towards a resting value along an exponential curve, so
an hour changes little, a day shows, and a week away makes a needy cat that is never broken:
values approach their floor (or ceiling) and never cross 0-100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

VITALS = ("hunger", "energy", "affection", "fun")
ACTIONS = ("feed", "play", "pet", "sleep")
MOODS = ("content", "playful", "hungry", "sleepy", "grumpy", "affectionate")

# Where each vital drifts when nobody is around, and how fast (time constant, hours).
_AWAKE_DRIFT = {
    "hunger": (95.0, 24.0),
    "energy": (20.0, 30.0),
    "affection": (15.0, 48.0),
    "fun": (10.0, 20.0),
}
# Asleep, energy comes back (a full night restores it) and hunger grows more slowly.
_ASLEEP_DRIFT = {
    "hunger": (95.0, 48.0),
    "energy": (100.0, 2.5),
    "affection": (15.0, 96.0),
    "fun": (10.0, 40.0),
}

# A mood must beat the current one by this much to replace it (no flicker at a threshold).
MOOD_INERTIA = 12.0

# Care: the same action repeated within this window counts less each time.
REPEAT_WINDOW = timedelta(minutes=30)
MAX_NAP = timedelta(hours=3)


@dataclass(frozen=True)
class Vitals:
    hunger: float = 20.0
    energy: float = 80.0
    affection: float = 60.0
    fun: float = 60.0

    def clamped(self) -> Vitals:
        return Vitals(**{name: _clamp(getattr(self, name)) for name in VITALS})

    def as_ints(self) -> dict[str, int]:
        return {name: round(getattr(self, name)) for name in VITALS}

    def plus(self, **changes: float) -> Vitals:
        values = {name: getattr(self, name) + changes.get(name, 0.0) for name in VITALS}
        return Vitals(**values).clamped()


def _clamp(value: float) -> float:
    return min(100.0, max(0.0, value))


def _drift(vitals: Vitals, hours: float, rates: dict[str, tuple[float, float]]) -> Vitals:
    if hours <= 0:
        return vitals
    values = {}
    for name in VITALS:
        target, tau = rates[name]
        current = getattr(vitals, name)
        values[name] = target + (current - target) * math.exp(-hours / tau)
    return Vitals(**values).clamped()


def settle(
    vitals: Vitals, *, since: datetime, now: datetime, asleep_until: datetime | None = None
) -> Vitals:
    """The vitals at `now`, from those settled at `since` (asleep until `asleep_until`)."""
    if now <= since:
        return vitals
    asleep_end = min(asleep_until, now) if asleep_until and asleep_until > since else since
    asleep_hours = (asleep_end - since).total_seconds() / 3600
    awake_hours = (now - asleep_end).total_seconds() / 3600
    return _drift(_drift(vitals, asleep_hours, _ASLEEP_DRIFT), awake_hours, _AWAKE_DRIFT)


def _scores(vitals: Vitals, asleep: bool) -> dict[str, float]:
    return {
        "content": 10.0,
        "hungry": (vitals.hunger - 50) * 1.5,
        "sleepy": 100.0 if asleep else (40 - vitals.energy) * 1.2,
        "grumpy": (35 - vitals.affection)
        + max(0.0, vitals.hunger - 75)
        + max(0.0, 25 - vitals.fun),
        "playful": min(vitals.energy - 55, 60 - vitals.fun),
        "affectionate": vitals.affection - 72,
    }


def mood_for(vitals: Vitals, *, current: str | None = None, asleep: bool = False) -> str:
    """The mood the vitals call for; the current mood holds unless another clearly wins."""
    scores = _scores(vitals, asleep)
    best = max(MOODS, key=lambda mood: scores[mood])
    if current in scores and scores[best] < scores[current] + MOOD_INERTIA:
        return current
    return best


def needs(vitals: Vitals, *, asleep: bool = False) -> list[str]:
    """Urgent needs, most pressing first, for the prompt and the offline brain."""
    pressing = []
    if vitals.hunger >= 70:
        pressing.append((vitals.hunger - 70, "hungry"))
    if asleep or vitals.energy <= 25:
        pressing.append((25 - vitals.energy + (50 if asleep else 0), "sleepy"))
    if vitals.affection <= 25:
        pressing.append((25 - vitals.affection, "lonely"))
    if vitals.fun <= 20:
        pressing.append((20 - vitals.fun, "bored"))
    return [name for _, name in sorted(pressing, reverse=True)]


@dataclass(frozen=True)
class CareOutcome:
    """What a care action did: the new vitals, or a refusal with the cat's reason."""

    action: str
    vitals: Vitals
    accepted: bool
    reason: str = ""  # a refusal's code: not_hungry, too_tired, not_sleepy, asleep
    asleep_until: datetime | None = None
    effect: dict[str, int] | None = None


# Full effect of each action on a fresh repeat count; repeats within REPEAT_WINDOW halve it.
_EFFECTS: dict[str, dict[str, float]] = {
    "feed": {"hunger": -40.0, "affection": 4.0, "energy": 3.0},
    "play": {"fun": 30.0, "energy": -12.0, "hunger": 6.0, "affection": 5.0},
    "pet": {"affection": 18.0, "fun": 3.0},
}


def care(
    vitals: Vitals,
    action: str,
    *,
    now: datetime,
    asleep_until: datetime | None = None,
    recent_repeats: int = 0,
) -> CareOutcome:
    """Apply a care action to settled vitals. The cat may refuse; repeats count for less.

    `recent_repeats` is how many accepted actions of the same kind happened in REPEAT_WINDOW.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    asleep = asleep_until is not None and asleep_until > now
    if asleep and action != "pet":
        return CareOutcome(action, vitals, False, "asleep", asleep_until)
    if action == "sleep":
        if vitals.energy >= 75:
            return CareOutcome(action, vitals, False, "not_sleepy", asleep_until)
        nap = MAX_NAP * ((100 - vitals.energy) / 100)
        return CareOutcome(action, vitals, True, "", now + max(nap, timedelta(minutes=20)), {})
    if action == "feed" and vitals.hunger < 15:
        return CareOutcome(action, vitals, False, "not_hungry", asleep_until)
    if action == "play" and vitals.energy < 20:
        return CareOutcome(action, vitals, False, "too_tired", asleep_until)
    factor = 0.5 ** max(0, recent_repeats)
    if asleep:  # a gentle stroke of a sleeping cat: it purrs a little, and sleeps on
        factor *= 0.3
    after = vitals.plus(**{k: v * factor for k, v in _EFFECTS[action].items()})
    before_ints, after_ints = vitals.as_ints(), after.as_ints()
    effect = {k: after_ints[k] - before_ints[k] for k in VITALS if after_ints[k] != before_ints[k]}
    return CareOutcome(action, after, True, "", asleep_until, effect)


def after_chat(vitals: Vitals, *, turn_in_conversation: int) -> Vitals:
    """A chat is company (affection and fun rise a little); a long one tires the cat."""
    tiring = 0.8 + min(turn_in_conversation, 40) * 0.08
    return vitals.plus(affection=2.0, fun=1.0, energy=-tiring)
