"""Capacity: what one process holds and what a turn costs, at sizes users reach.

    python -m bench.capacity            # the full run (~5-10 minutes; the first one fills the
                                        # memory table to 1,000,000 rows, later runs reuse it)
    python -m bench.capacity --smoke    # tiny sizes: proves it works; its figures mean nothing

1. Idle WebSockets: `python -m catchat.serve` (WORKERS=1: daphne) as a subprocess; N
   authenticated sockets (bearer tokens, 100 users' cats) opened from this process in batches of
   CONNECT_BATCH, each waiting for its `hello`, then left idle. The server's RSS before and after
   (psutil), and per connection. Target: 5,000 idle sockets under 300 MB RSS.
2. Memory recall latency: `catchat.embeddings.embed_query_sync` and `memories.recall.recall`
   timed separately and together, p50/p95 over QUERIES varied questions, for one profile with
   100, 1,000 and 10,000 memories while the table holds 1,000,000 (real e5 vectors of a few
   hundred varied texts, reused; spread over FILL_PROFILES other profiles). In this process.
   Target: recall (embedding + query) at most 25 ms p50 at 10,000 memories.
3. SQL statements per chat turn at conversation lengths 1, 100 and 1,000 (turn L has L-1
   earlier turns): one real turn through the consumer (channels' WebsocketCommunicator on
   `catchat.asgi.application`, offline brain, no word delay), every statement of any thread
   counted from the `chat.send` to the `chat.done` (Django's CursorWrapper patched, as the
   tests' `queries` fixture does). The memory-learning job that follows each reply is counted
   apart, as are the connection health checks (`SELECT 1`, run by psycopg directly, not
   through Django's cursor) that each `database_sync_to_async` call brings. Target: at most
   10 statements and flat.
4. REST: `GET /api/v1/cats/{id}/state/` and `POST /api/v1/chat/` (JSON mode) requests per
   second from 10 clients (one user each) against `catchat.serve` (WORKERS=1) with the
   fake Mistral server streaming 50 tokens with no delay.

Runs on the embedded PostgreSQL, database `catchat_bench`, as production serves (DEBUG off).
The servers use Redis (channel layer, cache) when REDIS_URL is set, the in-memory layer
otherwise; the report says which. A benchmark, not a test: targets are reported as met or not
met, never asserted. Writes `bench/results/capacity.json`; server logs beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

from bench.common import (
    RESULTS,
    ROOT,
    SERVED_AS_PRODUCTION,
    free_port,
    raise_open_files,
    save_and_print,
    spread,
    start_fake_mistral,
    terminate,
    wait_healthy,
)

# Every row this bench makes belongs to a user whose name starts with this.
PREFIX = "capbench-"
FILL_MARKER = f"{PREFIX}filled-v1"  # exists once the big fill is complete (and analysed)
EPISODES_MARKER = f"{PREFIX}episodes-filled-v1"  # the same for the background episodes

FULL: dict[str, Any] = {
    "sockets": (1000, 5000),
    "memory_sizes": (100, 1000, 10000),
    "table_rows": 1_000_000,
    "conversation_lengths": (1, 100, 1000),
    "rest_seconds": 10.0,
    "rest_concurrency": 10,
    "queries": 50,
}
SMOKE: dict[str, Any] = {
    "sockets": (50,),
    "memory_sizes": (100, 1000),
    "table_rows": None,  # no big fill
    "conversation_lengths": (1, 100, 1000),
    "rest_seconds": 2.0,
    "rest_concurrency": 2,
    "queries": 10,
}

CONNECT_BATCH = 200
SOCKET_USERS = 100
FILL_PROFILES = 2000
DISTINCT_TEXTS = 400
EPISODES_PER_FACT = 2  # a measured profile of N facts has 2N episodes (messages it wrote)
FILL_EPISODES = 200_000  # episodes of the other profiles, so that the episode table is not tiny
TOKENS = 50

TARGET_SOCKETS = 5000
TARGET_RSS_MB = 300
TARGET_RECALL_P50_MS = 25
TARGET_RECALL_SIZE = 10000
TARGET_SQL_PER_TURN = 10


# --- helpers -------------------------------------------------------------------------------------


@contextlib.contextmanager
def served(env: dict[str, str], log_name: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`python -m catchat.serve` (WORKERS=1, daphne) on a free port, with a high open-files
    limit, logging to bench/results/<log_name>; stopped on the way out."""
    port = free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = (RESULTS / log_name).open("w")
    server = None
    try:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "catchat.serve"],
            env={**env, "WORKERS": "1", "PORT": str(port), "HOST": "127.0.0.1"},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_open_files,  # noqa: PLW1509 - before exec, no threads involved
        )
        wait_healthy(port, server)
        yield server, port
    finally:
        terminate(server)
        log.close()


def server_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {
        **base,
        **SERVED_AS_PRODUCTION,
        "LOG_LEVEL": base.get("BENCH_SERVER_LOG_LEVEL", "WARNING"),
        "MISTRAL_API_KEY": "",
        "PYTHONPATH": str(ROOT),
        # The idle-sockets part holds 50 tabs per bench user (a user's cap is 20 by default).
        "WEBSOCKETS_PER_USER": "1000",
    }
    env.update(extra)
    return env


def bench_users(kind: str, count: int) -> list[tuple[int, int, str]]:
    """`count` fresh users of this run, each with a cat: (user id, cat id, access token)."""
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from cats.services import cat_create

    run = uuid.uuid4().hex[:6]
    users = User.objects.bulk_create(
        [User(username=f"{PREFIX}{kind}-{run}-{i}") for i in range(count)]
    )
    return [
        (
            user.pk,
            cat_create(owner=user, name=f"Cat{i}", personality="", coat="grey").pk,
            str(AccessToken.for_user(user)),
        )
        for i, user in enumerate(users)
    ]


# --- 1. idle WebSockets --------------------------------------------------------------------------


