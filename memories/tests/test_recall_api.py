"""`GET cats/{id}/recall/?q=`: what the cat would recall, facts and episodes in one ranked list,
for its owner only, changing nothing. Real PostgreSQL and the local embedder."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from catchat import embeddings
from cats.models import Cat, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.episodes import CONTEXT_WORDS, Context, episodes_record, passage
from memories.models import Episode, Memory, MemoryHistory
from memories.profiles import profile_update
from memories.tests.test_api import api_as, remember

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_api(alice: User) -> APIClient:
    return api_as(alice)


@pytest.fixture
def bob_api(bob: User) -> APIClient:
    return api_as(bob)


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


def recall_url(cat_id: int) -> str:
    return reverse("memories_api:recall", args=[cat_id])


def said(cat: Cat, *texts: str) -> list[Message]:
    """User messages of one conversation of `cat`, made episodes as an import makes them."""
    conversation = ConversationFactory.create(cat=cat)
    messages = [MessageFactory.create(conversation=conversation, text=t) for t in texts]
    episodes_record(profile=cat.memory_profile, said=[Context(m) for m in messages])
    return messages


def test_the_route_lives_under_api_v1() -> None:
    assert recall_url(7) == "/api/v1/cats/7/recall/"


def test_facts_and_episodes_come_ranked_together(alice_api: APIClient, whiskers: Cat) -> None:
    nurse = remember(whiskers, "Works as a nurse at night")
    remember(whiskers, "Loves sushi")
    group, _ = said(
        whiskers,
        "I went to a support group for the first time yesterday, it helped",
        "The weather was lovely on the beach",
    )

    got = alice_api.get(recall_url(whiskers.pk), {"q": "When did I go to the support group?"})

    assert got.status_code == 200
    results = got.json()["results"]
    first = results[0]
    assert (first["kind"], first["id"], first["source_message"]) == ("episode", group.pk, group.pk)
    assert first["conversation"] == group.conversation_id
    assert first["at"] == group.created_at.isoformat().replace("+00:00", "Z")
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    job = alice_api.get(recall_url(whiskers.pk), {"q": "what is my job?"}).json()["results"]
    assert (job[0]["kind"], job[0]["id"]) == ("fact", nurse.pk)


def test_limit_caps_the_list(alice_api: APIClient, whiskers: Cat) -> None:
    for n in range(5):
        remember(whiskers, f"Fact number {n}")
    got = alice_api.get(recall_url(whiskers.pk), {"q": "fact", "limit": "2"}).json()["results"]
    assert len(got) == 2


def test_asking_changes_nothing(alice_api: APIClient, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")
    said(whiskers, "I had ramen tonight")
    before = (Memory.objects.count(), Episode.objects.count(), MemoryHistory.objects.count())
    alice_api.get(recall_url(whiskers.pk), {"q": "what do I like to eat?"})
    after = (Memory.objects.count(), Episode.objects.count(), MemoryHistory.objects.count())
    assert before == after


def test_bad_queries_are_field_errors(alice_api: APIClient, whiskers: Cat) -> None:
    for params in ({}, {"q": ""}, {"q": "x", "limit": "0"}, {"q": "x", "limit": "many"}):
        got = alice_api.get(recall_url(whiskers.pk), params)
        assert got.status_code == 400, params
    too_many = alice_api.get(recall_url(whiskers.pk), {"q": "x", "limit": "99"})
    assert set(too_many.json()) == {"limit"}


def test_someone_elses_cat_is_a_404_and_without_credentials_a_401(
    bob_api: APIClient, whiskers: Cat
) -> None:
    said(whiskers, "My secret is that I sing in the shower")
    assert bob_api.get(recall_url(whiskers.pk), {"q": "secret"}).status_code == 404
    assert bob_api.get(recall_url(999_999), {"q": "secret"}).status_code == 404
    assert APIClient().get(recall_url(whiskers.pk), {"q": "secret"}).status_code == 401


def test_switched_off_the_cat_recalls_nothing(alice_api: APIClient, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")
    profile_update(profile=whiskers.memory_profile, enabled=False)
    got = alice_api.get(recall_url(whiskers.pk), {"q": "sushi"}).json()
    assert got == {"results": []}


def test_an_episode_is_embedded_as_a_passage_of_the_message(whiskers: Cat) -> None:
    (message,) = said(whiskers, "I adopted a hedgehog")
    episode = Episode.objects.get(pk=message.pk)
    expected = embeddings.embed_passages_sync(["Me: I adopted a hedgehog"])[0]
    assert passage("Whiskers", "I adopted a hedgehog") == "Me: I adopted a hedgehog"
    assert episode.embedding_model == embeddings.model_name()
    assert episode.embedding is not None
    assert list(episode.embedding) == pytest.approx(expected, abs=1e-6)


def test_the_cats_lines_in_an_episodes_passage_are_clipped_to_their_nearest_words() -> None:
    before = " ".join(f"b{i}" for i in range(30)) + " what did you do today?"
    after = "Oh how lovely! " + " ".join(f"a{i}" for i in range(30))
    got = passage("Whiskers", "I went to the support group", before, after)
    kept = CONTEXT_WORDS
    assert got.splitlines() == [
        "Whiskers: " + " ".join(before.split()[-kept:]),
        "Me: I went to the support group",
        "Whiskers: " + " ".join(after.split()[:kept]),
    ]
    assert "what did you do today?" in got.splitlines()[0]
    assert got.splitlines()[2].startswith("Whiskers: Oh how lovely!")
    # Short lines are kept as they are; the human's own words are never clipped.
    long_said = " ".join(f"w{i}" for i in range(50))
    assert passage("Whiskers", long_said, "Hi?", "Ok!") == (
        f"Whiskers: Hi?\nMe: {long_said}\nWhiskers: Ok!"
    )
