"""CPU of one streamed reply through `catchat.llm.stream_chat`: what our side of the model call
costs the server (the SDK building the request, reading the 50-token stream), against the fake
Mistral server in a process of its own (its CPU is not counted). Pinned to CPU 0, the fake to
CPU 1.

    python -m bench.stream_cpu                 # 3 rounds of 300 replies, a 21-turn history
    python -m bench.stream_cpu --turns 1       # a first message

Prints the median CPU per reply (`time.process_time`) of the rounds. Not part of `make bench`:
a tool for the before and after of a change to `catchat/llm.py` (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time

from bench.common import serve_as_production, start_fake_mistral


async def _replies(count: int, turns: int) -> float:
    from catchat import llm

    history = [
        llm.Turn("user" if n % 2 == 0 else "assistant", "Hello there, how are you today? " * 3)
        for n in range(turns)
    ]
    request = llm.ChatRequest(
        system="You are a cat. " * 40, turns=history, persona=llm.Persona(name="Whiskers")
    )

    async def one() -> None:
        async for _ in llm.stream_chat(request):
            pass

    for _ in range(20):  # warm: the client, its connection, the caches
        await one()
    began = time.process_time()
    for _ in range(count):
        await one()
    spent = time.process_time() - began
    await llm.close_clients()
    return spent / count * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=21, help="messages of history")
    args = parser.parse_args(argv)
    serve_as_production()
    os.environ["MISTRAL_API_KEY"] = "bench-key"
    fake, url = start_fake_mistral(50, 0)
    try:
        os.sched_setaffinity(fake.pid, {1})
        os.sched_setaffinity(0, {0})
        os.environ["MISTRAL_SERVER_URL"] = url
        import django

        django.setup()
        per_reply = [asyncio.run(_replies(args.replies, args.turns)) for _ in range(args.rounds)]
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    print(f"{statistics.median(per_reply):.2f} ms of CPU per 50-token reply ({args.turns} turns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