def measure_sockets(levels: tuple[int, ...], base_env: dict[str, str]) -> dict[str, Any]:
    import psutil

    client_limit = raise_open_files()
    sessions = bench_users("ws", SOCKET_USERS)
    report: dict[str, Any] = {
        "layer": "redis" if base_env.get("REDIS_URL") else "in-memory",
        "open_files_limit": client_limit,
        "levels": [],
    }
    with served(server_env(base_env), "capacity.sockets.server.log") as (server, port):
        process = psutil.Process(server.pid)
        with contextlib.suppress(psutil.Error):
            report["server_open_files_limit"] = process.rlimit(psutil.RLIMIT_NOFILE)[0]
        report.update(asyncio.run(_hold_sockets(port, sessions, levels, process)))
    return report


async def _open_socket(port: int, cat_id: int, token: str) -> Any:
    from websockets.asyncio.client import connect

    ws = await connect(
        f"ws://127.0.0.1:{port}/ws/cats/{cat_id}/",
        additional_headers={"Authorization": f"Bearer {token}"},
        ping_interval=None,  # idle means idle: no client pings
        open_timeout=60,
        close_timeout=2,
    )
    hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
    if hello.get("type") != "hello":
        await ws.close()
        raise RuntimeError(f"no hello: {str(hello)[:200]}")
    return ws


async def _hold_sockets(
    port: int, sessions: list[tuple[int, int, str]], levels: tuple[int, ...], process: Any
) -> dict[str, Any]:
    def rss_mb() -> float:
        return round(process.memory_info().rss / 2**20, 1)

    # One socket opened and closed first, so what loads lazily on a first connection is loaded.
    warm = await _open_socket(port, sessions[0][1], sessions[0][2])
    await warm.close()
    await asyncio.sleep(1)
    baseline = rss_mb()
    cpu_before = sum(process.cpu_times()[:2])
    sockets: list[Any] = []
    failures: dict[str, int] = {}
    out: dict[str, Any] = {"rss_baseline_mb": baseline, "levels": []}
    began = time.monotonic()
    for level in levels:
        while len(sockets) < level:
            batch = min(CONNECT_BATCH, level - len(sockets))
            offset = len(sockets)
            opened = await asyncio.gather(
                *(
                    _open_socket(port, *sessions[(offset + i) % len(sessions)][1:])
                    for i in range(batch)
                ),
                return_exceptions=True,
            )
            for result in opened:
                if isinstance(result, BaseException):
                    key = type(result).__name__
                    failures[key] = failures.get(key, 0) + 1
                else:
                    sockets.append(result)
            if all(isinstance(r, BaseException) for r in opened):
                break  # the server takes no more: report what it holds
        connect_s = time.monotonic() - began
        await asyncio.sleep(3)  # idle; let the server settle
        rss = rss_mb()
        # Still alive and answering? An application ping on a few sockets, one at a time.
        pongs: list[float] = []
        for ws in random.Random(level).sample(  # noqa: S311 - a sample, not a secret
            sockets, min(20, len(sockets))
        ):
            started = time.monotonic()
            await ws.send(json.dumps({"type": "ping"}))
            while json.loads(await asyncio.wait_for(ws.recv(), 10)).get("type") != "pong":
                pass
            pongs.append((time.monotonic() - started) * 1000)
        cpu = sum(process.cpu_times()[:2]) - cpu_before
        out["levels"].append(
            {
                "wanted": level,
                "open": len(sockets),
                "rss_mb": rss,
                "rss_delta_mb": round(rss - baseline, 1),
                "kb_per_connection": round((rss - baseline) * 1024 / len(sockets), 1)
                if sockets
                else None,
                "connect_seconds_total": round(connect_s, 1),
                "connects_per_s": round(len(sockets) / connect_s, 1) if connect_s else None,
                "server_cpu_ms_per_connection": round(cpu * 1000 / len(sockets), 2)
                if sockets
                else None,
                "ping_ms": spread(pongs),
            }
        )
    out["connect_failures"] = failures
    out["extensions"] = (
        sockets[0].response.headers.get("Sec-WebSocket-Extensions") if sockets else None
    )
    for start in range(0, len(sockets), 500):
        await asyncio.gather(
            *(ws.close() for ws in sockets[start : start + 500]), return_exceptions=True
        )
    await asyncio.sleep(3)
    out["rss_after_close_mb"] = rss_mb()
    return out


# --- 2. memory recall ----------------------------------------------------------------------------

_NAMES = ["Rex", "Awa", "Lena", "Marco", "Yuki", "Omar", "Chloé", "Ines", "Tom", "Priya", "Sven"]
_PEOPLE = ["sister", "brother", "mother", "father", "best friend", "neighbour", "boss", "cousin"]
_CITIES = ["Lyon", "Montreal", "Osaka", "Lisbon", "Berlin", "Nairobi", "Lima", "Oslo", "Austin"]
_FOODS = ["sushi", "ramen", "olives", "dark chocolate", "peanuts", "mangoes", "cheese", "tacos"]
_JOBS = ["nurse", "teacher", "baker", "carpenter", "data analyst", "bus driver", "lawyer", "chef"]
_HOBBIES = ["tennis", "chess", "the piano", "football", "video games", "guitar", "yoga"]
_PETS = ["a dog", "a parrot", "two rabbits", "a goldfish", "a tortoise", "a hamster"]
_FACTS = [
    "Has {pet} named {name}",
    "Their {person} is called {name}",
    "Works as a {job}",
    "Works as a {job} at night",
    "Lives in {city}",
    "Grew up in {city}",
    "Their {person} lives in {city}",
    "Loves {food}",
    "Is allergic to {food}",
    "Hates {food}",
    "Plays {hobby} on weekends",
    "Is learning {hobby} with their {person}",
    "Wants to visit {city} next summer",
    "Had {food} for lunch with {name}",
    "Their {person} {name} works as a {job}",
    "Moved to {city} last year for a job as a {job}",
]
_QUESTIONS = [
    "How is {name} doing?",
    "What do you know about my {person}?",
    "Where did I grow up?",
    "Any idea what I should cook tonight? Maybe {food}?",
    "Do you remember what I do for a living?",
    "Should I go to {city} this summer?",
    "What should I do this weekend?",
    "Is it ok if I eat {food}?",
    "I am so tired after work today",
    "My {person} called me again",
    "Guess who I saw at the park, it was {name}",
    "Do you think I should learn {hobby}?",
]


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        name=rng.choice(_NAMES),
        person=rng.choice(_PEOPLE),
        city=rng.choice(_CITIES),
        food=rng.choice(_FOODS),
        job=rng.choice(_JOBS),
        hobby=rng.choice(_HOBBIES),
        pet=rng.choice(_PETS),
    )


