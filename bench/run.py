"""`make bench`: every benchmark section, each in a process of its own, into one JSON report
(`bench/results/report.json`) and one short table. See bench/README.md for how to read it.

    python -m bench.run            # the full run (~18 minutes on 2 cores, +1 the first time)
    python -m bench.run --smoke    # tiny sizes: proves it works (CI); its figures mean nothing
    python -m bench.run --only load chat

Sections: `chat` (time to first token and turns per second against the floor, two processes),
`capacity` (idle sockets, recall latency, SQL per turn, REST requests per second) and `load`
(many conversations on two workers: lost and stuck messages) and `recall` (LoCoMo's dev
split imported and asked through the recall API, beside its baselines) and `peer` (CatChat
beside Open WebUI, same run, same pinning; the peer skipped with its reason under --smoke or
when it cannot be installed). A section that crashes is reported as failed with its error;
the others still run. Exit status 1 when a section crashed or its own `failed(report)` says
what must never happen did: a chat turn lost or a delta gap (chat, peer), a part that crashed
(capacity), a message lost or a reply stuck (load). No timing is ever asserted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.common import RESULTS, ROOT, format_table

SECTIONS = ("chat", "capacity", "load", "recall", "peer")


def run_section(name: str, smoke: bool) -> dict[str, Any]:
    """Run `bench.<name>.run(smoke)` in a fresh interpreter (settings and event loops of its
    own) and return its report section, or a failure with the tail of its output."""
    out = RESULTS / f"{name}.section.json"
    out.unlink(missing_ok=True)
    code = (
        "import json, sys\n"
        f"from bench import {name} as section\n"
        f"report = section.run({smoke!r})\n"
        f"open({str(out)!r}, 'w').write(json.dumps(report, indent=2, default=str))\n"
    )
    began = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = round(time.monotonic() - began, 1)
    (RESULTS / f"{name}.section.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0 or not out.exists():
        tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
        return {"failed": True, "section_seconds": seconds, "error": "\n".join(tail)}
    report: dict[str, Any] = json.loads(out.read_text())
    report["section_seconds"] = seconds
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args(argv)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    RESULTS.mkdir(parents=True, exist_ok=True)

    report: dict[str, Any] = {"smoke": args.smoke, "failed_sections": [], "sections": {}}
    for name in args.only:
        print(f"== {name}{' (smoke)' if args.smoke else ''}", flush=True)
        section = run_section(name, args.smoke)
        report["sections"][name] = section
        if section.get("failed"):
            report["failed_sections"].append(name)
            print(f"   FAILED after {section['section_seconds']} s:", flush=True)
            print(section["error"], flush=True)
            continue
        module = importlib.import_module(f"bench.{name}")
        try:
            print(format_table(module.table(section), indent="   "), flush=True)
            # What must never happen in the section (a lost message, a crashed part); its
            # timings never fail the run.
            failed = bool(module.failed(section))
        except Exception as exc:  # a section's table must not lose the report
            print(f"   its table failed: {type(exc).__name__}: {exc}", flush=True)
            failed = True
        if failed:
            report["failed_sections"].append(name)
            print("   FAILED (see above and bench/results/report.json)", flush=True)
        print(f"   ({section['section_seconds']} s)", flush=True)
    out = RESULTS / "report.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"report: {out}")
    return 1 if report["failed_sections"] else 0


if __name__ == "__main__":
    sys.exit(main())
