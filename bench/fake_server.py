"""The fake Mistral server (catchat.testing.fake_mistral) in a process of its own, streaming
`--tokens` tokens `--token-delay-ms` apart: the bench's clients must not share its interpreter.
Prints its URL on the first line, then serves until SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys

from catchat.testing.fake_mistral import FakeMistral, Reply


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--token-delay-ms", type=float, default=10)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with FakeMistral() as fake:
        fake.default = Reply(
            tokens=[f"w{i} " for i in range(args.tokens)], delay=args.token_delay_ms / 1000
        )
        print(fake.url, flush=True)
        while True:
            signal.pause()


if __name__ == "__main__":
    sys.exit(main())