def memory_texts(count: int) -> list[str]:
    rng = random.Random(7)  # noqa: S311 - reproducible texts, not secrets
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen.setdefault(_fill(rng.choice(_FACTS), rng), None)
    return list(seen)


def questions(count: int) -> list[str]:
    rng = random.Random(11)  # noqa: S311 - reproducible texts, not secrets
    return [_fill(_QUESTIONS[i % len(_QUESTIONS)], rng) for i in range(count)]


def _vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


def _load_texts(cursor: Any) -> str:
    """A temporary table of DISTINCT_TEXTS texts with their real passage vectors; returns the
    embedding model's name."""
    from catchat import embeddings

    texts = memory_texts(DISTINCT_TEXTS)
    vectors = embeddings.embed_passages_sync(texts)
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS capbench_texts "
        "(i int PRIMARY KEY, text varchar(500), embedding vector)"
    )
    cursor.execute("TRUNCATE capbench_texts")
    cursor.executemany(
        "INSERT INTO capbench_texts VALUES (%s, %s, %s::vector)",
        [(i, t, _vector_literal(v)) for i, (t, v) in enumerate(zip(texts, vectors, strict=True))],
    )
    return embeddings.model_name()


_INSERT_MEMORIES = """
INSERT INTO memories_memory (profile_id, text, category, importance, pinned, status, slot,
    source_quote, valid_from, embedding, embedding_model, created_at, updated_at)
SELECT (%(profiles)s::bigint[])[1 + g %% %(n_profiles)s], t.text, 'other', 1 + g %% 5, false,
    CASE WHEN %(some_inactive)s AND g %% 10 = 0 THEN 'superseded' ELSE 'active' END, '', '',
    now() - make_interval(secs => g), t.embedding, %(model)s,
    now() - make_interval(secs => g), now()
FROM generate_series(%(start)s, %(stop)s) AS g
JOIN capbench_texts t ON t.i = g %% %(n_texts)s
"""


def _insert_memories(
    cursor: Any, profiles: list[int], rows: int, model: str, *, some_inactive: bool
) -> None:
    chunk = 100_000
    for start in range(0, rows, chunk):
        began = time.monotonic()
        cursor.execute(
            _INSERT_MEMORIES,
            {
                "profiles": profiles,
                "n_profiles": len(profiles),
                "some_inactive": some_inactive,
                "model": model,
                "start": start,
                "stop": min(rows, start + chunk) - 1,
                "n_texts": DISTINCT_TEXTS,
            },
        )
        if rows > chunk:
            print(
                f"   filled {min(rows, start + chunk):,} / {rows:,} memories "
                f"({time.monotonic() - began:.1f} s for the last chunk)",
                file=sys.stderr,
                flush=True,
            )


# Episodes: a user message each (cats_message, role 'user') in one conversation per profile, with
# the same real passage vectors as the memories (an episode's text is the fact as said).
_INSERT_EPISODES = """
WITH conversations AS (
    SELECT p.id AS profile_id, c.id AS conversation_id, row_number() OVER (ORDER BY p.id) - 1 AS n
    FROM memories_memoryprofile p
    JOIN LATERAL (SELECT id FROM cats_conversation WHERE cat_id = p.cat_id ORDER BY id LIMIT 1) c
        ON true
    WHERE p.id = ANY(%(profiles)s::bigint[])
), said AS (
    SELECT c.profile_id, c.conversation_id, t.text, t.embedding,
        now() - make_interval(secs => g) AS at
    FROM generate_series(%(start)s, %(stop)s) AS g
    JOIN conversations c ON c.n = g %% %(n_profiles)s
    JOIN capbench_texts t ON t.i = (g * 7) %% %(n_texts)s
), messages AS (
    INSERT INTO cats_message (conversation_id, role, text, status, model, stream_seq, error_code,
        mood, memories_used, episodes_used, kept, created_at, updated_at)
    SELECT conversation_id, 'user', 'I told you: ' || text, 'complete', '', 0, '', '', '{}', '{}',
        true, at, at
    FROM said
    RETURNING id, conversation_id, text, created_at
)
INSERT INTO memories_episode (message_id, profile_id, conversation_id, text, before, after,
    said_at, embedding, embedding_model)
SELECT m.id, c.profile_id, m.conversation_id, m.text, '', '', m.created_at, t.embedding, %(model)s
FROM messages m
JOIN conversations c ON c.conversation_id = m.conversation_id
JOIN capbench_texts t ON 'I told you: ' || t.text = m.text
"""


