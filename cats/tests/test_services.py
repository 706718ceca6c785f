"""Care and vitals through the services, on real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from cats import services
from cats.models import CareEvent, Cat
from cats.tests.factories import CatFactory


@pytest.fixture
def hungry_cat(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, hunger=80.0, energy=70.0, affection=10.0, fun=60.0)


@pytest.mark.django_db
def test_state_is_computed_from_the_time_passed(hungry_cat: Cat) -> None:
    now = hungry_cat.vitals_at + timedelta(days=1)
    state = services.cat_state(hungry_cat, now=now)
    assert state["hunger"] > 85
    assert state["mood"] == "hungry"
    assert "hungry" in state["needs"]
    assert state["asleep"] is False
    hungry_cat.refresh_from_db()
    assert hungry_cat.hunger == 80.0  # reading writes nothing


@pytest.mark.django_db
def test_an_action_settles_the_vitals_and_records_a_care_event(hungry_cat: Cat, alice: Any) -> None:
    result = services.cat_act(cat=hungry_cat, actor=alice, action="feed")
    assert result.accepted and result.message
    assert result.state["hunger"] == pytest.approx(40, abs=1)
    hungry_cat.refresh_from_db()
    assert hungry_cat.hunger == pytest.approx(40, abs=1)
    event = CareEvent.objects.get()
    assert (event.action, event.accepted, event.actor) == ("feed", True, alice)
    assert event.effect["hunger"] == pytest.approx(-40, abs=1)


@pytest.mark.django_db
def test_a_refusal_changes_nothing_but_is_recorded(alice: Any) -> None:
    full = CatFactory.create(owner=alice, hunger=5.0)
    result = services.cat_act(cat=full, actor=alice, action="feed")
    assert not result.accepted and result.reason == "not_hungry"
    assert "not hungry" in result.message
    full.refresh_from_db()
    assert full.hunger == pytest.approx(5, abs=0.5)
    event = CareEvent.objects.get()
    assert not event.accepted and event.reason == "not_hungry"


@pytest.mark.django_db
def test_feeding_again_and_again_counts_for_less_each_time(hungry_cat: Cat, alice: Any) -> None:
    now = timezone.now()
    hungers = []
    for minute in range(3):
        hungry_cat.hunger = 90.0
        hungry_cat.vitals_at = now
        hungry_cat.save()
        at = now + timedelta(minutes=minute)
        hungers.append(services.cat_act(cat=hungry_cat, actor=alice, action="feed", now=at))
    drops = [90 - r.state["hunger"] for r in hungers]
    assert drops[0] > drops[1] > drops[2]


@pytest.mark.django_db
def test_sleep_puts_the_cat_to_bed_and_it_wakes_on_its_own(alice: Any) -> None:
    tired = CatFactory.create(owner=alice, energy=20.0)
    now = timezone.now()
    result = services.cat_act(cat=tired, actor=alice, action="sleep", now=now)
    assert result.accepted and result.state["asleep"] and result.state["mood"] == "sleepy"
    tired.refresh_from_db()
    assert tired.asleep_until is not None
    woken = services.cat_state(tired, now=tired.asleep_until + timedelta(minutes=1))
    assert not woken["asleep"] and woken["energy"] > 60


@pytest.mark.django_db
def test_reset_brings_back_a_fresh_cat(hungry_cat: Cat) -> None:
    services.cat_reset_vitals(cat=hungry_cat)
    hungry_cat.refresh_from_db()
    assert (hungry_cat.hunger, hungry_cat.energy, hungry_cat.mood) == (20.0, 80.0, "content")


@pytest.mark.django_db
def test_an_unknown_action_is_a_value_error(hungry_cat: Cat, alice: Any) -> None:
    with pytest.raises(ValueError, match="Unknown action"):
        services.cat_act(cat=hungry_cat, actor=alice, action="bathe")
    assert not CareEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_actions_at_once_never_lose_an_update(alice: Any) -> None:
    cat = CatFactory.create(owner=alice, affection=10.0)
    now = cat.vitals_at
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def pet() -> None:
        try:
            start.wait()
            services.cat_act(cat=Cat.objects.get(pk=cat.pk), actor=alice, action="pet", now=now)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=pet) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    cat.refresh_from_db()
    # Serialised by the row lock: the second pet sees the first (and counts half, a repeat).
    assert cat.affection == pytest.approx(10 + 18 + 9)
    assert CareEvent.objects.filter(cat=cat, accepted=True).count() == 2
