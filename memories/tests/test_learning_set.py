"""How much of what people really say the offline brain learns, on a fixed set of chat messages.

`learning_set.json` holds realistic messages in English and French, each with the facts a careful
reader would take from it (none for decoys: other people, hypotheticals, questions, talk about the
cat, sarcasm, the past). It was split into "dev" and "holdout" (every odd-indexed item), but its
holdout misses have since been seen and tuned on: the whole of it is now TUNING data, and its
figures say little about new messages.

`learning_set_fresh.json` is the UNTUNED evidence: new messages on new topics, written in one go
before the last round of rule changes and scored once, after it. Its floors are what it reached
then, minus a small margin; they are below the goals, and say so. Figures are in LEARNING.md.

Pure: no database, no settings.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from memories.heuristics import CATEGORIES, Fact, extract_facts

SET_PATH = Path(__file__).with_name("learning_set.json")
FRESH_SET_PATH = Path(__file__).with_name("learning_set_fresh.json")

# The goals of the issue, on the half the rules were tuned on and on the whole set.
PRECISION_GOAL = 0.95
RECALL_GOAL = 0.80
# The old holdout half (now tuned on as well): the floors it reached when it was still untuned.
HOLDOUT_PRECISION_FLOOR = 0.95
HOLDOUT_RECALL_FLOOR = 0.75
# The fresh, untuned set, scored once (2026-12-05): precision 95.5% en, 100% fr, 97.7% all;
# recall 53.8% en, 64.7% fr, 58.9% all, far below the 80% goal. Floors: those, minus a margin.
FRESH_PRECISION_FLOOR = {"en": 0.90, "fr": 0.95, "all": 0.95}
FRESH_RECALL_FLOOR = {"en": 0.50, "fr": 0.60, "all": 0.55}


# The root conftest's autouse fixtures need pytest-django; these tests need neither a database
# nor settings, so they also run with `-p no:django`.
@pytest.fixture(autouse=True)
def _channels_keeps_test_connections() -> None:
    pass


@pytest.fixture(autouse=True)
def _fast_offline_brain() -> None:
    pass


@pytest.fixture(autouse=True)
def _close_worker_thread_connections() -> None:
    pass


def _fold(text: str) -> str:
    """Lowercase, without accents, apostrophes straight: "Saint-Étienne" ~ "saint-etienne"."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _matches(fact: Fact, expected: dict[str, Any]) -> bool:
    categories = {expected["category"], *expected.get("also_category", [])}
    text = _fold(fact.text)
    return fact.category in categories and all(_fold(w) in text for w in expected["must_contain"])


@dataclass
class Score:
    extracted: int = 0
    correct: int = 0  # extracted facts that match some expected fact of their message
    expected: int = 0
    found: int = 0  # expected facts matched by some extracted fact

    @property
    def precision(self) -> float:
        return self.correct / self.extracted if self.extracted else 1.0

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    def add(self, facts: list[Fact], expected: list[dict[str, Any]]) -> None:
        self.extracted += len(facts)
        self.correct += sum(any(_matches(f, e) for e in expected) for f in facts)
        self.expected += len(expected)
        self.found += sum(any(_matches(f, e) for f in facts) for e in expected)


def _items(path: Path = SET_PATH) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["items"]
    return items


def score(items: list[dict[str, Any]]) -> dict[tuple[str, str], Score]:
    """Scores by (language or "all", split or "all")."""
    scores: dict[tuple[str, str], Score] = {}
    for item in items:
        facts = extract_facts(item["text"])
        for key in (
            (item["lang"], item["split"]),
            (item["lang"], "all"),
            ("all", item["split"]),
            ("all", "all"),
        ):
            scores.setdefault(key, Score()).add(facts, item["expected"])
    return scores


def report(scores: dict[tuple[str, str], Score]) -> str:
    lines = ["lang  split    precision  recall   (correct/extracted, found/expected)"]
    for (lang, split), s in sorted(scores.items()):
        lines.append(
            f"{lang:<5} {split:<8} {s.precision:>8.1%}  {s.recall:>7.1%}   "
            f"({s.correct}/{s.extracted}, {s.found}/{s.expected})"
        )
    return "\n".join(lines)


def test_the_set_is_big_varied_and_split_by_a_fixed_rule() -> None:
    items = _items()
    assert len(items) >= 170
    assert sum(i["lang"] == "en" for i in items) >= 100
    assert sum(i["lang"] == "fr" for i in items) >= 70
    decoys = sum(not i["expected"] for i in items)
    assert 0.30 <= decoys / len(items) <= 0.45
    assert [i["split"] for i in items] == ["holdout" if n % 2 else "dev" for n in range(len(items))]
    for item in items:
        for expected in item["expected"]:
            assert {expected["category"], *expected.get("also_category", [])} <= set(CATEGORIES)
            assert expected["must_contain"]


def test_the_offline_brain_learns_what_people_say_without_inventing() -> None:
    scores = score(_items())
    print("\nTUNING set (dev and old holdout both tuned on)\n" + report(scores))
    for split in ("dev", "all"):
        for lang in ("en", "fr", "all"):
            s = scores[(lang, split)]
            assert s.precision >= PRECISION_GOAL, (lang, split, s)
            assert s.recall >= RECALL_GOAL, (lang, split, s)
    holdout = scores[("all", "holdout")]
    assert holdout.precision >= HOLDOUT_PRECISION_FLOOR, holdout
    assert holdout.recall >= HOLDOUT_RECALL_FLOOR, holdout


def test_the_fresh_set_is_new_varied_and_untuned() -> None:
    items = _items(FRESH_SET_PATH)
    assert len(items) >= 90
    assert sum(i["lang"] == "en" for i in items) >= 50
    assert sum(i["lang"] == "fr" for i in items) >= 40
    decoys = sum(not i["expected"] for i in items)
    assert 0.30 <= decoys / len(items) <= 0.45
    assert {i["split"] for i in items} == {"fresh"}
    old = {_fold(i["text"]) for i in _items()}
    assert not old & {_fold(i["text"]) for i in items}
    for item in items:
        for expected in item["expected"]:
            assert {expected["category"], *expected.get("also_category", [])} <= set(CATEGORIES)
            assert expected["must_contain"]


def test_on_fresh_untuned_messages_the_offline_brain_does_this_well() -> None:
    """UNTUNED: this set was never used to choose a rule. Below the 80% recall goal."""
    scores = score(_items(FRESH_SET_PATH))
    print("\nUNTUNED fresh set\n" + report({k: v for k, v in scores.items() if k[1] == "fresh"}))
    for lang in ("en", "fr", "all"):
        s = scores[(lang, "fresh")]
        assert s.precision >= FRESH_PRECISION_FLOOR[lang], (lang, s)
        assert s.recall >= FRESH_RECALL_FLOOR[lang], (lang, s)


def test_a_fact_needs_its_category_and_every_key_word() -> None:
    fact = Fact("Est prof de SVT dans un lycée à Saint-Étienne", "work", 4, "job", "")
    assert _matches(fact, {"category": "work", "must_contain": ["prof", "saint-etienne"]})
    assert not _matches(fact, {"category": "work", "must_contain": ["prof", "lille"]})
    assert not _matches(fact, {"category": "place", "must_contain": ["saint-etienne"]})
    assert _matches(fact, {"category": "place", "also_category": ["work"], "must_contain": ["SVT"]})