def _insert_episodes(cursor: Any, profiles: list[int], rows: int, model: str) -> None:
    """`rows` episodes spread over `profiles` (each given a conversation first, if it has none)."""
    cursor.execute(
        "INSERT INTO cats_conversation (cat_id, title, created_at, updated_at) "
        "SELECT p.cat_id, 'bench', now(), now() FROM memories_memoryprofile p "
        "WHERE p.id = ANY(%s::bigint[]) "
        "AND NOT EXISTS (SELECT 1 FROM cats_conversation c WHERE c.cat_id = p.cat_id)",
        [profiles],
    )
    chunk = 100_000
    for start in range(0, rows, chunk):
        began = time.monotonic()
        cursor.execute(
            _INSERT_EPISODES,
            {
                "profiles": profiles,
                "n_profiles": len(profiles),
                "model": model,
                "start": start,
                "stop": min(rows, start + chunk) - 1,
                "n_texts": DISTINCT_TEXTS,
            },
        )
        if rows > chunk:
            print(
                f"   filled {min(rows, start + chunk):,} / {rows:,} episodes "
                f"({time.monotonic() - began:.1f} s for the last chunk)",
                file=sys.stderr,
                flush=True,
            )


def _delete_episodes(cursor: Any, profiles: list[int]) -> None:
    """The profiles' episodes and the messages they are (an episode goes with its message)."""
    cursor.execute(
        "WITH gone AS (DELETE FROM memories_episode WHERE profile_id = ANY(%s::bigint[]) "
        "RETURNING message_id) DELETE FROM cats_message WHERE id IN (SELECT message_id FROM gone)",
        [profiles],
    )


def _profiles(kind: str, count: int) -> list[int]:
    """Memory profiles of bench users named `{PREFIX}{kind}-{i}` (created when missing)."""
    from accounts.models import User
    from cats.models import Cat
    from memories.models import MemoryProfile

    names = [f"{PREFIX}{kind}-{i}" for i in range(count)]
    have = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    missing = [n for n in names if n not in have]
    if missing:
        users = User.objects.bulk_create([User(username=n) for n in missing], batch_size=1000)
        cats = Cat.objects.bulk_create(
            [Cat(owner=u, name="Filler", coat="grey") for u in users], batch_size=1000
        )
        MemoryProfile.objects.bulk_create(
            [MemoryProfile(user=u, cat=c) for u, c in zip(users, cats, strict=True)],
            batch_size=1000,
        )
    return list(
        MemoryProfile.objects.filter(user__username__in=names)
        .order_by("user__username")
        .values_list("pk", flat=True)
    )


def prepare_memories(sizes: tuple[int, ...], table_rows: int | None) -> dict[str, Any]:
    """One profile per size with exactly that many active memories and EPISODES_PER_FACT times
    as many episodes and, for the full run, the memory table filled to `table_rows` memories of
    bench profiles and FILL_EPISODES episodes of the same profiles. Reuses what an earlier run
    made."""
    from django.db import connection

    from accounts.models import User
    from memories.models import Episode, Memory

    info: dict[str, Any] = {"profiles": {}, "filled_now": False}
    began = time.monotonic()
    model = None
    with connection.cursor() as cursor:
        for size in sizes:
            (profile,) = _profiles(f"recall-{size}", 1)
            have = Memory.objects.filter(profile_id=profile)
            if have.count() != size or have.exclude(status=Memory.Status.ACTIVE).exists():
                if model is None:
                    model = _load_texts(cursor)
                cursor.execute("DELETE FROM memories_memory WHERE profile_id = %s", [profile])
                _insert_memories(cursor, [profile], size, model, some_inactive=False)
                info["filled_now"] = True
            if Episode.objects.filter(profile_id=profile).count() != EPISODES_PER_FACT * size:
                if model is None:
                    model = _load_texts(cursor)
                _delete_episodes(cursor, [profile])
                _insert_episodes(cursor, [profile], EPISODES_PER_FACT * size, model)
                info["filled_now"] = True
            info["profiles"][size] = profile
        if table_rows:
            fill = table_rows - sum(sizes)
            profiles = _profiles("fill", FILL_PROFILES)
            done = User.objects.filter(username=FILL_MARKER).exists()
            if not done or Memory.objects.filter(profile_id__in=profiles).count() != fill:
                User.objects.filter(username=FILL_MARKER).delete()
                if model is None:
                    model = _load_texts(cursor)
                cursor.execute(
                    "DELETE FROM memories_memory WHERE profile_id = ANY(%s::bigint[])", [profiles]
                )
                _insert_memories(cursor, profiles, fill, model, some_inactive=True)
                User.objects.create(username=FILL_MARKER)
                info["filled_now"] = True
            done = User.objects.filter(username=EPISODES_MARKER).exists()
            if not done:
                if model is None:
                    model = _load_texts(cursor)
                _delete_episodes(cursor, profiles)
                _insert_episodes(cursor, profiles, FILL_EPISODES, model)
                User.objects.create(username=EPISODES_MARKER)
                info["filled_now"] = True
        if info["filled_now"]:
            # Analysed, and vacuumed so that the visibility map is set (as autovacuum leaves a
            # table that is read more than written).
            cursor.execute("VACUUM ANALYZE memories_memory, memories_episode, cats_message")
        for key, table in (("table", "memories_memory"), ("episodes_table", "memories_episode")):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant names
            info[f"{key}_rows"] = cursor.fetchone()[0]
            cursor.execute("SELECT pg_total_relation_size(%s)", [table])
            info[f"{key}_total_mb"] = round(cursor.fetchone()[0] / 2**20)
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename IN "
            "('memories_memory', 'memories_episode') ORDER BY tablename, indexname"
        )
        info["indexes"] = [row[0].split(" ON ")[1] for row in cursor.fetchall()]
    info["prepare_seconds"] = round(time.monotonic() - began, 1)
    return info


