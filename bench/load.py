"""Load run: many concurrent conversations against `catchat.serve` with WORKERS processes on one
port (gunicorn + uvicorn, channels_redis), counting lost and stuck messages, which must be zero.

    python -m bench.load --conversations 200 --seconds 60 --workers 2

Each conversation is one user with one cat and one WebSocket (bearer token), sending a message,
waiting for the reply's `chat.done`, and sending the next, until the time is up. The model is
the fake Mistral server (catchat.testing.fake_mistral) streaming `--tokens` tokens, one every
`--token-delay-ms`. Runs on the embedded PostgreSQL in a database of its own (`catchat_bench`)
and needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0).

Counted:
- lost: a message sent that is not in the database (must be zero);
- stuck: a reply still `streaming` in the database after the run has settled (must be zero);
- not acknowledged / unanswered: a turn whose `chat.accepted` / `chat.done` did not reach the
  client within `--turn-timeout` seconds (the client then moves on: a sign of overload);
- delta gaps: a `chat.delta` whose `seq` is not the previous one plus one, or text that does not
  add up to the final reply.

Writes a JSON report (`--out`) and prints a short table. A benchmark, not a test: no timing is
asserted anywhere; the exit status is 1 only when a message was lost or a reply stuck.
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

from bench import common


@dataclass
class Tally:
    sent: int = 0
    accepted: int = 0
    done: int = 0
    complete: int = 0
    unanswered: int = 0
    delta_gaps: int = 0
    text_mismatches: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    turn_ms: list[float] = field(default_factory=list)
    first_delta_ms: list[float] = field(default_factory=list)
    client_ids: list[str] = field(default_factory=list)


async def conversation(
    port: int, cat_id: int, token: str, until: float, args: Any, tally: Tally
) -> None:
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{port}/ws/cats/{cat_id}/"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        hello = json.loads(await ws.recv())
        if hello["type"] != "hello":
            raise RuntimeError(f"no hello: {hello}")
        conversation_id = None
        while time.monotonic() < until:
            client_id = str(uuid.uuid4())
            frame: dict[str, Any] = {
                "type": "chat.send",
                "text": "How was your nap?",
                "client_id": client_id,
            }
            if conversation_id is not None:
                frame["conversation"] = conversation_id
            started = time.monotonic()
            tally.sent += 1
            tally.client_ids.append(client_id)
            await ws.send(json.dumps(frame))
            message_id = reply_id = None
            seq, text, first = 0, "", None
            try:
                async with asyncio.timeout(args.turn_timeout):
                    while True:
                        got = json.loads(await ws.recv())
                        if os.environ.get("BENCH_DEBUG"):
                            print(got["type"], got.get("code"), got.get("detail"))
                        kind = got["type"]
                        if kind == "chat.accepted" and got["client_id"] == client_id:
                            tally.accepted += 1
                            message_id = got["message"]["id"]
                            conversation_id = got["message"]["conversation"]
                        elif (
                            kind == "chat.started" and got["message"].get("reply_to") == message_id
                        ):
                            reply_id = got["message"]["id"]
                        elif kind == "chat.delta" and got["message_id"] == reply_id:
                            if first is None:
                                first = time.monotonic()
                            if got["seq"] != seq + 1:
                                tally.delta_gaps += 1
                            seq = got["seq"]
                            text += got["text"]
                        elif kind == "error" and got.get("client_id") in (client_id, None):
                            tally.errors[got["code"]] = tally.errors.get(got["code"], 0) + 1
                            if got.get("client_id") == client_id:
                                break  # refused (e.g. rate_limited): the next turn
                        elif kind == "chat.done" and got["message"]["id"] == reply_id:
                            tally.done += 1
                            final = got["message"]
                            if final["status"] == "complete":
                                tally.complete += 1
                                if final["text"] != text:
                                    tally.text_mismatches += 1
                            tally.turn_ms.append((time.monotonic() - started) * 1000)
                            if first is not None:
                                tally.first_delta_ms.append((first - started) * 1000)
                            break
            except TimeoutError:
                tally.unanswered += 1


def prepare(conversations: int) -> list[tuple[int, str]]:
    """Users, each with a cat, and an access token each (in the bench database)."""
    from django.core.management import call_command
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.models import User
    from cats.services import cat_create

    call_command("migrate", interactive=False, verbosity=0)
    run = uuid.uuid4().hex[:6]
    users = User.objects.bulk_create(
        [User(username=f"bench-{run}-{i}") for i in range(conversations)]
    )
    return [
        (
            cat_create(owner=user, name=f"Cat{i}", personality="", coat="grey").pk,
            str(AccessToken.for_user(user)),
        )
        for i, user in enumerate(users)
    ]


def settle_and_count(client_ids: list[str], lease: int) -> dict[str, int]:
    """After the run: what the database holds of the messages sent."""
    from cats.models import Message

    deadline = time.monotonic() + lease + 10
    while time.monotonic() < deadline:
        if not Message.objects.filter(status=Message.Status.STREAMING).exists():
            break
        time.sleep(0.5)
    saved = set(
        str(c)
        for c in Message.objects.filter(client_id__in=client_ids).values_list(
            "client_id", flat=True
        )
    )
    return {
        "saved": len(saved),
        "lost": len(set(client_ids) - saved),
        "stuck": Message.objects.filter(status=Message.Status.STREAMING).count(),
        "replies_complete": Message.objects.filter(
            reply_to__client_id__in=client_ids, status=Message.Status.COMPLETE
        ).count(),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--token-delay-ms", type=float, default=10)
    parser.add_argument("--turn-timeout", type=float, default=30)
    parser.add_argument("--out", default=str(common.RESULTS / "load.json"))
    return parser


SMOKE = ["--conversations", "4", "--seconds", "3"]


def run(smoke: bool) -> dict[str, Any]:
    """The load run's report section (`bench.run` gathers the sections)."""
    return measure(build_parser().parse_args(SMOKE if smoke else []))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    common.serve_as_production()
    # One chat.send per turn per conversation: far below any sane per-user limit, but a long
    # run at full speed would otherwise meet CHAT_MESSAGES_PER_MINUTE.
    os.environ.setdefault("CHAT_MESSAGES_PER_MINUTE", "100000")

    fake, fake_url = common.start_fake_mistral(args.tokens, args.token_delay_ms)
    try:
        os.environ["MISTRAL_API_KEY"] = "bench-key"
        os.environ["MISTRAL_SERVER_URL"] = fake_url

        import django

        django.setup()
        from django.conf import settings

        sessions = prepare(args.conversations)
        port = common.free_port()
        env = {**os.environ, "WORKERS": str(args.workers), "PORT": str(port), "HOST": "127.0.0.1"}
        log_path = Path(args.out).with_suffix(".server.log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("w")
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "catchat.serve"],
            env={**env, "LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING")},
            cwd=common.ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            common.wait_healthy(port, server)
            tally = Tally()
            until = time.monotonic() + args.seconds

            async def run_all() -> list[Any]:
                return await asyncio.gather(
                    *(
                        conversation(port, cat, token, until, args, tally)
                        for cat, token in sessions
                    ),
                    return_exceptions=True,
                )

            began = time.monotonic()
            outcomes = asyncio.run(run_all())
            elapsed = time.monotonic() - began
            failures = [repr(o) for o in outcomes if isinstance(o, BaseException)]
            counts = settle_and_count(tally.client_ids, settings.CHAT_REPLY_LEASE_S)
        finally:
            common.terminate(server, timeout=60)
            log.close()
    finally:
        common.terminate(fake, timeout=10)

    report = {
        "what": "load run",
        "conversations": args.conversations,
        "seconds": args.seconds,
        "workers": args.workers,
        "tokens_per_reply": args.tokens,
        "token_delay_ms": args.token_delay_ms,
        "elapsed_s": round(elapsed, 1),
        "turns_sent": tally.sent,
        "turns_accepted": tally.accepted,
        "turns_done": tally.done,
        "turns_complete": tally.complete,
        "turns_per_s": round(tally.done / elapsed, 1) if elapsed else None,
        "unanswered": tally.unanswered,
        # The promise: every message sent is saved, and every reply ends (none stays streaming).
        "lost": counts["lost"],
        "not_acknowledged": tally.sent - tally.accepted,
        "stuck": counts["stuck"],
        "delta_gaps": tally.delta_gaps,
        "text_mismatches": tally.text_mismatches,
        "errors": tally.errors,
        "client_failures": failures[:5],
        "saved": counts["saved"],
        "replies_complete_in_db": counts["replies_complete"],
        "turn_ms": common.spread(tally.turn_ms),
        "first_delta_ms": common.spread(tally.first_delta_ms),
        "mean_turn_ms": round(statistics.fmean(tally.turn_ms), 1) if tally.turn_ms else None,
    }
    return report


