"""The living cat as pure functions: explicit times, no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cats.vitals import (
    MOOD_INERTIA,
    MOODS,
    VITALS,
    Vitals,
    after_chat,
    care,
    mood_for,
    needs,
    settle,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FRESH = Vitals()  # hunger 20, energy 80, affection 60, fun 60


def later(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


def test_an_hour_changes_little() -> None:
    after = settle(FRESH, since=T0, now=later(hours=1))
    for name in VITALS:
        assert abs(getattr(after, name) - getattr(FRESH, name)) < 4


def test_a_day_away_makes_a_visible_difference_and_a_hungry_cat() -> None:
    after = settle(FRESH, since=T0, now=later(days=1))
    assert after.hunger > 60
    assert after.energy < 55 and after.fun < 35 and after.affection < 50
    assert mood_for(after) == "hungry"


@pytest.mark.parametrize("days", [7, 30, 3650])
def test_a_long_absence_makes_a_needy_cat_never_a_broken_one(days: int) -> None:
    after = settle(FRESH, since=T0, now=later(days=days))
    assert 85 < after.hunger < 100  # very hungry, not past the end of the scale
    assert 0 < after.energy and 0 < after.affection and 0 < after.fun
    assert set(needs(after)) == {"hungry", "lonely", "bored", "sleepy"}
    assert mood_for(after) in {"hungry", "grumpy"}


def test_a_month_is_no_worse_than_a_week() -> None:
    week = settle(FRESH, since=T0, now=later(days=7))
    month = settle(FRESH, since=T0, now=later(days=30))
    for name in VITALS:
        assert abs(getattr(month, name) - getattr(week, name)) < 3


@pytest.mark.parametrize("start", [Vitals(0, 0, 0, 0), Vitals(100, 100, 100, 100)])
@pytest.mark.parametrize("hours", [0.5, 24, 24 * 365])
def test_values_never_leave_0_to_100(start: Vitals, hours: float) -> None:
    for asleep_until in (None, later(hours=hours / 2)):
        after = settle(start, since=T0, now=later(hours=hours), asleep_until=asleep_until)
        assert all(0 <= getattr(after, name) <= 100 for name in VITALS)


def test_time_going_backwards_changes_nothing() -> None:
    assert settle(FRESH, since=T0, now=later(hours=-3)) == FRESH


def test_sleep_restores_energy_over_time_and_waking_resumes_the_drift() -> None:
    tired = Vitals(hunger=30, energy=15, affection=60, fun=60)
    nap_end = later(hours=3)
    during = settle(tired, since=T0, now=later(hours=1), asleep_until=nap_end)
    rested = settle(tired, since=T0, now=nap_end, asleep_until=nap_end)
    awake_after = settle(tired, since=T0, now=later(hours=13), asleep_until=nap_end)
    assert tired.energy < during.energy < rested.energy
    assert rested.energy > 70
    assert awake_after.energy < rested.energy
    # Asleep, hunger grows more slowly than awake.
    awake = settle(tired, since=T0, now=nap_end)
    assert rested.hunger < awake.hunger


def test_mood_follows_the_most_pressing_vital() -> None:
    assert mood_for(Vitals(hunger=85, energy=70, affection=60, fun=60)) == "hungry"
    assert mood_for(Vitals(hunger=20, energy=10, affection=60, fun=60)) == "sleepy"
    assert mood_for(Vitals(hunger=20, energy=80, affection=95, fun=60)) == "affectionate"
    assert mood_for(Vitals(hunger=20, energy=95, affection=60, fun=30)) == "playful"
    assert mood_for(Vitals(hunger=20, energy=60, affection=5, fun=20)) == "grumpy"
    assert mood_for(Vitals(hunger=30, energy=60, affection=60, fun=60)) == "content"
    assert mood_for(FRESH, asleep=True) == "sleepy"


def test_every_mood_is_reachable() -> None:
    samples = [
        Vitals(h, e, a, f)
        for h in range(0, 101, 10)
        for e in range(0, 101, 10)
        for a in range(0, 101, 10)
        for f in range(0, 101, 10)
    ]
    assert {mood_for(s) for s in samples} == set(MOODS)


def test_the_mood_holds_as_values_hover_around_a_line() -> None:
    # Hunger wobbling around the point where "hungry" overtakes "content" does not flip the
    # mood back and forth; it changes once the difference is clear.
    mood = "content"
    seen = []
    for hunger in [56, 58, 57, 59, 56, 58]:
        mood = mood_for(Vitals(hunger=hunger, energy=60, affection=60, fun=60), current=mood)
        seen.append(mood)
    assert seen == ["content"] * 6
    mood = mood_for(Vitals(hunger=80, energy=60, affection=60, fun=60), current=mood)
    assert mood == "hungry"
    # ... and back only when clearly fed, not at the first point below the line.
    assert mood_for(Vitals(hunger=55, energy=60, affection=60, fun=60), current=mood) == "hungry"
    assert mood_for(Vitals(hunger=30, energy=60, affection=60, fun=60), current=mood) == "content"
    assert MOOD_INERTIA > 0


def test_feeding_a_hungry_cat_fills_it() -> None:
    outcome = care(Vitals(hunger=80), "feed", now=T0)
    assert outcome.accepted
    assert outcome.vitals.hunger == pytest.approx(40)
    assert outcome.effect is not None and outcome.effect["hunger"] == -40


@pytest.mark.parametrize(
    ("vitals", "action", "reason"),
    [
        (Vitals(hunger=10), "feed", "not_hungry"),
        (Vitals(energy=10), "play", "too_tired"),
        (Vitals(energy=90), "sleep", "not_sleepy"),
    ],
)
def test_the_cat_refuses_in_character(vitals: Vitals, action: str, reason: str) -> None:
    outcome = care(vitals, action, now=T0)
    assert not outcome.accepted and outcome.reason == reason
    assert outcome.vitals == vitals


def test_a_sleeping_cat_only_takes_a_gentle_pet() -> None:
    asleep_until = later(hours=1)
    for action in ("feed", "play", "sleep"):
        outcome = care(Vitals(hunger=80), action, now=T0, asleep_until=asleep_until)
        assert not outcome.accepted and outcome.reason == "asleep"
    petted = care(Vitals(affection=50), "pet", now=T0, asleep_until=asleep_until)
    assert petted.accepted and 50 < petted.vitals.affection < 56  # a third of a full pet


def test_sleep_puts_a_tired_cat_to_bed_for_longer_than_a_rested_one() -> None:
    very_tired = care(Vitals(energy=5), "sleep", now=T0)
    a_bit_tired = care(Vitals(energy=70), "sleep", now=T0)
    assert very_tired.asleep_until and a_bit_tired.asleep_until
    assert very_tired.asleep_until > a_bit_tired.asleep_until > T0


def test_repeated_care_has_diminishing_returns() -> None:
    gains = [
        care(Vitals(affection=10), "pet", now=T0, recent_repeats=n).vitals.affection - 10
        for n in range(4)
    ]
    assert gains == sorted(gains, reverse=True)
    assert gains[0] == pytest.approx(18) and gains[3] < 3


def test_spamming_pet_never_maxes_out_affection() -> None:
    vitals = Vitals(affection=30)
    for n in range(50):
        vitals = care(vitals, "pet", now=T0, recent_repeats=n).vitals
    assert vitals.affection < 70


def test_care_never_leaves_the_scale() -> None:
    full = care(Vitals(hunger=16), "feed", now=T0)
    assert full.vitals.hunger == 0
    happy = care(Vitals(affection=99), "pet", now=T0)
    assert happy.vitals.affection == 100


def test_unknown_actions_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        care(FRESH, "bathe", now=T0)


def test_a_chat_is_company_and_a_long_one_tires() -> None:
    short = after_chat(FRESH, turn_in_conversation=1)
    long = after_chat(FRESH, turn_in_conversation=40)
    assert short.affection > FRESH.affection and short.fun > FRESH.fun
    assert long.energy < short.energy < FRESH.energy


def test_needs_are_ordered_by_urgency() -> None:
    assert needs(Vitals(hunger=95, energy=22, affection=60, fun=60)) == ["hungry", "sleepy"]
    assert needs(Vitals(hunger=72, energy=5, affection=60, fun=60)) == ["sleepy", "hungry"]
    assert needs(FRESH) == []