def measure_recall(sizes: tuple[int, ...], table_rows: int | None, count: int) -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catchat import embeddings
    from memories import learning
    from memories.extraction import Decision
    from memories.models import MemoryProfile
    from memories.recall import recall

    info = prepare_memories(sizes, table_rows)
    model = embeddings.model_name()
    asked = questions(count)
    embeddings.embed_query_sync("warm up")  # loads the model (~0.2 s), not part of any figure
    report: dict[str, Any] = {**info, "queries": count, "sizes": {}}
    for size in sizes:
        profile = MemoryProfile.objects.get(pk=info["profiles"][size])

        def once(text: str, profile: MemoryProfile = profile) -> tuple[float, float, int]:
            t0 = time.perf_counter()
            vector = embeddings.embed_query_sync(text)
            t1 = time.perf_counter()
            found = recall(
                profile=profile,
                query_text=text,
                query_vector=vector,
                model=model,
                limit=settings.MEMORY_RECALL_LIMIT,
                token_budget=settings.MEMORY_RECALL_TOKENS,
            )
            t2 = time.perf_counter()
            return (t1 - t0) * 1000, (t2 - t1) * 1000, len(found)

        for text in asked[:5]:  # warm: pages in cache, hint bits set
            once(text)
        embed_ms, query_ms, total_ms, found = [], [], [], []
        for text in asked:
            e, q, n = once(text)
            embed_ms.append(e)
            query_ms.append(q)
            total_ms.append(e + q)
            found.append(n)
        # What learning from each message reads (memories.learning._existing): the memories
        # a plan could repeat or replace (a known fact in another case, a new one, a slot).
        known = profile.memories.filter(status="active").values_list("text", flat=True).first()
        lookup = learning._Plan(
            decisions=[
                Decision("add", (known or "x").upper(), "other", 3, None, ""),
                Decision("add", "My new neighbour plays the tuba", "other", 3, None, ""),
                Decision("add", "I live in Oslo", "home", 3, None, ""),
            ],
            targets={},
            slots=["", "", "home"],
        )
        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            learning._existing(profile, lookup)
            loads.append((time.perf_counter() - t0) * 1000)
        report["sizes"][size] = {
            "learning_lookup_ms": round(statistics.median(loads), 1),
            "embed_ms": spread(embed_ms, 2),
            "query_ms": spread(query_ms, 2),
            "total_ms": spread(total_ms, 2),
            "memories_returned_mean": round(statistics.fmean(found), 1),
        }
    # How PostgreSQL runs the biggest profile's query.
    biggest = max(sizes)
    profile = MemoryProfile.objects.get(pk=info["profiles"][biggest])
    vector = embeddings.embed_query_sync(asked[0])
    with CaptureQueriesContext(connection) as captured:
        recall(profile=profile, query_text=asked[0], query_vector=vector, model=model)
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + captured.captured_queries[-1]["sql"])
        plan = [row[0] for row in cursor.fetchall()]
    report["plan_at"] = biggest
    report["plan"] = [
        line.strip()[:160]
        for line in plan
        if any(k in line for k in ("Scan", "Sort", "Limit", "Execution", "Planning", "Buffers"))
    ][:40]
    return report


# --- 3. SQL per chat turn ------------------------------------------------------------------------


class StatementLog:
    """Every SQL statement of any thread through Django's cursor, and psycopg's own health-check
    pings (`SELECT 1` in `is_usable`, which bypasses Django's cursor)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statements: list[str] = []
        self.health_checks = 0

    def clear(self) -> None:
        with self.lock:
            self.statements.clear()
            self.health_checks = 0

    def snapshot(self) -> tuple[list[str], int]:
        with self.lock:
            return list(self.statements), self.health_checks

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        from django.db.backends.postgresql.base import DatabaseWrapper
        from django.db.backends.utils import CursorWrapper

        original = getattr(CursorWrapper, "_execute")  # noqa: B009
        original_many = getattr(CursorWrapper, "_executemany")  # noqa: B009
        original_usable = DatabaseWrapper.is_usable
        log = self

        def _execute(self: Any, sql: str, *args: Any) -> Any:
            with log.lock:
                log.statements.append(sql)
            return original(self, sql, *args)

        def _executemany(self: Any, sql: str, *args: Any) -> Any:
            with log.lock:
                log.statements.append(sql)
            return original_many(self, sql, *args)

        def is_usable(self: Any) -> bool:
            with log.lock:
                log.health_checks += 1
            return original_usable(self)

        with (
            mock.patch.object(CursorWrapper, "_execute", _execute),
            mock.patch.object(CursorWrapper, "_executemany", _executemany),
            mock.patch.object(DatabaseWrapper, "is_usable", is_usable),
        ):
            yield


def _short(sql: str) -> str:
    """A statement's kind and main table, e.g. "SELECT cats_message"."""
    words = sql.split()
    verb = words[0].upper() if words else "?"
    table = next(
        (w.strip('"(),') for w in words if w.strip('"').startswith(("cats_", "memories_"))), ""
    )
    table = table.split('"."')[0].strip('"')
    if "FOR UPDATE" in sql:
        verb += " FOR UPDATE"
    return f"{verb} {table}".strip()


def _build_conversation(cat: Any, earlier_turns: int) -> int | None:
    """A conversation of `cat` with `earlier_turns` user/cat turns (None when 0: the turn
    measured then starts the conversation, as a first message does)."""
    from datetime import timedelta

    from django.utils import timezone

    from cats.models import Conversation, Message

    if earlier_turns == 0:
        return None
    conversation = Conversation.objects.create(cat=cat, title="Bench history")
    users = Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                role=Message.Role.USER,
                text=f"Earlier message number {i}: the weather was nice and I read a book.",
                client_id=uuid.uuid4(),
            )
            for i in range(earlier_turns)
        ],
        batch_size=1000,
    )
    cats = Message.objects.bulk_create(
        [
            Message(
                conversation=conversation,
                role=Message.Role.CAT,
                text="*purrs* Tell me more about that, human.",
                reply_to=user,
                model="offline",
            )
            for user in users
        ],
        batch_size=1000,
    )
    # Interleave them in time, as a real conversation is (bulk_create stamps them all "now").
    start = timezone.now() - timedelta(hours=1, seconds=2 * earlier_turns)
    for i, (user, reply) in enumerate(zip(users, cats, strict=True)):
        user.created_at = start + timedelta(seconds=2 * i)
        reply.created_at = start + timedelta(seconds=2 * i + 1)
    Message.objects.bulk_update([*users, *cats], ["created_at"], batch_size=1000)
    return conversation.pk


