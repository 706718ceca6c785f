"""What a chatting user feels, against a floor: time to first token and turns per second.

    python -m bench.chat            # the full run (~2.5 minutes on 2 cores)
    python -m bench.chat --smoke    # tiny sizes: proves it works; its figures mean nothing

1. Server-added time to first token (a `chat.send` to the first `chat.delta` of its reply, on the
   client's monotonic clock), p50/p95/p99, at 1, 10 and 50 concurrent conversations, with memory
   recall on every turn (each bench cat has MEMORIES_PER_CAT memories).
2. Complete turns per second at the same levels, with lost turns (no `chat.done` within
   TURN_TIMEOUT_S), delta gaps (a `seq` that is not the previous one plus one, or a `chat.done`
   whose `seq` is past the last delta) and text mismatches (deltas that do not add up to the
   final text).
3. The same on two `catchat.serve` processes sharing channels_redis: every user has one tab on
   each process and sends on the tab of process A (half the users) or B (the other half); both
   tabs must see every delta in order and the `chat.done`. Skipped when Redis does not answer.

The product is `python -m catchat.serve` with WORKERS=1 (daphne, the in-memory channel layer
unless `--layer redis`), DEBUG off, on the embedded PostgreSQL (database `catchat_bench`), with the
fake Mistral server (bench.fake_server, a process of its own) streaming 50 tokens with no delay.
The floor is `bench/floor.py` on the same server process (BENCH_FLOOR=true): the essential work
of a turn (save the message, 50 deltas straight to the socket, save the reply). Every figure is
also given as a ratio to the floor's.

Each conversation is one user, one cat, one WebSocket (bearer token) sending turns one after the
other for the level's time. All floor levels run first, then the product's: its memory
extraction runs after each reply and would spill into the floor's time. Between levels the server
finishes the replies and what memory extraction it can, and the extraction jobs still pending are
dropped (counted in the report, as is the backlog each level ends with), so that no level pays
for the one before it. The clients
run in this process, on the same cores as the server: a benchmark, not a test. The targets are
reported as met or not met, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from bench.common import (
    RESULTS,
    ROOT,
    free_port,
    pinned,
    save_and_print,
    serve_as_production,
    spread,
    start_fake_mistral,
    terminate,
    wait_healthy,
)

TOKENS = 50
TURN_TIMEOUT_S = 10.0
MEMORIES_PER_CAT = 20
FULL: dict[str, Any] = {
    "levels": (1, 10, 50),
    "two_process_levels": (10, 50),
    "seconds": 15.0,
    "warmup": 2.0,
}
SMOKE: dict[str, Any] = {
    "levels": (1, 2),
    "two_process_levels": (2,),
    "seconds": 2.0,
    "warmup": 1.0,
}

# What the human says, in turn (no facts in it: learning adds no memories along the way).
PROMPTS = (
    "How was your nap?",
    "What are you up to today?",
    "Did you see the bird at the window?",
    "Are you hungry yet?",
)
# What each bench cat knows of its human, so every turn's recall has something to find.
MEMORIES = (
    "My human naps on the sofa every Sunday afternoon.",
    "My human's name is Sam.",
    "Sam works as a nurse and often does night shifts.",
    "Sam loves tuna sandwiches.",
    "Sam has a sister called Lea who visits on Fridays.",
    "Sam is allergic to lilies.",
    "Sam plays the guitar badly but happily.",
    "Sam's favourite colour is green.",
    "Sam grew up by the sea in Brittany.",
    "Sam is learning Japanese.",
    "Sam drinks two coffees every morning.",
    "Sam goes running on Tuesdays and Thursdays.",
    "Sam is afraid of spiders.",
    "Sam's birthday is in March.",
    "Sam reads detective novels in bed.",
    "Sam hates loud alarms and wakes up slowly.",
    "Sam's best friend is called Noor.",
    "Sam bought a new bird feeder for the window.",
    "Sam prefers rainy days to sunny ones.",
    "Sam once had a dog called Biscuit.",
)


# --- measuring one turn, one conversation, one level ------------------------------------------


@dataclass
class Turn:
    """One tab's view of one turn."""

    sent_at: float
    conversation: int | None = None
    first_delta_at: float | None = None
    done_at: float | None = None
    deltas: int = 0
    gaps: int = 0
    text_ok: bool = True
    complete: bool = False
    remembered: int | None = None  # memories recalled (chat.started), product only
    remembered_kinds: frozenset[str] = frozenset()  # "fact", "episode": what was recalled
    error: str | None = None  # an `error` frame answering our send
    lost: bool = False  # no chat.done within TURN_TIMEOUT_S


