"""Test fixtures shared by every app: the fake Mistral server, the chat settings, query counting
across threads, and the Channels pitfalls of STACK.md."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from asgiref.sync import SyncToAsync
from channels.layers import channel_layers
from django.core.cache import cache
from django.db import connections
from django.db.backends.utils import CursorWrapper
from pytest_django.fixtures import Settings as SettingsWrapper

from catchat.testing.fake_mistral import FakeMistral


def _close_old_connections_outside_transactions() -> None:
    for wrapper in connections.all(initialized_only=True):
        if not wrapper.in_atomic_block:
            wrapper.close_if_unusable_or_obsolete()


@pytest.fixture(autouse=True)
def _channels_keeps_test_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    # Consumers close "old" connections around each database call (channels >= 4.2). In a test
    # that can be the test's own connection, inside the transaction the test runs in: closing it
    # would end that transaction, and a later test fails with "Database access not allowed".
    # Every other connection must still go back to the pool after each call, as in production:
    # one kept by a thread that is gone would never be returned, and the pool would run dry.
    monkeypatch.setattr(
        "channels.db.close_old_connections", _close_old_connections_outside_transactions
    )


def _fresh_worker_thread_in_child() -> None:
    # The browser tests fork a daphne server. A forked child inherits asgiref's executor but not
    # its worker thread, so every database_sync_to_async call in the child would wait forever.
    SyncToAsync.single_thread_executor = ThreadPoolExecutor(max_workers=1)


os.register_at_fork(after_in_child=_fresh_worker_thread_in_child)


@pytest.fixture(autouse=True)
def _close_worker_thread_connections() -> Iterator[None]:
    # database_sync_to_async runs queries on asgiref's single worker thread; its persistent
    # connection (CONN_MAX_AGE) would otherwise keep the test database busy at teardown.
    yield
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def _a_channel_layer_per_test() -> Iterator[None]:
    # Each async test runs on an event loop of its own, and a channels_redis layer receives on
    # one: a message received near a test's end leaves a cleaning task that holds a lock of the
    # layer until it finishes, and if the test's loop closes first the lock stays taken, bound
    # to that dead loop, so every later test's realtime hub fails to receive. A layer per test
    # (as in production, one per process and loop) keeps one test's end out of the next.
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    # Throttle counters live in the cache; each test starts with none spent.
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_offline_brain(settings: SettingsWrapper) -> None:
    settings.OFFLINE_WORD_DELAY_MS = 0
    # No background sweeper outliving a test's event loop; the lease tests turn it on.
    settings.CHAT_SWEEP = False
    settings.MISTRAL_API_KEY = ""


@pytest.fixture
def fake_mistral() -> Iterator[FakeMistral]:
    """A fake Mistral HTTP server on 127.0.0.1 (the network peer; everything else is real)."""
    with FakeMistral() as server:
        yield server


@pytest.fixture
def mistral(fake_mistral: FakeMistral, settings: SettingsWrapper) -> FakeMistral:
    """Turn the real SDK on, pointed at the fake server, with short timeouts for failure tests."""
    settings.MISTRAL_API_KEY = "test-key"
    settings.MISTRAL_SERVER_URL = fake_mistral.url
    settings.MISTRAL_TIMEOUT_MS = 1500
    settings.MISTRAL_MAX_RETRIES = 2
    return fake_mistral


@dataclass
class QueryLog:
    statements: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self.statements)

    def clear(self) -> None:
        with self.lock:
            self.statements.clear()


@pytest.fixture
def queries(monkeypatch: pytest.MonkeyPatch) -> QueryLog:
    """Every SQL statement run by any thread (database_sync_to_async runs queries in a worker
    thread, which django's per-connection CaptureQueriesContext does not see)."""
    log = QueryLog()
    # Private Django methods (no stubs): every execute() and executemany() passes through them.
    original = getattr(CursorWrapper, "_execute")  # noqa: B009
    original_many = getattr(CursorWrapper, "_executemany")  # noqa: B009

    def _execute(self: CursorWrapper, sql: str, *args: object) -> object:
        with log.lock:
            log.statements.append(sql)
        return original(self, sql, *args)

    def _executemany(self: CursorWrapper, sql: str, *args: object) -> object:
        with log.lock:
            log.statements.append(sql)
        return original_many(self, sql, *args)

    monkeypatch.setattr(CursorWrapper, "_execute", _execute)
    monkeypatch.setattr(CursorWrapper, "_executemany", _executemany)
    return log
