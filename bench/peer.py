"""Beside Open WebUI: CatChat and the chat server people already run, on this machine, in one run,
under the same pinning and the same kind of load.

    python -m bench.peer            # both sides (~6 minutes on 2 cores, +3 the first time)
    python -m bench.peer --smoke    # CatChat's side at tiny sizes, pinned the same; no peer
    python -m bench.peer --no-peer  # CatChat's side only, full sizes

**The peer**: Open WebUI (`open-webui` from PyPI), run by the harness of ../shared/peers
(`openwebui_bench.sh`, run from there, never copied here). It builds its venv the first time
(when that fails, for want of the package registry, this section says so and skips the peer),
runs offline in a loopback-only network namespace, Open WebUI pinned to CPU 0, its fake
OpenAI-compatible model (50 tokens, no delay) and its load clients pinned to CPU 1, and
measures its web UI's path (`ui_path`: one user and one socket.io connection per client, each
message a new saved chat, the deltas pushed as socket.io events) at 1, 10 and 50 concurrent
conversations, closed loop, 3 runs of 100 messages per level (the median of the runs' figures).

**CatChat, the same way**: `python -m catchat.serve` (what `make run` runs: daphne, DEBUG off,
the in-memory channel layer as Open WebUI's in-process socket.io) pinned to CPU 0; the fake
Mistral (50 tokens, no delay) and the WebSocket load generator (this process) pinned to CPU 1;
each conversation one user, one cat, one tab, sending its next message when the reply is done
(bench.chat's clients), 15 s a level. Each cat knows 20 facts and 8 earlier messages of its
human (episodes, embedded as learning embeds them), so every turn recalls facts and episodes.
PostgreSQL and Redis are not pinned (services of the machine): their CPU is reported beside
the server's, as is the load generator's and the fake's. The fake counts the model calls: chat
streams, JSON-mode calls (learning), embeddings.

**Two processes against one** at 50 conversations, on channels_redis: `make run` (one daphne
process), gunicorn with one uvicorn worker (the server `make run WORKERS=N` runs, one process),
and `make run WORKERS=2` (gunicorn, two uvicorn workers, one pinned to each core); the load
generator and the fake stay on CPU 1 in all three, and every process's CPU is reported.

Targets (issue 13), reported met / not met, never asserted: first token p50 <= 1/3 of Open
WebUI's at 1, 10 and 50 conversations, p99 <= 1/3 at 50; turns/s >= 5x Open WebUI's at 10 and
50 with 0 lost turns and 0 delta gaps; two processes >= 1.7x the turns of one at 50.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import chat
from bench.common import (
    RESULTS,
    ROOT,
    cpu_seconds,
    free_port,
    pin,
    pinned,
    save_and_print,
    serve_as_production,
    terminate,
    wait_healthy,
)

SERVER_CPU = 0
CLIENT_CPU = 1  # the load generator and the fake model, on both sides
TOKENS = 50
PEER_DIR = ROOT.parent / "shared" / "peers"
PEER_SCRIPT = PEER_DIR / "openwebui_bench.sh"
# The peer's whole run (its venv built the first time included) is stopped after this long.
PEER_TIMEOUT_S = float(os.environ.get("BENCH_PEER_TIMEOUT_S") or 600)
# Which of the peer's paths: ui (the web UI's: what CatChat does), api (SSE, nothing saved), both.
PEER_MODE = os.environ.get("BENCH_PEER_MODE") or "ui"
PEER_MINUTES = "~2"  # its run with MODE=ui once its venv exists (+~3 the first time)

FULL: dict[str, Any] = {
    "levels": (1, 10, 50),
    "scale_level": 50,
    "seconds": 15.0,
    "warmup": 3.0,
    "episodes_per_cat": 8,
    "learn_for": 60.0,  # after the last level (learning batches after a pause: 20 s default)
}
SMOKE: dict[str, Any] = {
    "levels": (1, 2),
    "scale_level": 2,
    "seconds": 2.0,
    "warmup": 1.0,
    "episodes_per_cat": 2,
    "learn_for": 5.0,
}
# What each bench cat's human said before (a conversation imported before the run), with the
# cat's answer: recalled as episodes.
EPISODES = (
    ("I fell asleep on the sofa again after lunch.", "Mrrp. I slept on your feet the whole time."),
    ("Lea came over and we baked bread all afternoon.", "The kitchen smelled of warm crumbs."),
    ("A robin sat on the new bird feeder this morning.", "I watched it from the window for ages."),
    ("I forgot to buy your food, so we both had tuna.", "Tuna is always forgiven."),
    ("My night shift was long and the ward was full.", "I kept your pillow warm for you."),
    ("Noor and I went running by the river on Tuesday.", "You came back smelling of mud."),
    ("I practised the guitar for an hour, badly.", "I hid under the bed, politely."),
    ("It rained all day and I read a detective novel.", "Perfect weather for a long nap."),
)
# One process against two (all on channels_redis): key, what, worker processes, how started.
SCALE_VARIANTS = (
    ("one_daphne", "make run (WORKERS=1): one daphne process", 1, "serve"),
    ("one_uvicorn", "gunicorn + 1 uvicorn worker (WORKERS=N's server, one process)", 1, "gunicorn"),
    ("two_uvicorn", "make run WORKERS=2: gunicorn + 2 uvicorn workers, one per core", 2, "serve"),
)


# --- the fake model, counting its calls ------------------------------------------------------


def serve_counting_fake(tokens: int) -> None:
    """The fake Mistral server (as bench.fake_server: `tokens` tokens, no delay) that also counts
    what it is asked. Prints its URL; then each line `stats` on stdin is answered with one JSON
    line of counters since it started: chat streams, JSON-mode chat calls (learning), other chat
    calls, embeddings, anything else. Ends with stdin or SIGTERM."""
    from catchat.testing.fake_mistral import FakeMistral, Reply

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    counts = {"chat_stream": 0, "chat_json": 0, "chat_other": 0, "embeddings": 0, "other": 0}
    seen = 0
    with FakeMistral() as fake:
        fake.default = Reply(tokens=[f"w{i} " for i in range(tokens)], delay=0)
        print(fake.url, flush=True)
        for line in sys.stdin:
            if line.strip() != "stats":
                continue
            new = fake.requests[seen:]  # appended by the server's threads; a slice is atomic
            seen += len(new)
            for request in new:
                raw = request.get("body")
                body: dict[str, Any] = raw if isinstance(raw, dict) else {}
                if request.get("path") == "/v1/chat/completions":
                    if body.get("response_format"):
                        counts["chat_json"] += 1
                    elif body.get("stream"):
                        counts["chat_stream"] += 1
                    else:
                        counts["chat_other"] += 1
                elif request.get("path") == "/v1/embeddings":
                    counts["embeddings"] += 1
                else:
                    counts["other"] += 1
                request["body"] = None  # counted: its memory is not needed
            print(json.dumps(counts), flush=True)


class CountingFake:
    """`serve_counting_fake` in a process of its own, on `cpus`."""

    def __init__(self, tokens: int, cpus: set[int]) -> None:
        code = f"from bench.peer import serve_counting_fake; serve_counting_fake({tokens})"
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            pinned([sys.executable, "-c", code], cpus),
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None  # noqa: S101 - stdout=PIPE
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            raise RuntimeError(f"the fake model did not start (exit {self.process.poll()})")
        self.lock = threading.Lock()

    def stats(self) -> dict[str, int]:
        with self.lock:
            assert self.process.stdin is not None and self.process.stdout is not None  # noqa: S101
            self.process.stdin.write("stats\n")
            self.process.stdin.flush()
            counts: dict[str, int] = json.loads(self.process.stdout.readline())
            return counts


def model_calls(before: dict[str, int], after: dict[str, int], messages: int) -> dict[str, Any]:
    calls = {key: after[key] - before.get(key, 0) for key in after}
    chat_calls = calls["chat_stream"] + calls["chat_json"] + calls["chat_other"]
    return {
        "user_messages": messages,
        **calls,
        "chat_calls_per_message": round(chat_calls / messages, 3) if messages else None,
        "streams_per_message": round(calls["chat_stream"] / messages, 3) if messages else None,
        "json_calls_per_message": round(calls["chat_json"] / messages, 3) if messages else None,
    }


# --- CPU of every process a run involves -----------------------------------------------------


def postgres_cpu_seconds() -> float | None:
    """CPU seconds of the embedded PostgreSQL: the postmaster, its live processes and the ones
    that exited (the whole server: other databases' work on it counts too). None when the
    database is not the embedded one or cannot be read."""
    import psutil

    if os.environ.get("DATABASE_URL"):
        return None
    try:
        pid = int((ROOT / "var" / "pgdata" / "postmaster.pid").read_text().split()[0])
        master = psutil.Process(pid)
        times = master.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in master.children():
            try:
                part = child.cpu_times()
            except psutil.Error:
                continue  # exited meanwhile: counted in the postmaster's children once reaped
            total += part.user + part.system
        return total
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def redis_cpu_seconds(url: str) -> float | None:
    try:
        import redis

        info = redis.Redis.from_url(url, socket_timeout=2).info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    except Exception:
        return None


def machine_cpu_seconds() -> dict[str, float]:
    """Busy CPU seconds of the whole machine and of each CPU (`/proc/stat`: all but idle and
    iowait), to tell what else ran meanwhile."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    with open("/proc/stat") as stat:
        for line in stat:
            if not line.startswith("cpu"):
                break
            name, *fields = line.split()
            user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
            busy = (user + nice + system + irq + softirq + steal) / tick
            out["machine" if name == "cpu" else f"cpu{name[3:]}_busy"] = busy
    return out


class Meter:
    """CPU seconds of named processes (all threads), this process (the load generator), the
    embedded PostgreSQL, (with `redis_url`) Redis, and the machine and each of its CPUs, read
    before and after a run."""

    def __init__(self, pids: dict[str, int], redis_url: str | None = None) -> None:
        self.pids = pids
        self.redis_url = redis_url

    def read(self) -> dict[str, float | None]:
        out = {name: cpu_seconds(pid, children=True) for name, pid in self.pids.items()}
        out["load_generator"] = cpu_seconds(os.getpid())
        out["postgres"] = postgres_cpu_seconds()
        if self.redis_url:
            out["redis"] = redis_cpu_seconds(self.redis_url)
        out |= machine_cpu_seconds()
        return out


def usage(
    before: dict[str, float | None], after: dict[str, float | None], turns: int, elapsed: float
) -> dict[str, dict[str, float | None]]:
    """Per process: CPU seconds, ms per complete turn, cores busy on average; and the machine's
    busy time, each CPU's, and what processes other than these used (`other_processes`: other
    work on the machine, which makes the figures less clean)."""
    spent: dict[str, float | None] = {}
    for name, end in after.items():
        start = before.get(name)
        spent[name] = None if start is None or end is None else end - start
    if spent.get("machine") is not None:
        ours = sum(
            value or 0.0
            for name, value in spent.items()
            if name != "machine" and not name.endswith("_busy")
        )
        spent["other_processes"] = max(0.0, (spent["machine"] or 0.0) - ours)
    return {
        name: {
            "cpu_s": None if value is None else round(value, 2),
            "ms_per_turn": round(value * 1000 / turns, 1) if value is not None and turns else None,
            "cores": round(value / elapsed, 2) if value is not None and elapsed else None,
        }
        for name, value in spent.items()
    }


# --- CatChat's side ----------------------------------------------------------------------------


def seed_episodes(sessions: list[chat.Session], per_cat: int) -> dict[str, Any]:
    """Give each session's cat `per_cat` earlier messages of its human (EPISODES), imported as
    one conversation and embedded as learning would, their learning jobs dropped (the server
    would otherwise work through them while the bench measures)."""
    from django.utils import timezone

    from catchat import embeddings
    from cats.models import Cat
    from cats.services.imports import ImportSession, ImportTurn, conversations_import
    from memories.episodes import passage
    from memories.models import Episode, ExtractionJob

    began = time.monotonic()
    cat_ids = [s.cat_id for s in sessions]
    turns: list[ImportTurn] = []
    for said, answer in EPISODES[:per_cat]:
        turns += [ImportTurn(role="user", text=said), ImportTurn(role="cat", text=answer)]
    started = timezone.now() - timedelta(days=2)
    for cat in Cat.objects.filter(pk__in=cat_ids):
        conversations_import(
            cat=cat, sessions=[ImportSession(id="bench-peer", started_at=started, turns=turns)]
        )
    dropped = ExtractionJob.objects.filter(
        profile__cat_id__in=cat_ids,
        status__in=[ExtractionJob.Status.PENDING, ExtractionJob.Status.RUNNING],
    ).update(status=ExtractionJob.Status.FAILED, error="bench.peer: seeded, embedded by the bench")
    pending = list(
        Episode.objects.filter(profile__cat_id__in=cat_ids, embedding__isnull=True).select_related(
            "profile__cat"
        )
    )
    model = embeddings.model_name()
    for start in range(0, len(pending), 64):
        batch = pending[start : start + 64]
        vectors = embeddings.embed_passages_sync(
            [passage(e.profile.cat.name, e.text, e.before, e.after) for e in batch]
        )
        for episode, vector in zip(batch, vectors, strict=True):
            episode.embedding = vector
            episode.embedding_model = model
    Episode.objects.bulk_update(pending, ["embedding", "embedding_model"], batch_size=200)
    return {
        "episodes_per_cat": per_cat,
        "episodes_embedded": len(pending),
        "learning_jobs_dropped": dropped,
        "seconds": round(time.monotonic() - began, 1),
    }


def _level(
    port: int,
    sessions: list[chat.Session],
    seconds: float,
    meter: Meter,
    fake: CountingFake,
    *,
    connections_of: list[int] | None = None,
    learn_for: float = 0.0,
) -> dict[str, Any]:
    """One level: the conversations for `seconds`, the CPU of every process meanwhile, then the
    server left to finish its learning (chat.settle: what it has not done when it stops making
    progress is dropped) and the model calls the level made. With `learn_for`, the server is
    first given up to that many seconds to learn from every message of the level (learning
    may wait for a pause in the conversation to batch them), so that the calls per message
    include all of learning's."""
    ours = [session.cat_id for session in sessions]
    learned_before = learned(ours)
    calls_before = fake.stats()
    sampler = ConnectionSampler(connections_of, port, len(sessions)) if connections_of else None
    cpu_before = meter.read()
    tallies, elapsed, failures, _ = asyncio.run(
        chat.level_run([port], sessions, seconds, product=True)
    )
    cpu_after = meter.read()
    (tally,) = tallies
    entry: dict[str, Any] = {"conversations": len(sessions), "elapsed_s": round(elapsed, 2)}
    entry |= chat.summary(tally, elapsed)
    entry["saved_in_db"] = chat.saved(tally.client_ids)
    entry["client_failures"] = failures[:5]
    entry["cpu"] = usage(cpu_before, cpu_after, tally.complete, elapsed)
    if sampler is not None:
        entry["connections_per_process"] = sampler.stop()
    entry["extraction_backlog_at_end"] = chat.extraction_backlog(ours)
    # Jobs of other cats pending now: another bench is using the database (and the machine).
    entry["other_runs_jobs_pending"] = (
        chat.extraction_backlog() - entry["extraction_backlog_at_end"]
    )
    if learn_for:
        began = time.monotonic()
        while chat.extraction_backlog(ours) and time.monotonic() - began < learn_for:
            time.sleep(0.5)
        entry["waited_for_learning_s"] = round(time.monotonic() - began, 1)
    entry["settled_after"] = chat.settle(cat_ids=ours)
    entry["model_calls"] = model_calls(calls_before, fake.stats(), tally.sent)
    # Learning may wait to batch a profile's messages: the calls it made, per message it learned
    # from before the jobs left were dropped.
    done = learned(ours) - learned_before
    entry["model_calls"]["messages_learned"] = done
    entry["model_calls"]["json_calls_per_learned_message"] = (
        round(entry["model_calls"]["chat_json"] / done, 3) if done else None
    )
    return entry


def learned(cat_ids: list[int]) -> int:
    """Learning jobs of these cats done (their messages learned from)."""
    from memories.models import ExtractionJob

    return ExtractionJob.objects.filter(
        profile__cat_id__in=cat_ids, status=ExtractionJob.Status.DONE
    ).count()


class ConnectionSampler:
    """The WebSocket connections each of `pids` holds on `port` while a level runs (the most
    seen at once): how the kernel spread the tabs over the worker processes."""

    def __init__(self, pids: list[int], port: int, expected: int) -> None:
        self.pids, self.port, self.expected = pids, port, expected
        self.best: list[int] = [0] * len(pids)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import psutil

        while not self.done.wait(0.5):
            counts = []
            for pid in self.pids:
                try:
                    connections = psutil.Process(pid).net_connections(kind="tcp")
                except psutil.Error:
                    connections = []
                counts.append(
                    sum(
                        1
                        for c in connections
                        if c.status == psutil.CONN_ESTABLISHED
                        and c.laddr
                        and c.laddr.port == self.port
                    )
                )
            if sum(counts) > sum(self.best):
                self.best = counts
            if sum(self.best) >= self.expected:
                return

    def stop(self) -> list[int]:
        self.done.set()
        self.thread.join(timeout=5)
        return self.best


def catchat_side(sizes: dict[str, Any], seconds: float) -> dict[str, Any]:
    """CatChat at each level (one process, in-memory layer), then one process against two."""
    levels: tuple[int, ...] = sizes["levels"]
    scale_level: int = sizes["scale_level"]
    warmup = float(sizes["warmup"])
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    serve_as_production()
    os.environ["CHAT_MESSAGES_PER_MINUTE"] = "1000000"  # turns back to back
    os.environ["MISTRAL_API_KEY"] = "bench-key"
    os.environ.pop("REDIS_URL", None)  # the single server: the in-memory layer
    everywhere = os.sched_getaffinity(0)
    side: dict[str, Any] = {
        "server": "catchat.serve WORKERS=1 (daphne), DEBUG=false, in-memory channel layer",
        "server_cpu": SERVER_CPU,
        "fake_model_and_load_generator_cpu": CLIENT_CPU,
        "not_pinned": "PostgreSQL (embedded) and Redis: services of the machine",
        "tokens_per_reply": TOKENS,
        "token_delay_ms": 0,
        "memories_per_cat": chat.MEMORIES_PER_CAT,
        "seconds_per_level": seconds,
        "turn_timeout_s": chat.TURN_TIMEOUT_S,
    }
    processes = chat.Processes()
    try:
        fake = CountingFake(TOKENS, {CLIENT_CPU})
        processes.adopt(fake.process)
        os.environ["MISTRAL_SERVER_URL"] = fake.url

        import django

        django.setup()

        began = time.monotonic()
        # Jobs left pending by an earlier bench are dropped, not those of one running now.
        sessions, stale = chat.prepare(max(*levels, scale_level), stale_after_s=120)
        ours = [session.cat_id for session in sessions]
        side["prepare_s"] = round(time.monotonic() - began, 1)
        side["stale_extraction_jobs_dropped"] = stale
        side["seeded"] = seed_episodes(sessions, int(sizes["episodes_per_cat"]))

        server_env = {
            **os.environ,
            "WORKERS": "1",
            "HOST": "127.0.0.1",
            "LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING"),
        }
        port = free_port()
        server = processes.start(
            [sys.executable, "-m", "catchat.serve"],
            env={**server_env, "PORT": str(port)},
            log=RESULTS / "peer.server.log",
            cpus={SERVER_CPU},
        )
        wait_healthy(port, server)
        # From here this process is the load generator: on the client's core, all its threads.
        pin(os.getpid(), {CLIENT_CPU})
        side["affinity"] = {
            "server": sorted(os.sched_getaffinity(server.pid)),
            "fake_model": sorted(os.sched_getaffinity(fake.process.pid)),
            "load_generator": sorted(os.sched_getaffinity(0)),
        }
        # Warm up (not counted): the embedder loads on the first turn, connections open.
        asyncio.run(chat.level_run([port], sessions[:1], warmup, product=True))
        side["settled_before"] = chat.settle(cat_ids=ours)
        meter = Meter({"server": server.pid, "fake_model": fake.process.pid})
        side["levels"] = {}
        for level in levels:
            # After the last level the server may learn from all its messages: model calls.
            learn_for = float(sizes["learn_for"]) if level == levels[-1] else 0.0
            side["levels"][str(level)] = _level(
                port, sessions[:level], seconds, meter, fake, learn_for=learn_for
            )
        processes.stop(server)

        if chat.redis_answers(redis_url):
            side["scaling"] = _scaling(
                processes, server_env, redis_url, sessions[:scale_level], seconds, warmup, fake
            )
        else:
            side["scaling"] = {"skipped": f"no Redis at {redis_url}"}
    finally:
        processes.stop_all()
        pin(os.getpid(), everywhere)
    levels_run = side.get("levels", {})
    if levels_run:
        # The level after which learning could finish: its calls per message are learning's all.
        last = levels_run[str(levels[-1])]
        side["model_calls"] = {
            "level": levels[-1],
            **last["model_calls"],
            "waited_for_learning_s": last.get("waited_for_learning_s"),
            "learning_jobs_dropped": last["settled_after"]["extraction_jobs_dropped"],
        }
    return side