async def _turn(
    communicator: Any, text: str, conversation: int | None, log: StatementLog
) -> dict[str, Any]:
    from cats import chat

    client_id = str(uuid.uuid4())
    log.clear()
    started = time.monotonic()
    await communicator.send_json_to(
        {"type": "chat.send", "text": text, "client_id": client_id, "conversation": conversation}
    )
    message_id = reply_id = None
    frames: list[str] = []
    while True:
        frame = await communicator.receive_json_from(timeout=30)
        frames.append(frame["type"])
        if frame["type"] == "chat.accepted" and frame["client_id"] == client_id:
            message_id = frame["message"]["id"]
            conversation = frame["message"]["conversation"]
        elif frame["type"] == "chat.started" and frame["message"]["reply_to"] == message_id:
            reply_id = frame["message"]["id"]
        elif frame["type"] == "error":
            raise RuntimeError(f"turn refused: {frame}")
        elif frame["type"] == "chat.done" and frame["message"]["id"] == reply_id:
            break
    turn_ms = (time.monotonic() - started) * 1000
    statements, checks = log.snapshot()
    await chat.wait_idle()  # the reply task's last steps (nothing should run after chat.done)
    after, _ = log.snapshot()
    return {
        "statements": statements,
        "health_checks": checks,
        "statements_after_done": len(after) - len(statements),
        "turn_ms": round(turn_ms, 1),
        "message_id": message_id,
        "conversation": conversation,
        "deltas": frames.count("chat.delta"),
        "status": frame["message"]["status"],
    }


async def _learning_for(message_id: int, log: StatementLog) -> dict[str, Any]:
    """What learning from the turn's message costs: `memories.learning.process` of its job (what
    the drain the reply kicks off runs per job). The drain's claim adds 2 statements per job
    (SELECT ... FOR UPDATE SKIP LOCKED, UPDATE) and 1 empty claim at its end: not run here, as
    it would take the oldest pending job of the shared bench database, not necessarily ours."""
    from channels.db import database_sync_to_async

    from memories import learning
    from memories.models import ExtractionJob

    def own_job() -> ExtractionJob:
        return ExtractionJob.objects.select_related("message", "profile__cat").get(
            message_id=message_id
        )

    job = await database_sync_to_async(own_job)()
    log.clear()
    started = time.monotonic()
    await learning.process(job)
    statements, checks = log.snapshot()
    return {
        "measured": "learning.process of the turn's job (a drain adds its claim: 2 per job + 1)",
        "statements": len(statements),
        "health_checks": checks,
        "ms": round((time.monotonic() - started) * 1000, 1),
        "kinds": [_short(s) for s in statements],
    }


def _served_communicator() -> type:
    from asgiref.testing import ApplicationCommunicator
    from channels.testing import WebsocketCommunicator

    class ServedCommunicator(WebsocketCommunicator):
        """channels' test communicator without its test-only patch: it turns
        `close_old_connections` into a no-op while it sends or receives, which hides the health
        check each `database_sync_to_async` call brings in a served process."""

        async def send_input(self, message: Any) -> Any:
            return await ApplicationCommunicator.send_input(self, message)

        async def receive_output(self, timeout: float = 1) -> Any:
            return await ApplicationCommunicator.receive_output(self, timeout)

    return ServedCommunicator


def measure_sql(lengths: tuple[int, ...]) -> dict[str, Any]:
    return asyncio.run(_measure_sql(lengths))


