""" "Forget ...": only what matches is forgotten. Real PostgreSQL and the local embedder."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from accounts.models import User
from cats.models import Cat
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.episodes import Context, episodes_record
from memories.forgetting import (
    _content_words,
    _matches,
    embed_request,
    forget_asked,
    forget_request,
)
from memories.models import Episode, ExtractionJob, Memory
from memories.services import memory_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


def forget(cat: Cat, what: str, previous: int | None = None) -> tuple[list[str], int]:
    said = MessageFactory.create(conversation=ConversationFactory.create(cat=cat), text=what)
    done = forget_asked(
        profile=cat.memory_profile,
        what=what,
        message_id=said.pk,
        previous_message_id=previous,
        actor_user=cat.owner,
        query_vector=embed_request(what),
    )
    return done.facts, done.episodes


@pytest.mark.parametrize(
    ("asked", "text", "matches"),
    [
        ("I live in Lyon", "Lives in Lyon", True),
        ("I live in Lyon", "Lives in Paris", False),  # one word of two: not it
        ("I live in Lyon", "Works as a nurse", False),
        ("my sister", "Sister is called Mia", True),
        ("that I'm scared of thunderstorms", "Is scared of thunderstorms", True),
        ("que j'habite à Lyon", "Habite à Lyon", True),
        ("my job", "Works as a nurse", False),  # no shared word: never by nearness alone
    ],
)
def test_a_request_matches_what_holds_most_of_its_words(
    asked: str, text: str, matches: bool
) -> None:
    assert _matches(_content_words(asked), text) is matches


def test_forgetting_what_nobody_said_forgets_nothing(whiskers: Cat) -> None:
    nurse = memory_create(profile=whiskers.memory_profile, text="Works as a nurse")
    facts, episodes = forget(whiskers, "I live in Lyon")
    assert (facts, episodes) == ([], 0)
    nurse.refresh_from_db()
    assert nurse.status == Memory.Status.ACTIVE


def test_forgetting_rejects_each_matching_fact_and_drops_each_matching_episode(
    whiskers: Cat,
) -> None:
    profile = whiskers.memory_profile
    lyon = memory_create(profile=profile, text="Lives in Lyon")
    paris = memory_create(profile=profile, text="Grew up in Paris")
    conversation = ConversationFactory.create(cat=whiskers)
    said = [
        MessageFactory.create(conversation=conversation, text=t)
        for t in ("I live in Lyon now, near the river", "I love the cello")
    ]
    episodes_record(profile=profile, said=[Context(m) for m in said], embed=False)

    facts, episodes = forget(whiskers, "I live in Lyon")

    assert (facts, episodes) == (["Lives in Lyon"], 1)
    lyon.refresh_from_db()
    paris.refresh_from_db()
    assert (lyon.status, paris.status) == (Memory.Status.REJECTED, Memory.Status.ACTIVE)
    assert list(lyon.history.values_list("operation", "actor")) == [
        ("add", "cat"),
        ("reject", "user"),
    ]
    assert list(Episode.objects.values_list("text", flat=True)) == ["I love the cello"]


def test_forget_it_forgets_the_message_before_and_stops_learning_from_it(
    whiskers: Cat,
) -> None:
    profile = whiskers.memory_profile
    conversation = ConversationFactory.create(cat=whiskers)
    before = MessageFactory.create(conversation=conversation, text="I have a dog named Rex")
    episodes_record(profile=profile, said=[Context(before)], embed=False)
    ExtractionJob.objects.create(message=before, profile=profile)
    rex = memory_create(profile=profile, text="Has a dog named Rex", source_message_id=before.pk)

    facts, episodes = forget(whiskers, "", previous=before.pk)

    assert (facts, episodes) == (["Has a dog named Rex"], 1)
    rex.refresh_from_db()
    assert rex.status == Memory.Status.REJECTED
    assert ExtractionJob.objects.get(message=before).status == ExtractionJob.Status.DONE


@pytest.mark.parametrize(
    "text",
    [
        "Forget-me-nots are my favourite flowers",  # a word that begins with "forget"
        "Forget it, I'll plan it myself",  # "never mind", not a request
        "don't forget my birthday",
    ],
)
def test_what_is_no_request_to_forget_is_not_one(text: str) -> None:
    assert forget_request(text) is None


@pytest.mark.parametrize("text", ["forget it", "please forget that", "Actually, forget it."])
def test_a_bare_request_standing_alone_is_one(text: str) -> None:
    assert forget_request(text) == ""


def test_a_shared_beginning_is_not_the_same_word(whiskers: Cat) -> None:
    profile = whiskers.memory_profile
    interview = memory_create(profile=profile, text="Has a job interview on Monday")
    ngo = memory_create(profile=profile, text="Works for an international NGO")
    chess = memory_create(profile=profile, text="Finds chess interesting")

    facts, _ = forget(whiskers, "the interview")

    assert facts == ["Has a job interview on Monday"]
    for memory, status in ((interview, "rejected"), (ngo, "active"), (chess, "active")):
        memory.refresh_from_db()
        assert memory.status == status


@pytest.mark.django_db(transaction=True)
def test_forget_it_said_while_a_batch_saves_that_message_s_facts_forgets_them_too(
    whiskers: Cat,
) -> None:
    # A batch of learning holds the message's job (FOR UPDATE, as `learning` saves a batch) and
    # has written a fact from it, not yet committed, when "forget it" arrives. Once the batch
    # commits, the fact must be forgotten with the rest, not kept because it was read too soon.
    profile = whiskers.memory_profile
    conversation = ConversationFactory.create(cat=whiskers)
    before = MessageFactory.create(conversation=conversation, text="I have a dog named Rex")
    job = ExtractionJob.objects.create(
        message=before, profile=profile, status=ExtractionJob.Status.RUNNING
    )
    saving, forgetting_waits = threading.Event(), threading.Event()

    def the_batch() -> None:
        try:
            with transaction.atomic():
                ExtractionJob.objects.select_for_update().get(pk=job.pk)
                memory_create(
                    profile=profile, text="Has a dog named Rex", source_message_id=before.pk
                )
                saving.set()
                forgetting_waits.wait(timeout=2)  # the forget is blocked on the job, or done
                ExtractionJob.objects.filter(pk=job.pk).update(status=ExtractionJob.Status.DONE)
        finally:
            connection.close()

    batch = threading.Thread(target=the_batch)
    batch.start()
    assert saving.wait(timeout=10)
    timer = threading.Timer(0.5, forgetting_waits.set)
    timer.start()
    facts, _ = forget(whiskers, "", previous=before.pk)
    batch.join(timeout=10)
    timer.cancel()

    assert facts == ["Has a dog named Rex"]
    assert Memory.objects.get(source_message=before).status == Memory.Status.REJECTED