def _workers(
    server: subprocess.Popen[Any], count: int, timeout: float = 90
) -> tuple[int, list[int]]:
    """(the gunicorn master's pid, its workers' pids) under `server`; for daphne (count 1, no
    gunicorn) the server itself is both."""
    import psutil

    def gunicorn(process: psutil.Process) -> bool:
        try:
            return any("gunicorn" in part for part in process.cmdline())
        except psutil.Error:
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        top = psutil.Process(server.pid)
        family = [top, *top.children(recursive=True)]
        ours = {p.pid for p in family if gunicorn(p)}
        masters = [p for p in family if p.pid in ours and p.ppid() not in ours]
        if not masters:
            if len(family) == 1 and count == 1:
                return server.pid, [server.pid]
        else:
            children = masters[0].children()
            if len(children) >= count:
                return masters[0].pid, sorted(c.pid for c in children)[:count]
        time.sleep(0.3)
    raise RuntimeError(f"{count} worker processes did not start within {timeout:g} s")


def _scaling(
    processes: chat.Processes,
    server_env: dict[str, str],
    redis_url: str,
    sessions: list[chat.Session],
    seconds: float,
    warmup: float,
    fake: CountingFake,
) -> dict[str, Any]:
    from catchat import serve
    from catchat.embedded_db import WORKER_ENV

    level = len(sessions)
    env = {**server_env, "REDIS_URL": redis_url}
    result: dict[str, Any] = {
        "conversations": level,
        "channel_layer": "channels_redis",
        "pinning": (
            f"one process: CPU {SERVER_CPU}; two: one worker on each of CPU {SERVER_CPU} and "
            f"{CLIENT_CPU}; the gunicorn master on CPU {SERVER_CPU}; the load generator and the "
            f"fake model on CPU {CLIENT_CPU} in every case"
        ),
    }
    for key, what, count, how in SCALE_VARIANTS:
        port = free_port()
        if how == "gunicorn":
            command = serve.gunicorn_command(host="127.0.0.1", port=port, count=count, grace=10)
            # As `catchat.serve` runs it (it has migrated already: the bench's prepare did).
            variant_env = {**env, WORKER_ENV: "1", "OMP_NUM_THREADS": "1"}
        else:
            command = [sys.executable, "-m", "catchat.serve"]
            variant_env = {**env, "WORKERS": str(count), "PORT": str(port)}
        server = processes.start(
            command, env=variant_env, log=RESULTS / f"peer.{key}.log", cpus={SERVER_CPU}
        )
        try:
            wait_healthy(port, server)
            master, workers = _workers(server, count)
            cores = [SERVER_CPU, CLIENT_CPU]
            for index, worker in enumerate(workers):
                pin(worker, {cores[index % 2]} if count > 1 else {SERVER_CPU})
            # Warm up every worker (the embedder loads on a process's first turn).
            asyncio.run(chat.level_run([port], sessions, warmup, product=True))
            chat.settle(cat_ids=[session.cat_id for session in sessions])
            names = {f"worker_{i}": pid for i, pid in enumerate(workers)}
            if master not in workers:
                names["gunicorn_master"] = master
            names["fake_model"] = fake.process.pid
            meter = Meter(names, redis_url)
            entry = _level(port, sessions, seconds, meter, fake, connections_of=workers)
            entry["what"] = what
            entry["affinity"] = {
                name: sorted(os.sched_getaffinity(pid)) for name, pid in names.items()
            }
            entry["workers_alive_at_end"] = [pid for pid in workers if _alive(pid)]
            result[key] = entry
        except Exception as exc:  # the other variants and the peer still run
            result[key] = {"what": what, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            processes.stop(server)

    def turns(key: str) -> float | None:
        value = result[key].get("turns_per_s")
        return float(value) if value is not None else None

    result["ratio_two_to_one"] = _ratio(turns("two_uvicorn"), turns("one_daphne"), 2)
    result["ratio_two_to_one_uvicorn"] = _ratio(turns("two_uvicorn"), turns("one_uvicorn"), 2)
    return result


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


# --- the peer ----------------------------------------------------------------------------------


def peer_side(levels: tuple[int, ...]) -> dict[str, Any]:
    """Run the peer harness (MODE=ui by default, its venv built if missing) and return its JSON,
    or `{"skipped": why}`: the peer missing or failing never fails the bench."""
    if not PEER_SCRIPT.exists():
        return {"skipped": f"the peer harness is not on this machine ({PEER_SCRIPT})"}
    log = RESULTS / "peer.openwebui.log"
    peerlab = Path(os.environ.get("PEERLAB") or "/tmp/peerlab")  # noqa: S108 - the harness's default
    first_time = not (peerlab / "venv" / "bin" / "open-webui").exists()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SECRET_KEY"}
        and not key.startswith(("MISTRAL_", "CHAT_", "EMBEDDED_", "BENCH_"))
    }
    env |= {
        "MODE": PEER_MODE,
        "LEVELS": ",".join(str(level) for level in levels),
        "SERVER_CPU": str(SERVER_CPU),
        "CLIENT_CPU": str(CLIENT_CPU),
        "TOKENS": str(TOKENS),
        "RESTART_CHECK": "0",
    }
    began = time.monotonic()
    with log.open("w") as err:
        process = subprocess.Popen(  # noqa: S603 - the peer harness, a file of this machine
            [shutil.which("bash") or "/bin/bash", str(PEER_SCRIPT)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = process.communicate(timeout=PEER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            # Its `timeout` forwards SIGTERM to the run, whose trap stops what it started.
            terminate(process, timeout=45)
            with contextlib.suppress(ProcessLookupError):  # what it left (a pip install)
                os.killpg(process.pid, signal.SIGTERM)
            return {
                "skipped": f"the peer did not finish within {PEER_TIMEOUT_S:g} s "
                f"(BENCH_PEER_TIMEOUT_S; log: {log.relative_to(ROOT)})",
                "seconds": round(time.monotonic() - began, 1),
            }
    seconds = round(time.monotonic() - began, 1)
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-3:]
    if process.returncode != 0:
        install = first_time and not (peerlab / "venv" / "bin" / "open-webui").exists()
        why = (
            "Open WebUI could not be installed (no package registry?)"
            if install or "install failed" in " ".join(tail)
            else f"the peer harness exited with {process.returncode}"
        )
        return {
            "skipped": f"{why}: {tail[-1] if tail else 'no output'} (log: {log.relative_to(ROOT)})",
            "seconds": seconds,
        }
    lines = [line for line in out.splitlines() if line.startswith("{")]
    try:
        report: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return {"skipped": "the peer harness printed no JSON report", "seconds": seconds}
    report["seconds"] = seconds
    report["venv_built_this_run"] = first_time
    report["mode"] = PEER_MODE
    return report


# --- the run -----------------------------------------------------------------------------------


def run(smoke: bool) -> dict[str, Any]:
    """The peer section of the report (`bench.run` gathers the sections)."""
    return measure(smoke=smoke)


def measure(*, smoke: bool, peer: bool = True, seconds: float | None = None) -> dict[str, Any]:
    sizes = SMOKE if smoke else FULL
    levels: tuple[int, ...] = sizes["levels"]
    seconds = float(seconds if seconds is not None else sizes["seconds"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "what": "CatChat beside Open WebUI: same machine, same run, same pinning and load",
        "smoke": smoke,
        "levels": list(levels),
        "pinning": {"server_cpu": SERVER_CPU, "fake_model_and_load_generator_cpu": CLIENT_CPU},
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": list(os.getloadavg())},
    }
    if not {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0):
        reason = f"needs CPUs {SERVER_CPU} and {CLIENT_CPU} (has {sorted(os.sched_getaffinity(0))})"
        report["catchat"] = {"skipped": reason}
        report["peer"] = {"skipped": reason}
    else:
        began = time.monotonic()
        try:
            report["catchat"] = catchat_side(sizes, seconds)
        except Exception as exc:  # reported (and failing the section); the peer still runs
            tail = traceback.format_exc().strip().splitlines()[-6:]
            report["catchat"] = {"error": f"{type(exc).__name__}: {exc}", "traceback": tail}
        report["catchat"]["seconds"] = round(time.monotonic() - began, 1)
        report["machine"]["loadavg_after_catchat"] = list(os.getloadavg())
        if smoke:
            report["peer"] = {
                "skipped": f"smoke: the peer takes {PEER_MINUTES} minutes; run "
                '`make bench BENCH_ARGS="--only peer"`'
            }
        elif not peer:
            report["peer"] = {"skipped": "--no-peer"}
        else:
            report["peer"] = peer_side(levels)
        report["machine"]["loadavg_at_end"] = list(os.getloadavg())
    report["comparison"] = compare(report)
    report["targets"] = targets(report)
    side = report.get("catchat", {})
    entries = [
        *side.get("levels", {}).values(),
        *(v for v in side.get("scaling", {}).values() if isinstance(v, dict) and "cpu" in v),
    ]
    warnings = []
    others = max((e.get("other_runs_jobs_pending", 0) for e in entries), default=0)
    if others:
        warnings.append(
            f"another run used the bench database meanwhile ({others} learning jobs of other cats)"
        )
    busy = max(
        (e["cpu"].get("other_processes", {}).get("cores") or 0.0 for e in entries), default=0.0
    )
    if busy > 0.2:
        warnings.append(f"other processes kept up to {busy:.2f} cores busy during a level")
    if warnings:
        report["warning"] = "; ".join(warnings) + ": the machine was shared, figures not clean"
    return report


def _ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    return round(a / b, digits) if a is not None and b else None


def compare(report: dict[str, Any]) -> dict[str, Any]:
    """Per level: CatChat's figure over Open WebUI's (web UI path), where both were measured."""
    ours = report.get("catchat", {}).get("levels", {})
    theirs = report.get("peer", {}).get("ui_path", {}).get("levels", {})
    out: dict[str, Any] = {}
    for key, mine in ours.items():
        peer = theirs.get(key)
        if not peer:
            continue
        owui = peer["openwebui"]
        out[key] = {
            "ttft_p50_ratio": _ratio(mine["ttft_ms"]["p50"], owui.get("ttft_p50_ms")),
            "ttft_p99_ratio": _ratio(mine["ttft_ms"]["p99"], owui.get("ttft_p99_ms")),
            "full_reply_p50_ratio": _ratio(mine["turn_ms"]["p50"], owui.get("full_p50_ms")),
            "full_reply_p99_ratio": _ratio(mine["turn_ms"]["p99"], owui.get("full_p99_ms")),
            "turns_per_s_ratio": _ratio(mine["turns_per_s"], owui.get("replies_per_s")),
            "server_cpu_per_turn_ratio": _ratio(
                mine["cpu"]["server"]["ms_per_turn"], peer.get("server_cpu_ms_per_reply")
            ),
        }
    return out


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "not met")


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each met / not met / not measured (never asserted)."""
    ours = report.get("catchat", {}).get("levels", {})
    theirs = report.get("peer", {}).get("ui_path", {}).get("levels", {})
    compared = report.get("comparison", {})
    why = report.get("peer", {}).get("skipped") or "a level not run"
    rows: list[dict[str, Any]] = []

    def row(name: str, value: str | None, ok: bool | None, reason: str = why) -> None:
        entry: dict[str, Any] = {"target": name, "value": value, "verdict": _verdict(ok)}
        if ok is None:
            entry["why"] = reason
        rows.append(entry)

    for level in (1, 10, 50):
        key = str(level)
        ratio = compared.get(key, {}).get("ttft_p50_ratio")
        value = None
        if ratio is not None:
            value = (
                f"{ours[key]['ttft_ms']['p50']} vs {theirs[key]['openwebui']['ttft_p50_ms']:.1f} ms"
                f" ({ratio:.2f}x)"
            )
        row(
            f"first token p50 <= 1/3 of Open WebUI's at {level} conversations",
            value,
            None if ratio is None else ratio <= 1 / 3,
        )
    ratio = compared.get("50", {}).get("ttft_p99_ratio")
    row(
        "first token p99 <= 1/3 of Open WebUI's at 50 conversations",
        None
        if ratio is None
        else f"{ours['50']['ttft_ms']['p99']} vs {theirs['50']['openwebui']['ttft_p99_ms']:.1f} ms "
        f"({ratio:.2f}x)",
        None if ratio is None else ratio <= 1 / 3,
    )
    for level in (10, 50):
        key = str(level)
        ratio = compared.get(key, {}).get("turns_per_s_ratio")
        value, ok = None, None
        if ratio is not None:
            mine = ours[key]
            clean = not (mine["lost"] or mine["delta_gaps"] or mine["client_failures"])
            value = (
                f"{mine['turns_per_s']} vs {theirs[key]['openwebui']['replies_per_s']:.1f} turns/s "
                f"({ratio:.1f}x), lost {mine['lost']}, gaps {mine['delta_gaps']}"
            )
            ok = ratio >= 5 and clean
        row(f"turns/s >= 5x Open WebUI's at {level}, 0 lost, 0 gaps", value, ok)
    scaling = report.get("catchat", {}).get("scaling", {})
    ratio = scaling.get("ratio_two_to_one")
    value, ok = None, None
    if ratio is not None:
        two, one = scaling["two_uvicorn"], scaling["one_daphne"]
        lost = two["lost"] + one["lost"]
        gaps = two["delta_gaps"] + one["delta_gaps"]
        value = (
            f"{two['turns_per_s']} vs {one['turns_per_s']} turns/s ({ratio:.2f}x; vs one uvicorn "
            f"worker {scaling['one_uvicorn'].get('turns_per_s')}: "
            f"{scaling.get('ratio_two_to_one_uvicorn')}x), lost {lost}, gaps {gaps}"
        )
        ok = ratio >= 1.7 and not (lost or gaps)  # a ratio of runs that lost turns means nothing
    row(
        f"two processes >= 1.7x the turns/s of one at {scaling.get('conversations', 50)} "
        "conversations, 0 lost, 0 gaps",
        value,
        ok,
        scaling.get("skipped") or report.get("catchat", {}).get("skipped") or "not run",
    )
    return rows


# --- the report --------------------------------------------------------------------------------


def _cpu(entry: dict[str, Any], name: str) -> str:
    part = entry.get("cpu", {}).get(name) or {}
    return f"{part.get('ms_per_turn')} ms ({part.get('cores')} cores)"


def table(report: dict[str, Any]) -> list[tuple[str, str]]:
    side = report.get("catchat", {})
    peer = report.get("peer", {})
    rows: list[tuple[str, str]] = [
        (
            "setup",
            f"servers on CPU {SERVER_CPU}; fake model (50 tokens, no delay) and load on CPU "
            f"{CLIENT_CPU}; closed loop, one user, cat and tab per conversation",
        ),
        (
            "machine",
            f"{report['machine']['cpus']} CPUs, load average at start "
            f"{report['machine']['loadavg_at_start'][0]:.2f}",
        ),
    ]
    if report.get("warning"):
        rows.append(("WARNING", report["warning"]))
    if "skipped" in side:
        rows.append(("CatChat", f"skipped: {side['skipped']}"))
    if "error" in side:
        rows.append(("CatChat", f"CRASHED: {side['error']}"))
    if "skipped" in peer:
        rows.append(("Open WebUI", f"skipped: {peer['skipped']}"))
    else:
        rows.append(
            (
                "Open WebUI",
                f"{peer.get('version')} ({peer.get('mode')} path; offline: "
                f"{peer.get('offline', {}).get('network_namespace_loopback_only')}; "
                f"{peer.get('runs_per_level')} runs a level, medians; {peer.get('seconds')} s)",
            )
        )
    theirs = peer.get("ui_path", {}).get("levels", {})
    for key, mine in side.get("levels", {}).items():
        t = mine["ttft_ms"]
        owui = theirs.get(key)
        vs = compare_text = ""
        if owui:
            o = owui["openwebui"]
            c = report.get("comparison", {}).get(key, {})
            vs = f" | Open WebUI {o['ttft_p50_ms']:.1f}/-/{o['ttft_p99_ms']:.1f}"
            compare_text = f" | ratio p50 {c.get('ttft_p50_ratio')}, p99 {c.get('ttft_p99_ratio')}"
        rows.append(
            (
                f"@{key} first token ms p50/p95/p99",
                f"CatChat {t['p50']}/{t['p95']}/{t['p99']}{vs}{compare_text}",
            )
        )
        full = mine["turn_ms"]
        line = f"CatChat {full['p50']}/{full['p99']}"
        if owui:
            o = owui["openwebui"]
            line += f" | Open WebUI {o['full_p50_ms']:.1f}/{o['full_p99_ms']:.1f}"
        rows.append((f"@{key} full reply ms p50/p99", line))
        line = f"CatChat {mine['turns_per_s']} (lost {mine['lost']}, gaps {mine['delta_gaps']})"
        if owui:
            o = owui["openwebui"]
            line += (
                f" | Open WebUI {o['replies_per_s']:.1f} (errors {owui['errors']})"
                f" | ratio {report['comparison'][key]['turns_per_s_ratio']}"
            )
        rows.append((f"@{key} turns/s", line))
        cpu = (
            f"CatChat server {_cpu(mine, 'server')}, PostgreSQL {_cpu(mine, 'postgres')}"
            f" | load generator {_cpu(mine, 'load_generator')}"
            f" | other processes {_cpu(mine, 'other_processes')}"
        )
        if owui:
            cpu += f" | Open WebUI server {owui.get('server_cpu_ms_per_reply')} ms"
        rows.append((f"@{key} CPU per turn", cpu))
        rows.append(
            (
                f"@{key} recall, model calls",
                f"{mine['recalled_fact_turns']} of {mine['turns_done']} turns recalled facts, "
                f"{mine['recalled_episode_turns']} episodes; "
                f"{mine['model_calls']['chat_calls_per_message']} chat calls a message "
                f"({mine['model_calls']['json_calls_per_message']} JSON-mode; "
                f"{mine['model_calls']['messages_learned']} messages learned, "
                f"{mine['settled_after']['extraction_jobs_dropped']} dropped unlearned)",
            )
        )
    calls = side.get("model_calls")
    if calls:
        upstream = peer.get("ui_path", {}).get("upstream_requests_per_reply")
        rows.append(
            (
                "model calls per message",
                f"CatChat {calls['chat_calls_per_message']} at {calls['level']} conversations "
                f"({calls['chat_stream']} streams, {calls['chat_json']} JSON-mode, "
                f"{calls['embeddings']} embeddings for {calls['user_messages']} messages, "
                f"{calls['messages_learned']} learned within {calls['waited_for_learning_s']} s "
                f"after, {calls['learning_jobs_dropped']} dropped unlearned)"
                + (
                    f" | Open WebUI {upstream} (its title, tags, follow-ups off)"
                    if upstream
                    else ""
                ),
            )
        )
    scaling = side.get("scaling", {})
    if "skipped" in scaling:
        rows.append(("two processes", f"skipped: {scaling['skipped']}"))
    for key, _, _, _ in SCALE_VARIANTS:
        entry = scaling.get(key)
        if not entry:
            continue
        if "error" in entry:
            rows.append((f"@{scaling['conversations']} {key}", f"CRASHED: {entry['error']}"))
            continue
        cpus = ", ".join(
            f"{name} {part['cores']}"
            for name, part in entry["cpu"].items()
            if part.get("cores") is not None
        )
        rows.append(
            (
                f"@{scaling['conversations']} {key}",
                f"{entry['turns_per_s']} turns/s, first token p50/p99 "
                f"{entry['ttft_ms']['p50']}/{entry['ttft_ms']['p99']} ms, lost {entry['lost']}, "
                f"gaps {entry['delta_gaps']}; tabs per process "
                f"{entry.get('connections_per_process')}; cores busy: {cpus}",
            )
        )
    if scaling.get("ratio_two_to_one") is not None:
        rows.append(
            (
                "two / one process",
                f"{scaling['ratio_two_to_one']} x one daphne, "
                f"{scaling['ratio_two_to_one_uvicorn']} x one uvicorn worker",
            )
        )
    for target in report.get("targets", []):
        rows.append((target["verdict"].upper(), f"{target['target']}: {target['value']}"))
    return rows


def failed(report: dict[str, Any]) -> bool:
    """What must never happen on CatChat's side, at any level, one or two processes: a turn
    lost, a delta gap, a conversation's client crashed. The peer's errors, a skipped peer and
    every timing never fail it."""
    side = report.get("catchat", {})
    scaling = side.get("scaling", {})
    variants = [scaling[key] for key, _, _, _ in SCALE_VARIANTS if key in scaling]
    if "error" in side or any("error" in variant for variant in variants):
        return True  # a part crashed
    levels = [*side.get("levels", {}).values(), *variants]
    return any(level["lost"] or level["delta_gaps"] or level["client_failures"] for level in levels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no peer: proves it works")
    parser.add_argument("--no-peer", action="store_true", help="CatChat's side only")
    parser.add_argument("--seconds", type=float, help="seconds per CatChat level")
    parser.add_argument("--out", default=str(RESULTS / "peer.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    report = measure(smoke=args.smoke, peer=not args.no_peer, seconds=args.seconds)
    save_and_print(report, args.out, table(report))
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
