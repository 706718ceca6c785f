"""What the bench sections (`bench.chat`, `bench.capacity`, `bench.load`) share: where results
go, the environment the bench serves in, starting and stopping processes, percentiles, tables."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# Served as in production (DEBUG=true would record every query), over plain http locally, on a
# database of the bench's own (never the data of `make run`).
SERVED_AS_PRODUCTION = {
    "DEBUG": "false",
    "SECURE_SSL_REDIRECT": "false",
    "EMBEDDED_DATABASE_NAME": "catchat_bench",
    "DJANGO_SETTINGS_MODULE": "catchat.settings",
}


def serve_as_production() -> None:
    """This process's environment (and so its servers') as SERVED_AS_PRODUCTION says, with a
    throwaway SECRET_KEY unless one is set."""
    os.environ.update(SERVED_AS_PRODUCTION)
    os.environ.setdefault("SECRET_KEY", "bench-" + uuid.uuid4().hex * 2)


# --- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(
    port: int, server: subprocess.Popen[Any] | None = None, timeout: float = 90
) -> None:
    """Until `/api/v1/health/` answers 200 on `port`; RuntimeError when `server` exits first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health/", timeout=2) as r:  # noqa: S310
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server on port {port} did not become healthy")


def terminate(process: subprocess.Popen[Any] | None, timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def start_fake_mistral(tokens: int, token_delay_ms: float) -> tuple[subprocess.Popen[str], str]:
    """The fake Mistral server (bench.fake_server) in a process of its own, and its URL."""
    fake = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.fake_server", "--tokens", str(tokens)]
        + ["--token-delay-ms", str(token_delay_ms)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert fake.stdout is not None  # noqa: S101 - stdout=PIPE
    return fake, fake.stdout.readline().strip()


def pinned(command: list[str], cpus: set[int] | None) -> list[str]:
    """`command` run on `cpus` only (`taskset -c`; the affinity is inherited by its threads and
    children), or as it is when `cpus` is None."""
    if cpus is None:
        return command
    return ["taskset", "-c", ",".join(str(c) for c in sorted(cpus)), *command]


def pin(pid: int, cpus: set[int]) -> None:
    """Move every thread of process `pid` to `cpus` (`taskset -a -p`): `os.sched_setaffinity`
    moves one thread only. Threads started later inherit their creator's affinity."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except (ProcessLookupError, FileNotFoundError):
            pass  # the thread ended meanwhile


def cpu_seconds(pid: int, *, children: bool = False) -> float | None:
    """User + system CPU seconds of process `pid`, all its threads (with `children`: plus its
    children that exited and were waited for); None when it is gone."""
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    total = times.user + times.system
    if children:
        total += times.children_user + times.children_system
    return total


def raise_open_files() -> int:
    """Raise this process's open-files limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- figures -------------------------------------------------------------------------------------


def percentile(values: list[float], share: float, digits: int = 1) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], digits)


def spread(values: list[float], digits: int = 1) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 0.5, digits),
        "p95": percentile(values, 0.95, digits),
        "p99": percentile(values, 0.99, digits),
    }


def format_table(rows: list[tuple[str, str]], indent: str = "") -> str:
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{indent}{label:<{width}}  {value}" for label, value in rows)


def save_and_print(report: dict[str, Any], out: str | Path, rows: list[tuple[str, str]]) -> None:
    """A section run on its own (`python -m bench.<section>`): its JSON report and its table."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(format_table(rows))
    print(f"report: {path}")
