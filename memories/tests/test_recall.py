"""recall(): scoping, statuses, pinned memories, models of vectors, the token budget and the
number of queries, on real PostgreSQL. Vectors here are small hand-made ones (the column has no
fixed size), so that what is near what is plain to read; test_recall_quality.py uses real ones."""

from __future__ import annotations

import math
import random

import pytest
from django.db import connection
from pytest_django import DjangoAssertNumQueries

from accounts.models import User
from memories.models import Memory, MemoryProfile
from memories.recall import BITS_DIMENSIONS, BITS_MODEL, memory_tokens, recall, search_terms
from memories.tests.factories import MemoryFactory, MemoryProfileFactory

pytestmark = pytest.mark.django_db

MODEL = "test/3d"
NORTH = [1.0, 0.0, 0.0]
EAST = [0.0, 1.0, 0.0]
UP = [0.0, 0.0, 1.0]
NORTH_EAST = [0.8, 0.6, 0.0]


@pytest.fixture
def alices(alice: User) -> MemoryProfile:
    return MemoryProfileFactory.create(cat__owner=alice)


@pytest.fixture
def bobs(bob: User) -> MemoryProfile:
    return MemoryProfileFactory.create(cat__owner=bob)


def remember(
    profile: MemoryProfile, text: str, vector: list[float] | None = None, **kw: object
) -> Memory:
    if vector is not None:
        kw.setdefault("embedding_model", MODEL)
    return MemoryFactory.create(profile=profile, text=text, embedding=vector, **kw)


def texts(
    profile: MemoryProfile,
    query: str = "",
    vector: list[float] | None = None,
    *,
    limit: int = 6,
    token_budget: int = 300,
    include_pinned: bool = True,
) -> list[str]:
    found = recall(
        profile=profile,
        query_text=query,
        query_vector=vector,
        model=MODEL,
        limit=limit,
        token_budget=token_budget,
        include_pinned=include_pinned,
    )
    return [m.text for m in found]


def test_nearest_vectors_come_first(alices: MemoryProfile) -> None:
    remember(alices, "Loves sushi", EAST)
    remember(alices, "Has a dog named Rex", NORTH)
    remember(alices, "Plays the cello", NORTH_EAST)
    remember(alices, "Lives in Lyon", UP)
    assert texts(alices, "hello", NORTH, limit=3) == [
        "Has a dog named Rex",
        "Plays the cello",
        "Loves sushi",
    ]


def test_a_profile_never_recalls_another_humans_memories(
    alices: MemoryProfile, bobs: MemoryProfile
) -> None:
    remember(alices, "Has a dog named Rex", NORTH)
    remember(bobs, "Has a dog named Rex too", NORTH)  # nearer to nothing in particular
    remember(bobs, "Bob's dog Rex is pinned", NORTH, pinned=True)
    remember(bobs, "Rex Rex Rex", EAST)  # a perfect full-text match for bob only
    found = recall(profile=alices, query_text="how is Rex?", query_vector=NORTH, model=MODEL)
    assert [m.text for m in found] == ["Has a dog named Rex"]
    # and the other way round
    assert "Has a dog named Rex" not in texts(bobs, "how is Rex?", NORTH)


def test_the_same_cat_owner_with_two_cats_keeps_them_apart(alice: User) -> None:
    first = MemoryProfileFactory.create(cat__owner=alice)
    second = MemoryProfileFactory.create(cat__owner=alice)
    remember(first, "Told the first cat about Rex", NORTH)
    remember(second, "Told the second cat about Rex", NORTH, pinned=True)
    assert texts(first, "Rex", NORTH) == ["Told the first cat about Rex"]


def test_only_active_memories_are_recalled(alices: MemoryProfile) -> None:
    remember(alices, "Lives in Lyon", NORTH)
    remember(alices, "Lives in Nantes", NORTH, status=Memory.Status.SUPERSEDED, pinned=True)
    remember(alices, "Lives in Paris", NORTH, status=Memory.Status.REJECTED, pinned=True)
    assert texts(alices, "where do you live now", NORTH) == ["Lives in Lyon"]
    assert texts(alices, "Nantes Paris Lyon") == ["Lives in Lyon"]


def test_pinned_memories_come_first_even_when_unrelated(alices: MemoryProfile) -> None:
    remember(alices, "Has a dog named Rex", NORTH)
    remember(alices, "Name is Alice", UP, pinned=True, importance=5)
    remember(alices, "Is vegetarian", EAST, pinned=True, importance=4)
    assert texts(alices, "how is Rex?", NORTH, limit=3) == [
        "Name is Alice",
        "Is vegetarian",
        "Has a dog named Rex",
    ]


def test_pinned_memories_come_without_a_vector_or_a_word(alices: MemoryProfile) -> None:
    remember(alices, "Name is Alice", pinned=True)  # no vector at all
    remember(alices, "Has a dog named Rex", NORTH)
    assert texts(alices, "", None) == ["Name is Alice"]


def test_without_pinned_a_pinned_memory_competes_like_any_other(alices: MemoryProfile) -> None:
    remember(alices, "Has a dog named Rex", NORTH)
    remember(alices, "Name is Alice", UP, pinned=True)
    assert texts(alices, "dog", NORTH, limit=1, include_pinned=False) == ["Has a dog named Rex"]


def test_vectors_of_another_model_are_never_compared(alices: MemoryProfile) -> None:
    remember(alices, "Plays the cello", NORTH)
    # Same direction, but another model (and another size: <=> between them would fail).
    remember(alices, "Loves sushi", [1.0] * 1024, embedding_model="mistral/mistral-embed")
    remember(alices, "Lives in Lyon", None)  # not embedded yet
    assert texts(alices, "music", NORTH) == ["Plays the cello"]
    # Full text still finds them: nothing is lost while re-embedding is pending.
    assert texts(alices, "sushi or Lyon?", NORTH) == [
        "Plays the cello",
        "Loves sushi",
        "Lives in Lyon",
    ]