async def _measure_sql(lengths: tuple[int, ...]) -> dict[str, Any]:
    from channels.db import database_sync_to_async

    from catchat.asgi import application
    from cats import chat
    from cats.models import Cat
    from memories import learning

    (session,) = await database_sync_to_async(bench_users)("sql", 1)
    _, cat_id, token = session
    cat = await database_sync_to_async(Cat.objects.get)(pk=cat_id)
    conversations = {}
    for length in lengths:
        conversations[length] = await database_sync_to_async(_build_conversation)(cat, length - 1)
    log = StatementLog()
    report: dict[str, Any] = {"lengths": {}}
    _ServedCommunicator = _served_communicator()  # noqa: N806
    text = "How was your nap today?"
    communicator = _ServedCommunicator(
        application, f"/ws/cats/{cat_id}/", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    with log.recording(), mock.patch.object(learning, "kick", lambda: None):
        connected, _ = await communicator.connect(timeout=30)
        if not connected:
            raise RuntimeError("the consumer refused the bench socket")
        hello = await communicator.receive_json_from(timeout=30)
        assert hello["type"] == "hello"  # noqa: S101
        # A first turn on a conversation of its own: caches, prepared plans, lazy imports.
        warm = await _turn(communicator, text, None, log)
        await _learning_for(warm["message_id"], log)
        for length in lengths:
            turns = []
            conversation = conversations[length]
            for _ in range(2):  # turn L, then L+1: the same count twice when it is stable
                turn = await _turn(communicator, text, conversation, log)
                conversation = turn["conversation"]
                turn["learning"] = await _learning_for(turn["message_id"], log)
                turns.append(turn)
            first = turns[0]
            report["lengths"][length] = {
                "statements": len(first["statements"]),
                "statements_next_turn": len(turns[1]["statements"]),
                "health_checks": first["health_checks"],
                "statements_after_done": first["statements_after_done"],
                "learning_statements": first["learning"]["statements"],
                "learning_health_checks": first["learning"]["health_checks"],
                "learning_measured": first["learning"]["measured"],
                "turn_ms": first["turn_ms"],
                "learning_ms": first["learning"]["ms"],
                "deltas": first["deltas"],
                "status": first["status"],
                "kinds": [_short(s) for s in first["statements"]],
                "learning_kinds": first["learning"]["kinds"],
            }
        await communicator.disconnect()
        await chat.wait_idle()
    counts = [v["statements"] for v in report["lengths"].values()]
    report["flat"] = len(set(counts)) == 1
    report["max_statements"] = max(counts)
    return report


# --- 4. REST requests per second -----------------------------------------------------------------


def measure_rest(seconds: float, concurrency: int, base_env: dict[str, str]) -> dict[str, Any]:
    sessions = bench_users("rest", concurrency)
    fake, url = start_fake_mistral(TOKENS, 0)
    try:
        env = server_env(
            base_env,
            MISTRAL_API_KEY="bench-key",
            MISTRAL_SERVER_URL=url,
            THROTTLE_CHAT="100000/min",
            CHAT_MESSAGES_PER_MINUTE="100000",
        )
        with served(env, "capacity.rest.server.log") as (server, port):
            report = asyncio.run(_hammer(port, sessions, seconds, server.pid))
    finally:
        terminate(fake, timeout=10)
    report["layer"] = "redis" if base_env.get("REDIS_URL") else "in-memory"
    report["concurrency"] = concurrency
    report["seconds"] = seconds
    return report


async def _hammer(
    port: int, sessions: list[tuple[int, int, str]], seconds: float, pid: int
) -> dict[str, Any]:
    import httpx
    import psutil

    process = psutil.Process(pid)
    concurrency = len(sessions)  # one client a user
    # Otherwise Django's logging config (root at INFO) prints every request.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    base = f"http://127.0.0.1:{port}/api/v1"

    async def run(name: str, request: Callable[[httpx.AsyncClient, int], Any]) -> dict[str, Any]:
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        failures: dict[str, int] = {}

        async def worker(client: httpx.AsyncClient, index: int, until: float) -> None:
            while time.monotonic() < until:
                started = time.monotonic()
                try:
                    response = await request(client, index)
                except httpx.HTTPError as exc:
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                    continue
                latencies.append((time.monotonic() - started) * 1000)
                key = str(response.status_code)
                statuses[key] = statuses.get(key, 0) + 1

        limits = httpx.Limits(max_connections=concurrency * 2)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            # Warm up: a few requests each, not counted.
            await asyncio.gather(
                *(worker(client, i, time.monotonic() + 0.5) for i in range(concurrency))
            )
            latencies.clear()
            statuses.clear()
            failures.clear()
            cpu_before = sum(process.cpu_times()[:2])
            began = time.monotonic()
            until = began + seconds
            await asyncio.gather(*(worker(client, i, until) for i in range(concurrency)))
            elapsed = time.monotonic() - began
            cpu = sum(process.cpu_times()[:2]) - cpu_before
        done = len(latencies)
        return {
            "requests": done,
            "requests_per_s": round(done / elapsed, 1),
            # Server CPU (user + system) over the run: near 1.0 means the server is the limit.
            "server_cpu_share": round(cpu / elapsed, 2),
            "server_cpu_ms_per_request": round(cpu * 1000 / done, 2) if done else None,
            "latency_ms": spread(latencies),
            "non_2xx": sum(n for s, n in statuses.items() if not s.startswith("2")),
            "statuses": statuses,
            "failures": failures,
            "what": name,
        }

    def headers(index: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {sessions[index][2]}"}

    async def get_state(client: httpx.AsyncClient, index: int) -> Any:
        return await client.get(f"{base}/cats/{sessions[index][1]}/state/", headers=headers(index))

    conversations: dict[int, int] = {}

    async def post_chat(client: httpx.AsyncClient, index: int) -> Any:
        body: dict[str, Any] = {
            "cat": sessions[index][1],
            "message": "How was your nap?",
            "client_id": str(uuid.uuid4()),
        }
        if index in conversations:
            body["conversation"] = conversations[index]
        response = await client.post(f"{base}/chat/", json=body, headers=headers(index))
        if response.status_code == 200:
            conversations[index] = response.json()["message"]["conversation"]
        return response

    return {
        "state": await run("GET cats/{id}/state/", get_state),
        "chat": await run("POST chat/ (JSON, 50 tokens, no delay)", post_chat),
    }


# --- the section ---------------------------------------------------------------------------------


def _setup_django() -> dict[str, str]:
    """Django in this process on the bench database (offline brain, no sweeper, in-memory layer);
    returns the environment the servers start from (REDIS_URL as given)."""
    base = dict(os.environ)
    base.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex * 2)
    os.environ.update(
        {
            **SERVED_AS_PRODUCTION,
            "SECRET_KEY": base["SECRET_KEY"],
            "MISTRAL_API_KEY": "",
            "OFFLINE_WORD_DELAY_MS": "0",
            "CHAT_SWEEP": "false",
            "CHAT_MESSAGES_PER_MINUTE": "100000",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return base


def _guarded(name: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    began = time.monotonic()
    print(f"-- capacity: {name}", file=sys.stderr, flush=True)
    try:
        result = work()
    except Exception as exc:  # one part failing must not lose the others' figures
        import traceback

        traceback.print_exc()
        return {"failed": True, "error": f"{type(exc).__name__}: {exc}"[:500]}
    result["seconds"] = round(time.monotonic() - began, 1)
    return result


def verdicts(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    sockets = report.get("sockets", {})
    level = next(
        (x for x in sockets.get("levels", []) if x["wanted"] == TARGET_SOCKETS),
        None,
    )
    out["idle_sockets"] = {
        "target": f"{TARGET_SOCKETS:,} idle sockets under {TARGET_RSS_MB} MB RSS",
        "measured": None
        if level is None
        else f"{level['open']:,} open at {level['rss_mb']} MB RSS, "
        f"{sum((sockets.get('connect_failures') or {}).values())} failed to connect",
        "met": None
        if level is None
        else level["open"] >= TARGET_SOCKETS
        and level["rss_mb"] < TARGET_RSS_MB
        and not sockets.get("connect_failures"),
    }
    size = report.get("recall", {}).get("sizes", {}).get(TARGET_RECALL_SIZE)
    out["recall"] = {
        "target": f"recall (embedding + query) <= {TARGET_RECALL_P50_MS} ms p50 at "
        f"{TARGET_RECALL_SIZE:,} facts + {EPISODES_PER_FACT * TARGET_RECALL_SIZE:,} episodes",
        "measured": None
        if size is None
        else f"{size['total_ms']['p50']} ms p50 ({size['embed_ms']['p50']} embedding + "
        f"{size['query_ms']['p50']} query)",
        "met": None if size is None else size["total_ms"]["p50"] <= TARGET_RECALL_P50_MS,
    }
    sql = report.get("sql_per_turn", {})
    out["sql_per_turn"] = {
        "target": f"<= {TARGET_SQL_PER_TURN} statements per turn, flat",
        "measured": None
        if "max_statements" not in sql
        else f"max {sql['max_statements']}, flat: {sql['flat']}",
        "met": None
        if "max_statements" not in sql
        else sql["max_statements"] <= TARGET_SQL_PER_TURN and sql["flat"],
    }
    return out


def run(smoke: bool) -> dict[str, Any]:
    """The capacity section of `make bench` (bench.run gathers the sections)."""
    sizes = SMOKE if smoke else FULL
    base_env = _setup_django()
    report: dict[str, Any] = {
        "what": "capacity",
        "smoke": smoke,
        # Everything shares this machine's cores: a high load before we start skews the figures.
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    report["sql_per_turn"] = _guarded(
        "SQL per turn", lambda: measure_sql(sizes["conversation_lengths"])
    )
    report["recall"] = _guarded(
        "recall",
        lambda: measure_recall(sizes["memory_sizes"], sizes["table_rows"], sizes["queries"]),
    )
    report["sockets"] = _guarded(
        "idle sockets", lambda: measure_sockets(sizes["sockets"], base_env)
    )
    report["rest"] = _guarded(
        "REST",
        lambda: measure_rest(sizes["rest_seconds"], sizes["rest_concurrency"], base_env),
    )
    report["targets"] = verdicts(report)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


def _socket_rows(sockets: dict[str, Any]) -> list[tuple[str, str]]:
    baseline = f"{sockets.get('rss_baseline_mb')} MB ({sockets.get('layer')} channel layer)"
    return [("server RSS, no socket", baseline)] + [
        (
            f"{level['wanted']:,} idle sockets",
            f"{level['open']:,} open, RSS {level['rss_mb']} MB, "
            f"{level['kb_per_connection']} KB each, ping p50 {level['ping_ms']['p50']} ms",
        )
        for level in sockets.get("levels", [])
    ]


def _recall_rows(recall: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        (
            f"recall, {int(size):,} facts + {EPISODES_PER_FACT * int(size):,} episodes",
            "p50/p95 ms: total {t50} / {t95} (embed {e50} / {e95}, query {q50} / {q95})".format(
                t50=figures["total_ms"]["p50"],
                t95=figures["total_ms"]["p95"],
                e50=figures["embed_ms"]["p50"],
                e95=figures["embed_ms"]["p95"],
                q50=figures["query_ms"]["p50"],
                q95=figures["query_ms"]["p95"],
            )
            + f"; learning's lookup: {figures['learning_lookup_ms']} ms",
        )
        for size, figures in recall.get("sizes", {}).items()
    ]
    if "table_rows" in recall:
        rows.append(("memories in the table", f"{recall['table_rows']:,}"))
    if "episodes_table_rows" in recall:
        rows.append(("episodes in the table", f"{recall['episodes_table_rows']:,}"))
    return rows


def _sql_rows(sql: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f"SQL per turn, turn {int(length):,}",
            f"{figures['statements']} statements (+{figures['health_checks']} health checks); "
            f"learning after it {figures['learning_statements']} "
            f"(+{figures['learning_health_checks']})",
        )
        for length, figures in sql.get("lengths", {}).items()
    ]


def _rest_rows(rest: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            f["what"],
            f"{f['requests_per_s']} req/s, p50 {f['latency_ms']['p50']} / p99 "
            f"{f['latency_ms']['p99']} ms, non-2xx {f['non_2xx']}, server CPU "
            f"{f['server_cpu_ms_per_request']} ms/request ({f['server_cpu_share']} of a core)",
        )
        for f in (rest[key] for key in ("state", "chat") if key in rest)
    ]


# The report's parts: their key, their name in the table, their rows when they did not crash.
PARTS: tuple[tuple[str, str, Callable[[dict[str, Any]], list[tuple[str, str]]]], ...] = (
    ("sockets", "idle sockets", _socket_rows),
    ("recall", "recall", _recall_rows),
    ("sql_per_turn", "SQL per turn", _sql_rows),
    ("rest", "REST", _rest_rows),
)


def failed(report: dict[str, Any]) -> bool:
    """Only a crash fails capacity: a part that raised. Its targets are figures to read."""
    return any(report.get(key, {}).get("failed") for key, _, _ in PARTS)


def _verdict(v: dict[str, Any]) -> str:
    met = "not measured" if v["met"] is None else ("MET" if v["met"] else "NOT MET")
    return f"{met}: {v['measured'] or '-'} (target {v['target']})"


def table(report: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, name, part_rows in PARTS:
        part = report.get(key, {})
        rows += [(name, f"FAILED: {part['error']}")] if part.get("failed") else part_rows(part)
    rows.append(
        (
            "load average start / end",
            f"{report.get('load_average_at_start')} / {report.get('load_average_at_end')} "
            f"({report.get('cpus')} CPUs)",
        )
    )
    rows += [
        (f"target: {name}", _verdict(verdict))
        for name, verdict in report.get("targets", {}).items()
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it works")
    parser.add_argument("--out", default=str(RESULTS / "capacity.json"))
    args = parser.parse_args(argv)
    report = run(args.smoke)
    save_and_print(report, args.out, table(report))
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