@dataclass
class Tally:
    sent: int = 0
    done: int = 0
    complete: int = 0
    lost: int = 0
    delta_gaps: int = 0
    text_mismatches: int = 0
    deltas: int = 0
    recalled_turns: int = 0  # product turns whose reply recalled at least one memory
    recalled_fact_turns: int = 0  # ... at least one fact
    recalled_episode_turns: int = 0  # ... at least one episode (a message said before)
    errors: dict[str, int] = field(default_factory=dict)
    ttft_ms: list[float] = field(default_factory=list)
    turn_ms: list[float] = field(default_factory=list)
    client_ids: list[str] = field(default_factory=list)

    def add(self, turn: Turn) -> None:
        if turn.error is not None:
            self.errors[turn.error] = self.errors.get(turn.error, 0) + 1
            return
        self.lost += turn.lost
        self.delta_gaps += turn.gaps
        self.deltas += turn.deltas
        if turn.first_delta_at is not None:
            self.ttft_ms.append((turn.first_delta_at - turn.sent_at) * 1000)
        if turn.done_at is not None:
            self.done += 1
            self.complete += turn.complete
            self.text_mismatches += not turn.text_ok
            self.turn_ms.append((turn.done_at - turn.sent_at) * 1000)
        if turn.remembered:
            self.recalled_turns += 1
        self.recalled_fact_turns += "fact" in turn.remembered_kinds
        self.recalled_episode_turns += "episode" in turn.remembered_kinds


async def read_turn(ws: Any, client_id: str, sent_at: float) -> Turn:
    """Read one tab's frames until the `chat.done` of the reply to our `client_id`.

    Product: our message's id comes with `chat.accepted`, the reply's with `chat.started`, and
    the deltas carry the reply's id. Floor: the deltas carry `reply_to` (the reply is saved at
    the end). Frames of anything else (other turns, memory pushes) are ignored."""
    turn = Turn(sent_at=sent_at)
    message_id: int | None = None
    reply_id: int | None = None
    seq, text = 0, ""
    try:
        async with asyncio.timeout(TURN_TIMEOUT_S):
            while True:
                got = json.loads(await ws.recv())
                kind = got.get("type")
                if kind == "chat.delta":
                    ours = (reply_id is not None and got.get("message_id") == reply_id) or (
                        message_id is not None and got.get("reply_to") == message_id
                    )
                    if not ours:
                        continue
                    if turn.first_delta_at is None:
                        turn.first_delta_at = time.monotonic()
                    if got["seq"] != seq + 1:
                        turn.gaps += 1
                    seq = got["seq"]
                    text += got["text"]
                    turn.deltas += 1
                elif kind == "chat.accepted" and got.get("client_id") == client_id:
                    message_id = got["message"]["id"]
                    turn.conversation = got["message"]["conversation"]
                elif (
                    kind == "chat.started"
                    and message_id is not None
                    and got["message"].get("reply_to") == message_id
                ):
                    reply_id = got["message"]["id"]
                    remembered = got.get("remembered") or []
                    turn.remembered = len(remembered)
                    turn.remembered_kinds = frozenset(str(r.get("kind")) for r in remembered)
                elif kind == "error" and got.get("client_id") == client_id:
                    turn.error = str(got.get("code"))
                    return turn
                elif (
                    kind == "chat.done"
                    and message_id is not None
                    and got["message"].get("reply_to") == message_id
                    and (reply_id is None or got["message"]["id"] == reply_id)
                ):
                    turn.done_at = time.monotonic()
                    final = got["message"]
                    turn.complete = final.get("status") == "complete"
                    turn.text_ok = final.get("text") == text
                    if (final.get("seq") or 0) > seq:  # deltas missing at the end
                        turn.gaps += 1
                    return turn
    except TimeoutError:
        turn.lost = True
    return turn


