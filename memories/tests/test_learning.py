"""The cat learns from what its human says: durable queue, offline heuristics, Mistral JSON mode,
reconciliation (supersede, never duplicate), all on real PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from catchat.testing.fake_mistral import Fail, FakeMistral, Reply
from cats.models import Cat, Conversation, Message
from cats.services import cat_create
from memories import learning
from memories.models import ExtractionJob, Memory, MemoryHistory

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


def test_when_mistral_fails_the_heuristics_still_learn(whiskers: Cat, mistral: FakeMistral) -> None:
    mistral.json_default = Fail(503)
    said(whiskers, "I have a cat named Luna.")
    drain()
    assert len(active(whiskers)) == 1