def test_without_a_vector_full_text_still_recalls(alices: MemoryProfile) -> None:
    remember(alices, "Has a dog named Rex", NORTH)
    remember(alices, "Sister is called Mia", EAST)
    remember(alices, "Is afraid of thunderstorms", UP)
    assert texts(alices, "how is Rex doing?", None) == ["Has a dog named Rex"]


def test_full_text_ignores_stop_words(alices: MemoryProfile) -> None:
    remember(alices, "Is afraid of thunderstorms")
    remember(alices, "Is learning Japanese")
    assert texts(alices, "what is it?", None) == []
    assert search_terms("What's the weather like in Lyon? Qu'est-ce que c'est ?") == [
        "weather",
        "like",
        "lyon",
    ]


def test_the_token_budget_and_the_limit_hold(alices: MemoryProfile) -> None:
    remember(alices, "A" * 40, NORTH)  # 10 tokens
    remember(alices, "B" * 200, [0.99, 0.1, 0.0])  # 50 tokens: too long for what is left
    remember(alices, "C" * 40, [0.9, 0.3, 0.0])  # 10 tokens
    remember(alices, "D" * 40, [0.8, 0.6, 0.0])
    assert [t[0] for t in texts(alices, "", NORTH, token_budget=25)] == ["A", "C"]
    assert [t[0] for t in texts(alices, "", NORTH, token_budget=1000, limit=2)] == ["A", "B"]
    assert texts(alices, "", NORTH, token_budget=0) == []


def test_pinned_memories_count_against_the_budget(alices: MemoryProfile) -> None:
    remember(alices, "P" * 80, UP, pinned=True)  # 20 tokens
    remember(alices, "A" * 40, NORTH)  # 10 tokens
    remember(alices, "C" * 8, [0.9, 0.3, 0.0])  # 2 tokens
    assert [t[0] for t in texts(alices, "", NORTH, token_budget=25)] == ["P", "C"]


def test_memory_tokens_are_about_four_characters_each() -> None:
    assert memory_tokens("") == 1
    assert memory_tokens("Loves sushi") == 3
    assert memory_tokens("x" * 400) == 100


def test_recall_is_one_query_however_many_memories(
    alices: MemoryProfile, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for i in range(40):
        remember(alices, f"Memory number {i} about Rex", [1.0, i / 10, 0.0], pinned=i < 2)
    with django_assert_num_queries(1):
        found = recall(profile=alices, query_text="how is Rex?", query_vector=NORTH, model=MODEL)
        # What callers read costs nothing more.
        read = [(m.pk, m.text, m.category, m.importance, m.pinned) for m in found]
    assert [text for _, text, *_ in read] == [f"Memory number {i} about Rex" for i in range(6)]


def e5_like(rng: random.Random, near: list[float] | None = None) -> list[float]:
    """A unit vector of 384 floats, off-centre as e5's are (or near `near`)."""
    base = near or [0.05] * BITS_DIMENSIONS
    vector = [b + rng.gauss(0, 0.04) for b in base]
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


def test_vectors_ranked_by_their_bits_first_come_in_exact_cosine_order(
    alices: MemoryProfile,
) -> None:
    rng = random.Random(3)
    query = e5_like(rng)
    vectors = [e5_like(rng, query if i % 3 == 0 else None) for i in range(60)]
    for i, vector in enumerate(vectors):
        remember(alices, f"Fact {i}", vector, embedding_model=BITS_MODEL)
    found = recall(
        profile=alices,
        query_text="",
        query_vector=query,
        model=BITS_MODEL,
        limit=10,
        token_budget=1000,
    )

    def cosine_distance(v: list[float]) -> float:
        return 1 - sum(a * b for a, b in zip(v, query, strict=True))

    nearest = sorted(range(60), key=lambda i: (cosine_distance(vectors[i]), i))[:10]
    assert [m.text for m in found] == [f"Fact {i}" for i in nearest]
    assert found[0].distance == pytest.approx(cosine_distance(vectors[nearest[0]]), abs=1e-5)


def test_only_vectors_of_the_bits_model_get_bits(alices: MemoryProfile) -> None:
    rng = random.Random(4)
    e5 = remember(alices, "Of the model", e5_like(rng), embedding_model=BITS_MODEL)
    other = remember(alices, "Same size, other model", e5_like(rng), embedding_model="x/384")
    small = remember(alices, "Another size", NORTH)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, embedding_bits IS NOT NULL FROM memories_memory WHERE profile_id = %s",
            [alices.pk],
        )
        assert dict(cursor.fetchall()) == {e5.pk: True, other.pk: False, small.pk: False}
    # And a vector of another model, even of the same size, is never compared.
    found = recall(
        profile=alices, query_text="", query_vector=e5_like(rng), model=BITS_MODEL, limit=5
    )
    assert [m.text for m in found] == ["Of the model"]


def test_full_text_finds_a_word_only_in_the_profiles_own_memories(
    alices: MemoryProfile, bobs: MemoryProfile
) -> None:
    for i in range(30):
        remember(bobs, f"Rex number {i}")
    remember(alices, "Has a dog named Rex")
    remember(alices, "Lives in Lyon")
    assert texts(alices, "Rex?", None) == ["Has a dog named Rex"]
    assert len(texts(bobs, "Rex?", None, limit=40, token_budget=1000)) == 30