def table(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (
            "conversations x seconds",
            f"{report['conversations']} x {report['seconds']:g} on {report['workers']} workers",
        ),
        (
            "turns sent / done / complete",
            f"{report['turns_sent']} / {report['turns_done']} / {report['turns_complete']}",
        ),
        ("turns per second", str(report["turns_per_s"])),
        ("lost / stuck (in the database)", f"{report['lost']} / {report['stuck']}"),
        (
            "no accepted / no done in time",
            f"{report['not_acknowledged']} / {report['unanswered']} (of {report['turns_sent']})",
        ),
        (
            "delta gaps / text mismatches",
            f"{report['delta_gaps']} / {report['text_mismatches']}",
        ),
        ("turn ms p50 / p95 / p99", "{p50} / {p95} / {p99}".format(**report["turn_ms"])),
        (
            "first delta ms p50 / p95 / p99",
            "{p50} / {p95} / {p99}".format(**report["first_delta_ms"]),
        ),
        ("errors", json.dumps(report["errors"]) if report["errors"] else "none"),
    ]


def failed(report: dict[str, Any]) -> bool:
    """What must never happen: a message lost, a reply stuck, a client crashed."""
    return bool(report["lost"] or report["stuck"] or report["client_failures"])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = measure(args)
    common.save_and_print(report, args.out, table(report))
    # Exit 1 only for what must never happen; gaps and timeouts are figures to read.
    return 1 if failed(report) else 0


if __name__ == "__main__":
    sys.exit(main())