async def open_tab(port: int, path: str, token: str) -> Any:
    from websockets.asyncio.client import connect

    ws = await connect(
        f"ws://127.0.0.1:{port}{path}",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=30,
        max_size=None,
    )
    hello = json.loads(await ws.recv())
    if hello.get("type") != "hello":
        await ws.close()
        raise RuntimeError(f"no hello from {path}: {hello}")
    return ws


async def converse(
    tabs: list[Any], sender: int, tallies: list[Tally], until: float, *, product: bool
) -> None:
    """Send turns on tabs[sender] one after the other until `until`; every tab reads each."""
    conversation: int | None = None
    turn_no = 0
    while time.monotonic() < until:
        client_id = str(uuid.uuid4())
        frame: dict[str, Any] = {
            "type": "chat.send",
            "text": PROMPTS[turn_no % len(PROMPTS)],
            "client_id": client_id,
        }
        turn_no += 1
        if product and conversation is not None:
            frame["conversation"] = conversation
        for tally in tallies:
            tally.sent += 1
            tally.client_ids.append(client_id)
        sent_at = time.monotonic()
        await tabs[sender].send(json.dumps(frame))
        turns = await asyncio.gather(*(read_turn(ws, client_id, sent_at) for ws in tabs))
        for tally, turn in zip(tallies, turns, strict=True):
            tally.add(turn)
        conversation = turns[sender].conversation or conversation


def summary(tally: Tally, elapsed: float) -> dict[str, Any]:
    return {
        "turns_sent": tally.sent,
        "turns_done": tally.done,
        "turns_complete": tally.complete,
        "turns_per_s": round(tally.complete / elapsed, 1) if elapsed else None,
        "lost": tally.lost,
        "delta_gaps": tally.delta_gaps,
        "text_mismatches": tally.text_mismatches,
        "errors": tally.errors,
        "deltas_per_turn": round(tally.deltas / tally.done, 1) if tally.done else None,
        "recalled_turns": tally.recalled_turns,
        "recalled_fact_turns": tally.recalled_fact_turns,
        "recalled_episode_turns": tally.recalled_episode_turns,
        "ttft_ms": spread(tally.ttft_ms),
        "turn_ms": spread(tally.turn_ms),
        "ttft_mean_ms": round(statistics.fmean(tally.ttft_ms), 1) if tally.ttft_ms else None,
    }


@dataclass
class Session:
    cat_id: int
    token: str


async def level_run(
    ports: list[int], sessions: list[Session], seconds: float, *, product: bool
) -> tuple[list[Tally], float, list[str], dict[str, list[float]]]:
    """One level: len(sessions) conversations for `seconds`, each with a tab on every port
    (the sender alternates between ports by conversation). Connecting is not timed."""
    tallies = [Tally() for _ in ports]
    # TTFTs by tab (the one that sent, the others), and turns complete on the sending tab.
    split: dict[str, list[float]] = {"sending_tab": [], "other_tab": [], "sender_complete": []}
    sockets: list[list[Any]] = []
    failures: list[str] = []
    try:
        for session in sessions:
            path = f"/ws/cats/{session.cat_id}/" if product else "/ws/bench/floor/"
            sockets.append([await open_tab(port, path, session.token) for port in ports])

        until = time.monotonic() + seconds
        began = time.monotonic()

        async def one(index: int, tabs: list[Any]) -> None:
            own = [Tally() for _ in ports]
            try:
                await converse(tabs, index % len(ports), own, until, product=product)
            finally:
                for mine, total in zip(own, tallies, strict=True):
                    _merge(total, mine)
                sender = index % len(ports)
                split["sending_tab"] += own[sender].ttft_ms
                split["sender_complete"].append(own[sender].complete)
                for i, mine in enumerate(own):
                    if i != sender:
                        split["other_tab"] += mine.ttft_ms

        outcomes = await asyncio.gather(
            *(one(i, tabs) for i, tabs in enumerate(sockets)), return_exceptions=True
        )
        elapsed = time.monotonic() - began
        failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    finally:
        for tabs in sockets:
            for ws in tabs:
                await ws.close()
    return tallies, elapsed, failures, split


