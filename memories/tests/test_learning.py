"""The cat learns from what its human says: durable queue, offline heuristics, Mistral JSON mode,
reconciliation (supersede, never duplicate), all on real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catchat.testing.fake_mistral import Fail, FakeMistral, Reply
from cats.models import Cat, Conversation, Message
from cats.services import cat_create
from memories import learning
from memories.extraction import Decision
from memories.models import Episode, ExtractionJob, Memory, MemoryHistory
from memories.tests.factories import MemoryFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return cat_create(owner=alice, name="Whiskers")


def said(cat: Cat, *texts: str) -> list[Message]:
    """User messages saved and queued, as the chat pipeline does (message_accept)."""
    conversation = Conversation.objects.create(cat=cat)
    messages = []
    for text in texts:
        message = Message.objects.create(conversation=conversation, role="user", text=text)
        learning.job_enqueue(profile=cat.memory_profile, message_id=message.pk)
        messages.append(message)
    return messages


def drain() -> int:
    return async_to_sync(learning.drain)()


def active(cat: Cat) -> list[str]:
    return sorted(
        Memory.objects.filter(profile__cat=cat, status="active").values_list("text", flat=True)
    )


def test_offline_it_learns_facts_with_their_source(whiskers: Cat) -> None:
    (message,) = said(whiskers, "I have a dog named Rex. I love sushi!")
    assert drain() == 1
    memories = list(Memory.objects.filter(profile__cat=whiskers))
    assert len(memories) == 2
    for memory in memories:
        assert memory.source_message_id == message.pk
        assert memory.source_quote and memory.source_quote in message.text
        assert memory.embedding is not None and memory.embedding_model
        assert memory.history.get().operation == MemoryHistory.Operation.ADD
        assert memory.history.get().actor == MemoryHistory.Actor.CAT
    assert ExtractionJob.objects.get().status == ExtractionJob.Status.DONE


def test_a_contradiction_supersedes_and_keeps_the_history(whiskers: Cat) -> None:
    said(whiskers, "I live in Lyon.")
    drain()
    said(whiskers, "I moved to Paris last month.")
    drain()
    old = Memory.objects.get(profile__cat=whiskers, status="superseded")
    new = Memory.objects.get(profile__cat=whiskers, status="active", slot=old.slot)
    assert "Lyon" in old.text and "Paris" in new.text
    assert old.superseded_by == new
    supersede = old.history.get(operation=MemoryHistory.Operation.SUPERSEDE)
    assert (supersede.old_text, supersede.new_text) == (old.text, new.text)


def test_the_same_fact_said_twice_is_stored_once(whiskers: Cat) -> None:
    said(whiskers, "I love sushi.", "I love sushi!")
    drain()
    assert len(active(whiskers)) == 1


def test_a_crash_between_reply_and_extraction_loses_nothing(whiskers: Cat) -> None:
    # The process died after saving the turn: the job is pending, and one claimed by the dead
    # process is stuck `running`. A later drain (any process) picks both up.
    first, second = said(whiskers, "My sister is called Mia.", "I'm allergic to peanuts.")
    ExtractionJob.objects.filter(message=second).update(
        status="running", claimed_at="2020-01-01T00:00:00Z", attempts=1
    )
    assert drain() == 2
    assert len(active(whiskers)) == 2
    assert set(ExtractionJob.objects.values_list("status", flat=True)) == {"done"}


def test_no_message_is_extracted_twice(whiskers: Cat) -> None:
    (message,) = said(whiskers, "I work as a nurse.")
    learning.job_enqueue(profile=whiskers.memory_profile, message_id=message.pk)  # again
    assert drain() == 1
    assert drain() == 0
    assert len(active(whiskers)) == 1


def test_a_request_to_forget_teaches_nothing(whiskers: Cat) -> None:
    said(whiskers, "Forget that I live in Lyon.")
    drain()
    assert active(whiskers) == []


def test_a_disabled_profile_learns_nothing(whiskers: Cat) -> None:
    whiskers.memory_profile.enabled = False
    whiskers.memory_profile.save()
    said(whiskers, "I love sushi.")
    assert drain() == 0
    assert active(whiskers) == []


@pytest.fixture
def json_reply(mistral: FakeMistral) -> Any:
    def script(*facts: dict[str, Any]) -> None:
        mistral.script_json(Reply(json.dumps({"facts": list(facts)})))

    return script


def test_with_mistral_facts_come_from_json_mode(
    whiskers: Cat, mistral: FakeMistral, json_reply: Any
) -> None:
    json_reply(
        {
            "op": "add",
            "text": "A une sœur qui s'appelle Mia",
            "category": "people",
            "importance": 4,
            "target": None,
            "quote": "ma sœur s'appelle Mia",
        }
    )
    said(whiskers, "Au fait, ma sœur s'appelle Mia.")
    drain()
    (memory,) = Memory.objects.filter(profile__cat=whiskers)
    assert memory.text == "A une sœur qui s'appelle Mia"  # in the human's own language
    assert memory.category == "people" and memory.importance == 4
    body = mistral.requests[-1]["body"]
    assert body["response_format"] == {"type": "json_object"}
    assert "ma sœur s'appelle Mia" in json.dumps(body, ensure_ascii=False)


def test_with_mistral_an_update_supersedes_the_memory_shown_under_a_local_id(
    whiskers: Cat, mistral: FakeMistral, json_reply: Any
) -> None:
    json_reply({"op": "add", "text": "Lives in Lyon", "category": "place", "importance": 3})
    said(whiskers, "I live in Lyon.")
    drain()
    old = Memory.objects.get(profile__cat=whiskers)
    json_reply(
        {"op": "update", "text": "Lives in Paris", "category": "place", "target": "m1"},
    )
    said(whiskers, "I moved to Paris.")
    drain()
    prompt = json.dumps(mistral.requests[-1]["body"]["messages"])
    assert "m1" in prompt and "Lives in Lyon" in prompt
    assert f'"id": {old.pk}' not in prompt  # never a database id
    old.refresh_from_db()
    assert old.status == "superseded" and old.superseded_by is not None
    assert old.superseded_by.text == "Lives in Paris"


def test_when_mistral_keeps_failing_the_heuristics_still_learn(
    whiskers: Cat, mistral: FakeMistral, settings: Any
) -> None:
    settings.MISTRAL_MAX_RETRIES = 0
    settings.LEARNING_RETRY_S = 0  # retried at once, not a minute later
    mistral.json_default = Fail(503)
    said(whiskers, "I have a cat named Luna.")
    assert drain() == 1
    assert len(active(whiskers)) == 1
    # Mistral was asked again before the heuristics stood in (they learn less).
    assert len(mistral.chat_requests) == learning.MAX_ATTEMPTS


def test_a_failed_call_is_retried_later_not_at_once(
    whiskers: Cat, mistral: FakeMistral, settings: Any
) -> None:
    settings.MISTRAL_MAX_RETRIES = 0
    mistral.script_json(Fail(503))
    said(whiskers, "I have a cat named Luna.")
    assert drain() == 0  # back in the queue, for LEARNING_RETRY_S
    assert len(mistral.chat_requests) == 1
    job = ExtractionJob.objects.get()
    assert (job.status, job.attempts) == (ExtractionJob.Status.PENDING, 1)
    assert "503" in job.error


# --- what learning reads, and a backlog -----------------------------------------------------


def _job_for(cat: Cat, text: str) -> ExtractionJob:
    said(cat, text)
    (job,) = learning._claim(cat.memory_profile.pk, 1)
    return job


def _plan(*facts: tuple[str, str]) -> learning._Plan:
    """Heuristic-like decisions: (text, slot)."""
    decisions = [Decision("add", text, "other", 3, None, "") for text, _ in facts]
    return learning._Plan(decisions, {}, [slot for _, slot in facts])


@pytest.mark.parametrize("others", [0, 60])
def test_learning_reads_only_the_memories_a_message_could_repeat_or_replace(
    whiskers: Cat, others: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = whiskers.memory_profile
    MemoryFactory.create(profile=profile, text="Loves sushi", embedding=[1.0, 0.0, 0.0])
    home = MemoryFactory.create(profile=profile, text="Lives in Lyon", slot="home")
    MemoryFactory.create_batch(others, profile=profile, embedding=[0.0, 1.0, 0.0])
    job = _job_for(whiskers, "I LOVE sushi!! And I moved to Paris. I play chess.")
    loaded: list[int] = []
    from_db = Memory.from_db.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Memory], *args: Any) -> Memory:
        memory = from_db(cls, *args)
        loaded.append(memory.pk)
        return memory

    monkeypatch.setattr(Memory, "from_db", classmethod(counting))
    plan = _plan(("loves SUSHI!", ""), ("Lives in Paris", "home"), ("Plays chess", ""))
    with CaptureQueriesContext(connection) as queries:
        learning._apply([job], {job.pk: plan})
    monkeypatch.undo()
    # The same fact (another case, other punctuation) and the slot's memory: nothing else,
    # however many memories the profile has, and never a vector.
    sushi = Memory.objects.get(text="Loves sushi")
    assert sorted(loaded) == sorted([sushi.pk, home.pk])
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "memories_memory"' in q["sql"]]
    assert len(reads) == 1 and '"embedding"' not in reads[0].split(" FROM ")[0]
    # And what it did is what reading every memory did.
    assert active(whiskers).count("Loves sushi") == 1
    assert "loves SUSHI!" not in active(whiskers)
    home.refresh_from_db()
    assert home.status == Memory.Status.SUPERSEDED
    assert home.superseded_by is not None and home.superseded_by.text == "Lives in Paris"
    assert home.history.get().operation == MemoryHistory.Operation.SUPERSEDE
    assert "Plays chess" in active(whiskers)
    assert ExtractionJob.objects.get(pk=job.pk).status == ExtractionJob.Status.DONE


def test_learning_queries_do_not_grow_with_the_memories(whiskers: Cat) -> None:
    profile = whiskers.memory_profile
    counts = []
    for extra in (0, 80):
        MemoryFactory.create_batch(extra, profile=profile, embedding=[0.0, 1.0, 0.0])
        MemoryFactory.create(profile=profile, text=f"Knows fact {extra}")
        job = _job_for(whiskers, f"I know fact {extra}, and I love tea {extra}.")
        with CaptureQueriesContext(connection) as queries:
            plan = _plan((f"knows FACT {extra}", ""), (f"Loves tea {extra}", ""))
            learning._apply([job], {job.pk: plan})
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
    assert Memory.objects.filter(profile=profile, text__startswith="Knows fact").count() == 2


@pytest.mark.parametrize(
    ("stored", "said_again"),
    [
        ("Loves sushi", "loves sushi."),
        ("Has a dog named Rex", "  HAS a dog — named Rex!"),
        ("Vit à Montréal", "vit à montréal"),
        ("Wohnt in der Hauptstraße", "WOHNT IN DER HAUPTSTRASSE"),
        ("Ζει στην Αθήνα με τον Νίκος", "ζει στην αθήνα με τον νίκοσ"),
        ("Ｍｙ ｎａｍｅ ｉｓ Ａｙａ", "My name is Aya"),
    ],
)
def test_the_same_fact_in_another_form_is_still_found(
    whiskers: Cat, stored: str, said_again: str
) -> None:
    from memories.services import normalized

    assert normalized(stored) == normalized(said_again)  # the rule learning keeps
    MemoryFactory.create(profile=whiskers.memory_profile, text=stored)
    MemoryFactory.create(profile=whiskers.memory_profile, text="Something else entirely")
    known, _ = learning._existing(whiskers.memory_profile, _plan((said_again, "")))
    assert set(known) == {normalized(stored)}


def test_one_drain_works_through_a_backlog_of_many_batches(whiskers: Cat, settings: Any) -> None:
    # Extraction fell behind (an import, an outage): one drain learns all of it, a batch at a
    # time, each message's facts from that message.
    settings.LEARNING_BATCH_MESSAGES = 8
    texts = [f"I have a dog named Rex{i}." for i in range(30)]
    messages = said(whiskers, *texts)
    assert drain() == 30
    assert set(ExtractionJob.objects.values_list("status", flat=True)) == {"done"}
    sources = dict(
        Memory.objects.filter(profile__cat=whiskers).values_list("source_message_id", "text")
    )
    assert len(sources) == 30
    for message in messages:
        assert message.text.split()[-1].rstrip(".") in sources[message.pk]


def test_a_worker_kicked_while_it_runs_looks_once_more() -> None:
    # A reply finishes (kick) just as the worker found nothing left: it must look again rather
    # than leave the new job for some later reply.
    passes: list[int] = []

    async def run() -> None:
        async def work() -> None:
            passes.append(len(passes))
            await asyncio.sleep(0)
            if len(passes) == 1:
                worker.kick()  # while this pass ends

        worker = learning._Worker(work, "test-worker")
        worker.kick()
        await worker.idle()
        assert passes == [0, 1]
        worker.kick()
        worker.kick()  # kicks while it runs come to one more pass, not one each
        await worker.idle()

    async_to_sync(run)()
    assert passes == [0, 1, 2, 3]


def test_kicked_workers_learn_every_waiting_message(whiskers: Cat) -> None:
    said(whiskers, "I love sushi.", "I work as a nurse.")

    async def run() -> None:
        learning.kick()
        learning.kick()
        await learning.wait_idle()

    async_to_sync(run)()
    assert set(ExtractionJob.objects.values_list("status", flat=True)) == {"done"}
    assert len(active(whiskers)) == 2
    assert Episode.objects.filter(profile__cat=whiskers).count() == 2
