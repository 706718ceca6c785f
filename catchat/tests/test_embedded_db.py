"""The embedded PostgreSQL: dead processes do not keep it alive, signals stop it, pgvector works."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from django.db import connection

from catchat.embedded_db import HANDLE_PIDS_FILENAME, prune_dead_pids

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_dead_pids_are_pruned_and_live_ones_kept(tmp_path: Path) -> None:
    handle_file = tmp_path / HANDLE_PIDS_FILENAME
    dead = _dead_pid()
    handle_file.write_text(json.dumps([dead, os.getpid()]))

    assert prune_dead_pids(handle_file) == [dead]
    assert json.loads(handle_file.read_text()) == [os.getpid()]


def test_a_zombie_counts_as_dead(tmp_path: Path) -> None:
    # A SIGKILLed process nobody has reaped yet still has its pid: it must not keep the server up.
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        handle_file = tmp_path / HANDLE_PIDS_FILENAME
        handle_file.write_text(json.dumps([zombie.pid]))

        assert prune_dead_pids(handle_file) == [zombie.pid]
        assert json.loads(handle_file.read_text()) == []
    finally:
        zombie.wait()


def test_pruning_leaves_a_list_of_live_pids_untouched(tmp_path: Path) -> None:
    handle_file = tmp_path / HANDLE_PIDS_FILENAME
    handle_file.write_text(json.dumps([os.getpid()]))
    before = handle_file.stat().st_mtime_ns

    assert prune_dead_pids(handle_file) == []
    assert handle_file.stat().st_mtime_ns == before


def test_a_missing_list_is_not_created(tmp_path: Path) -> None:
    assert prune_dead_pids(tmp_path / HANDLE_PIDS_FILENAME) == []
    assert not (tmp_path / HANDLE_PIDS_FILENAME).exists()


def test_a_list_cut_short_is_reset(tmp_path: Path) -> None:
    handle_file = tmp_path / HANDLE_PIDS_FILENAME
    handle_file.write_text("[123, 45")

    assert prune_dead_pids(handle_file) == []
    assert json.loads(handle_file.read_text()) == []


_HOLDER = """
import sys, time
from pathlib import Path
from catchat.embedded_db import start_server
server = start_server(Path(sys.argv[1]))
print(server.get_postmaster_info().pid, flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def postmasters() -> Iterator[list[int]]:
    """Pids of servers a test started: whatever a failing test left running is shut down."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            _wait_gone(pid)


def _start_holder(
    pgdata: Path, seconds: float, postmasters: list[int]
) -> tuple[subprocess.Popen[str], int]:
    """A process using the embedded server on `pgdata`; returns it and the postmaster's pid."""
    holder = subprocess.Popen(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", _HOLDER, str(pgdata), str(seconds)],
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    line = holder.stdout.readline()
    assert line.strip().isdigit(), f"the holder did not start the server: {line!r}"
    postmasters.append(int(line))
    return holder, int(line)


def _wait_gone(pid: int, timeout: float = 10) -> bool:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return False
    return True


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_the_server_and_sigkill_does_not_keep_it_alive(
    tmp_path: Path, postmasters: list[int]
) -> None:
    pgdata = tmp_path / "pgdata"

    holder, postmaster = _start_holder(pgdata, 60, postmasters)
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(10) == 128 + signal.SIGTERM
    assert _wait_gone(postmaster), "SIGTERM left the server running"

    killed, postmaster = _start_holder(pgdata, 60, postmasters)
    killed.kill()
    killed.wait(10)
    assert psutil.pid_exists(postmaster)  # nothing could stop it: the next user must

    last, same_postmaster = _start_holder(pgdata, 0, postmasters)
    assert same_postmaster == postmaster  # attached, not restarted
    assert last.wait(10) == 0
    assert _wait_gone(postmaster), "a SIGKILLed process kept the server running"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_the_last_live_user_stops_the_server_though_another_was_killed(
    tmp_path: Path, postmasters: list[int]
) -> None:
    # No process starts after the kill (a start prunes dead pids): the survivor's exit must.
    pgdata = tmp_path / "pgdata"
    survivor, postmaster = _start_holder(pgdata, 8, postmasters)
    killed, same_postmaster = _start_holder(pgdata, 60, postmasters)
    assert same_postmaster == postmaster
    killed.kill()
    killed.wait(10)

    assert survivor.wait(30) == 0
    assert _wait_gone(postmaster), "a killed process's pid kept the server running"


@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="DATABASE_URL points at another PostgreSQL, which may lack pgvector",
)
@pytest.mark.django_db
def test_the_django_database_has_pgvector() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        cursor.execute("SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector")
        (distance,) = cursor.fetchone()

    assert distance == 2.0