def _merge(total: Tally, part: Tally) -> None:
    for name in (
        "sent",
        "done",
        "complete",
        "lost",
        "delta_gaps",
        "text_mismatches",
        "deltas",
        "recalled_turns",
        "recalled_fact_turns",
        "recalled_episode_turns",
    ):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for code, count in part.errors.items():
        total.errors[code] = total.errors.get(code, 0) + count
    total.ttft_ms += part.ttft_ms
    total.turn_ms += part.turn_ms
    total.client_ids += part.client_ids


# --- processes ---------------------------------------------------------------------------------


class Processes:
    """Every process this run starts, stopped in reverse order (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.started: list[tuple[subprocess.Popen[Any], Any]] = []

    def start(
        self, command: list[str], *, env: dict[str, str], log: Path, cpus: set[int] | None = None
    ) -> Any:
        """Start `command` (on `cpus` only, when given: `taskset -c`), its output in `log`."""
        out = log.open("w")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            pinned(command, cpus),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started.append((process, out))
        return process

    def adopt(self, process: subprocess.Popen[Any]) -> None:
        """A process started elsewhere, stopped with the others."""
        self.started.append((process, None))

    def stop(self, process: subprocess.Popen[Any], timeout: float = 30) -> None:
        for entry in list(self.started):
            if entry[0] is process:
                self.started.remove(entry)
                terminate(process, timeout)
                if entry[1] is not None:
                    entry[1].close()

    def stop_all(self) -> None:
        while self.started:
            self.stop(self.started[-1][0])


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1).ping())
    except Exception:
        return False


# --- the bench database ----------------------------------------------------------------------


def prepare(count: int, *, stale_after_s: float | None = None) -> tuple[list[Session], int]:
    """`count` users, each with a cat knowing MEMORIES_PER_CAT memories (memory_create, the local
    embedder) and an access token. Returns the sessions and the stale extraction jobs dropped:
    every pending one, or with `stale_after_s` only those created that long ago or more (the
    fresh ones may be another bench's, running now)."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from cats.services import cat_create
    from memories import services as memory_services
    from memories.models import ExtractionJob

    call_command("migrate", interactive=False, verbosity=0)
    # Jobs an earlier bench left pending (a load run ends with a backlog): the server would
    # drain them during this run's measurements.
    pending = ExtractionJob.objects.filter(
        status__in=[ExtractionJob.Status.PENDING, ExtractionJob.Status.RUNNING]
    )
    if stale_after_s is not None:
        pending = pending.filter(created_at__lte=timezone.now() - timedelta(seconds=stale_after_s))
    stale = pending.update(
        status=ExtractionJob.Status.FAILED, error="left over by an earlier bench run"
    )

    # The same MEMORIES for every cat: embed each text once (15 ms each on this machine).
    vectors: dict[str, tuple[list[float] | None, str]] = {}
    embed = memory_services._embed

    def embed_once(text: str) -> tuple[list[float] | None, str]:
        if text not in vectors:
            vectors[text] = embed(text)
        return vectors[text]

    run = uuid.uuid4().hex[:6]
    users = User.objects.bulk_create([User(username=f"bench-chat-{run}-{i}") for i in range(count)])
    sessions = []
    with mock.patch.object(memory_services, "_embed", embed_once):
        for i, user in enumerate(users):
            cat = cat_create(owner=user, name=f"Cat{i}", personality="", coat="grey")
            profile = memory_services.profile_for(user=user, cat=cat)
            for text in MEMORIES[:MEMORIES_PER_CAT]:
                memory_services.memory_create(profile=profile, text=text)
            sessions.append(Session(cat_id=cat.pk, token=str(AccessToken.for_user(user))))
    return sessions, stale


def saved(client_ids: list[str]) -> int:
    from cats.models import Message

    return Message.objects.filter(client_id__in=client_ids).count()


def extraction_backlog(cat_ids: list[int] | None = None) -> int:
    """Memory extraction jobs not done yet (one per user message, drained after the replies);
    with `cat_ids`, only those of these cats."""
    from memories.models import ExtractionJob

    jobs = ExtractionJob.objects.filter(
        status__in=[ExtractionJob.Status.PENDING, ExtractionJob.Status.RUNNING]
    )
    if cat_ids is not None:
        jobs = jobs.filter(profile__cat_id__in=cat_ids)
    return jobs.count()


def settle(timeout: float = 15, cat_ids: list[int] | None = None) -> dict[str, Any]:
    """Between levels: let the server finish the replies and the memory extraction of the last
    one while it makes progress (its drain stops after 100 jobs until the next reply kicks it),
    then drop what is left, so that no level pays for the one before it. With `cat_ids`, only
    the replies and jobs of these cats count and are dropped (other jobs in the database may be
    another bench's, running now)."""
    from cats.models import Message
    from memories.models import ExtractionJob

    replies = Message.objects.filter(status=Message.Status.STREAMING)
    jobs = ExtractionJob.objects.filter(
        status__in=[ExtractionJob.Status.PENDING, ExtractionJob.Status.RUNNING]
    )
    if cat_ids is not None:
        replies = replies.filter(conversation__cat_id__in=cat_ids)
        jobs = jobs.filter(profile__cat_id__in=cat_ids)
    began = time.monotonic()
    last, still_since = -1, time.monotonic()
    while time.monotonic() - began < timeout:
        left = extraction_backlog(cat_ids)
        streaming = replies.exists()
        if not left and not streaming:
            break
        if left != last:
            last, still_since = left, time.monotonic()
        elif time.monotonic() - still_since > 1.5 and not streaming:
            break  # no progress: nothing drains it until the next reply
        time.sleep(0.25)
    dropped = jobs.update(
        status=ExtractionJob.Status.FAILED, error="dropped by bench.chat between levels"
    )
    return {"waited_s": round(time.monotonic() - began, 1), "extraction_jobs_dropped": dropped}


# --- the run -----------------------------------------------------------------------------------


def run(smoke: bool) -> dict[str, Any]:
    """The chat section of the report (`bench.run` gathers the sections)."""
    return measure(smoke=smoke)


def measure(*, smoke: bool, seconds: float | None = None, layer: str = "memory") -> dict[str, Any]:
    sizes = SMOKE if smoke else FULL
    levels: tuple[int, ...] = sizes["levels"]
    two_levels: tuple[int, ...] = sizes["two_process_levels"]
    seconds = float(seconds if seconds is not None else sizes["seconds"])
    warmup = float(sizes["warmup"])
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    RESULTS.mkdir(parents=True, exist_ok=True)

    serve_as_production()
    # Turns back to back: far above any sane per-user rate, which would refuse them.
    os.environ["CHAT_MESSAGES_PER_MINUTE"] = "1000000"
    os.environ["MISTRAL_API_KEY"] = "bench-key"
    # This process (and the single server) uses the in-memory layer unless told otherwise.
    if layer == "memory":
        os.environ.pop("REDIS_URL", None)
    else:
        os.environ["REDIS_URL"] = redis_url

    report: dict[str, Any] = {
        "what": "chat: time to first token and turns per second, against the floor",
        "smoke": smoke,
        "seconds_per_level": seconds,
        "levels": list(levels),
        "tokens_per_reply": TOKENS,
        "token_delay_ms": 0,
        "memories_per_cat": MEMORIES_PER_CAT,
        "turn_timeout_s": TURN_TIMEOUT_S,
        "server": "catchat.serve WORKERS=1 (daphne), DEBUG=false",
        "channel_layer": "channels_redis" if layer == "redis" else "in-memory",
    }
    processes = Processes()
    try:
        fake, fake_url = start_fake_mistral(TOKENS, 0)
        processes.adopt(fake)
        os.environ["MISTRAL_SERVER_URL"] = fake_url

        import django

        django.setup()

        began = time.monotonic()
        sessions, stale = prepare(max(levels + two_levels))
        report["prepare_s"] = round(time.monotonic() - began, 1)
        report["stale_extraction_jobs_dropped"] = stale

        server_env = {
            **os.environ,
            "WORKERS": "1",
            "HOST": "127.0.0.1",
            "BENCH_FLOOR": "true",
            "LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING"),
        }
        port = free_port()
        server = processes.start(
            [sys.executable, "-m", "catchat.serve"],
            env={**server_env, "PORT": str(port)},
            log=RESULTS / "chat.server.log",
        )
        wait_healthy(port, server)
        floor: dict[str, Any] = {}
        product: dict[str, Any] = {}
        settled: dict[str, Any] = {}
        # Warm up (not counted): the embedder loads on the first turn, connections open.
        asyncio.run(level_run([port], sessions[:1], warmup, product=False))
        asyncio.run(level_run([port], sessions[:1], warmup, product=True))
        for level in levels:
            floor[str(level)] = _single(port, sessions[:level], seconds, product=False)
        for level in levels:
            settled[str(level)] = settle()
            product[str(level)] = _single(port, sessions[:level], seconds, product=True)
            # Extraction jobs the server had not got to when the level ended: it falls behind.
            product[str(level)]["extraction_backlog_at_end"] = extraction_backlog()
        processes.stop(server)
        report["floor"] = floor
        report["product"] = product
        report["settled_before_product_level"] = settled
        report["ratios"] = {
            str(level): _ratios(product[str(level)], floor[str(level)]) for level in levels
        }

        if redis_answers(redis_url):
            report["two_processes"] = _two_processes(
                processes, server_env, redis_url, sessions, two_levels, seconds, warmup, floor
            )
        else:
            report["two_processes"] = {"skipped": f"no Redis at {redis_url}"}
    finally:
        processes.stop_all()
    report["targets"] = targets(report)
    return report


def _single(port: int, sessions: list[Session], seconds: float, *, product: bool) -> dict[str, Any]:
    tallies, elapsed, failures, _ = asyncio.run(
        level_run([port], sessions, seconds, product=product)
    )
    (tally,) = tallies
    result: dict[str, Any] = {"conversations": len(sessions), "elapsed_s": round(elapsed, 2)}
    result |= summary(tally, elapsed)
    result["saved_in_db"] = saved(tally.client_ids)
    result["client_failures"] = failures[:5]
    return result


def _two_processes(
    processes: Processes,
    server_env: dict[str, str],
    redis_url: str,
    sessions: list[Session],
    levels: tuple[int, ...],
    seconds: float,
    warmup: float,
    floor: dict[str, Any],
) -> dict[str, Any]:
    env = {**server_env, "REDIS_URL": redis_url, "BENCH_FLOOR": "false"}
    ports = [free_port(), free_port()]
    servers = [
        processes.start(
            [sys.executable, "-m", "catchat.serve"],
            env={**env, "PORT": str(port)},
            log=RESULTS / f"chat.server-{name}.log",
        )
        for port, name in zip(ports, "ab", strict=True)
    ]
    for port, server in zip(ports, servers, strict=True):
        wait_healthy(port, server)
    result: dict[str, Any] = {
        "servers": "2 x catchat.serve WORKERS=1 (daphne), channels_redis",
        "note": "each user: one tab on A, one on B; half send on A, half on B",
    }
    try:
        asyncio.run(level_run(ports, sessions[:2], warmup, product=True))
        for level in levels:
            settled = settle()
            tallies, elapsed, failures, split = asyncio.run(
                level_run(ports, sessions[:level], seconds, product=True)
            )
            a, b = (summary(t, elapsed) for t in tallies)
            ids = tallies[0].client_ids
            entry: dict[str, Any] = {
                "conversations": level,
                "elapsed_s": round(elapsed, 2),
                # A turn is complete when its sending tab saw its chat.done, complete.
                "turns_per_s": round(sum(split["sender_complete"]) / elapsed, 1),
                "tab_on_a": a,
                "tab_on_b": b,
                "lost": a["lost"] + b["lost"],
                "delta_gaps": a["delta_gaps"] + b["delta_gaps"],
                "text_mismatches": a["text_mismatches"] + b["text_mismatches"],
                "ttft_ms_sending_tab": spread(split["sending_tab"]),
                "ttft_ms_other_tab": spread(split["other_tab"]),
                "saved_in_db": saved(ids),
                "extraction_backlog_at_end": extraction_backlog(),
                "settled_before": settled,
                "client_failures": failures[:5],
            }
            base = floor.get(str(level))
            if base and base.get("turns_per_s"):
                entry["turns_per_s_ratio_to_single_process_floor"] = round(
                    entry["turns_per_s"] / base["turns_per_s"], 2
                )
            result[str(level)] = entry
    finally:
        for server in servers:
            processes.stop(server)
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _ratios(product: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        f"ttft_{p}": _ratio(product["ttft_ms"][p], floor["ttft_ms"][p])
        for p in ("p50", "p95", "p99")
    }
    if product["ttft_ms"]["p50"] is not None and floor["ttft_ms"]["p50"] is not None:
        out["ttft_p50_added_ms"] = round(product["ttft_ms"]["p50"] - floor["ttft_ms"]["p50"], 1)
    out["turns_per_s"] = _ratio(product["turns_per_s"], floor["turns_per_s"])
    return out


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "not met")


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each met / not met / not measured (never asserted)."""
    product = report.get("product", {})
    ratios = report.get("ratios", {})
    two = report.get("two_processes", {})
    rows: list[dict[str, Any]] = []

    def row(name: str, value: Any, ok: bool | None, why: str = "") -> None:
        entry = {"target": name, "value": value, "verdict": _verdict(ok)}
        if why and ok is None:
            entry["why"] = why
        rows.append(entry)

    added = ratios.get("1", {}).get("ttft_p50_added_ms")
    row(
        "TTFT p50 within 20 ms of the floor at 1 conversation",
        None if added is None else f"+{added} ms",
        None if added is None else added <= 20,
    )
    p99 = product.get("10", {}).get("ttft_ms", {}).get("p99")
    row(
        "TTFT p99 <= 150 ms at 10 conversations",
        None if p99 is None else f"{p99} ms",
        None if p99 is None else p99 <= 150,
        "no level of 10",
    )
    share = ratios.get("10", {}).get("turns_per_s")
    row(
        "turns/s >= 50% of the floor at 10 conversations",
        None if share is None else f"{round(share * 100)}%",
        None if share is None else share >= 0.5,
        "no level of 10",
    )
    at50 = product.get("50")
    row(
        "zero lost turns and zero delta gaps at 50 conversations",
        None
        if at50 is None
        else f"lost {at50['lost']}, gaps {at50['delta_gaps']}, "
        f"mismatches {at50['text_mismatches']}",
        None if at50 is None else not (at50["lost"] or at50["delta_gaps"]),
        "no level of 50",
    )
    if "skipped" in two:
        row("zero lost turns and zero delta gaps across two processes", None, None, two["skipped"])
    else:
        entries = [v for k, v in two.items() if k.isdigit()]
        lost = sum(e["lost"] for e in entries)
        gaps = sum(e["delta_gaps"] for e in entries)
        failures = sum(len(e["client_failures"]) for e in entries)
        row(
            "zero lost turns and zero delta gaps across two processes",
            f"lost {lost}, gaps {gaps} (both tabs, levels {', '.join(two_keys(two))})",
            None if not entries else not (lost or gaps or failures),
            "not run",
        )
    return rows


def two_keys(two: dict[str, Any]) -> list[str]:
    return [k for k in two if k.isdigit()]


def table(report: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        (
            "setup",
            f"{report['server']}, {report['channel_layer']} layer; {report['tokens_per_reply']} "
            f"tokens, no delay; {report['memories_per_cat']} memories a cat; "
            f"{report['seconds_per_level']:g} s a level",
        )
    ]
    for level in report.get("levels", []):
        key = str(level)
        p, f, r = report["product"][key], report["floor"][key], report["ratios"][key]
        rows += [
            (
                f"@{level} TTFT ms p50/p95/p99",
                "product {p50}/{p95}/{p99}".format(**p["ttft_ms"])
                + " | floor {p50}/{p95}/{p99}".format(**f["ttft_ms"])
                + f" | +{r.get('ttft_p50_added_ms')} ms p50",
            ),
            (
                f"@{level} turns/s",
                f"product {p['turns_per_s']} | floor {f['turns_per_s']} | "
                f"ratio {r['turns_per_s']} | extraction backlog "
                f"{p.get('extraction_backlog_at_end')}",
            ),
            (
                f"@{level} lost/gaps/mismatches/errors",
                f"product {_faults(p)} | floor {_faults(f)}",
            ),
        ]
    two = report.get("two_processes", {})
    if "skipped" in two:
        rows.append(("two processes", two["skipped"]))
    for key in two_keys(two):
        e = two[key]
        rows += [
            (
                f"2 procs @{key} turns/s",
                f"{e['turns_per_s']} (ratio to 1-process floor "
                f"{e.get('turns_per_s_ratio_to_single_process_floor')})",
            ),
            (
                f"2 procs @{key} TTFT p50/p99",
                "sending tab {p50}/{p99}".format(**e["ttft_ms_sending_tab"])
                + " | other process's tab {p50}/{p99}".format(**e["ttft_ms_other_tab"]),
            ),
            (
                f"2 procs @{key} lost/gaps/mism./err.",
                f"tab on A {_faults(e['tab_on_a'])} | tab on B {_faults(e['tab_on_b'])}",
            ),
        ]
    for target in report.get("targets", []):
        rows.append((target["verdict"].upper(), f"{target['target']}: {target['value']}"))
    return rows


def failed(report: dict[str, Any]) -> bool:
    """What must never happen, at any level, floor and product, one or two processes: a turn
    lost (no `chat.done` in time), a delta gap, a conversation's client crashed. Timings never
    fail it."""
    two = report.get("two_processes", {})
    levels = [
        *report.get("floor", {}).values(),
        *report.get("product", {}).values(),
        *(two[key] for key in two_keys(two)),
    ]
    return any(level["lost"] or level["delta_gaps"] or level["client_failures"] for level in levels)


def _faults(entry: dict[str, Any]) -> str:
    errors = sum(entry["errors"].values())
    failures = len(entry.get("client_failures", []))
    text = f"{entry['lost']}/{entry['delta_gaps']}/{entry['text_mismatches']}/{errors}"
    return text + (f" ({failures} client failures)" if failures else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: proves it works")
    parser.add_argument("--seconds", type=float, help="seconds per level")
    parser.add_argument(
        "--layer",
        choices=("memory", "redis"),
        default="memory",
        help="the single server's channel layer (two processes always use Redis)",
    )
    parser.add_argument("--out", default=str(RESULTS / "chat.json"))
    args = parser.parse_args(argv)
    report = measure(smoke=args.smoke, seconds=args.seconds, layer=args.layer)
    save_and_print(report, args.out, table(report))
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
