"""A real daphne server (HTTP + WebSocket) in a forked process, for tests that need one:
browser tests, Server-Sent Events read by a real client, several processes.

It is forked while the test database is set up, so it inherits the test database's settings;
the test's connections are closed first so the child never shares their sockets. Tests that
use it need `transactional_db` (the server cannot see a test's open transaction).
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from channels.layers import channel_layers
from channels.testing.live import make_application
from daphne.testing import DaphneProcess
from django.conf import settings as django_settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.db import connections


def _in_server_process(name: str, then: Callable[[], None] | None = None) -> None:
    # The database name: a no-op under fork (inherited); it matters if multiprocessing ever
    # spawns instead, when settings are read afresh.
    django_settings.DATABASES["default"]["NAME"] = name
    # A channel layer of its own: one inherited from this test process would share its Redis
    # client prefix (and connections) with every other server forked from it, and they would
    # take each other's messages.
    channel_layers.backends.clear()
    # SIGTERM ends the server at once, as daphne's own process does without signal handlers
    # (the test process's handler, inherited, would raise inside the reactor).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if then is not None:
        then()


class LiveServer:
    """daphne serving catchat.asgi in a forked process."""

    def __init__(self, setup: Callable[[], None] | None = None) -> None:
        """`setup`, if given, runs in the server process just before it serves."""
        # Fork before anything else runs here (Chromium, Playwright's driver): a child forked
        # later inherits their pipes, and Playwright then waits forever for its driver to exit.
        # Never share an open database socket with the child: close this process's connections
        # and its pool (whose idle connections the child would otherwise inherit and use too).
        connections.close_all()
        wrapper = connections["default"]
        if hasattr(wrapper, "close_pool"):  # PostgreSQL's
            wrapper.close_pool()
        self.process = DaphneProcess(
            host="127.0.0.1",
            get_application=partial(make_application, static_wrapper=ASGIStaticFilesHandler),
            setup=partial(_in_server_process, django_settings.DATABASES["default"]["NAME"], setup),
        )
        self.process.start()
        if not self.process.ready.wait(timeout=20):
            detail = "" if self.process.errors.empty() else self.process.errors.get(False)[1]
            self.stop()
            raise RuntimeError(f"daphne did not start:\n{detail}")
        self.port: int = self.process.port.value

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, as in a crash (nothing of it runs any more)."""
        self.process.kill()
        self.process.join(timeout=10)


@contextmanager
def live_servers(count: int) -> Iterator[list[LiveServer]]:
    """`count` servers, each stopped at the end; if one fails to start, those already started
    are stopped before the error goes on."""
    servers: list[LiveServer] = []
    try:
        for _ in range(count):
            servers.append(LiveServer())
        yield servers
    finally:
        for server in servers:
            server.stop()


def redis_channel_layer(url: str) -> dict[str, Any]:
    """CHANNEL_LAYERS for servers forked from now on: a shared Redis layer under a prefix of
    this test's own."""
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, "socket_timeout": None}],
                "capacity": 1000,
                "prefix": f"catchat-test-{uuid.uuid4().hex[:8]}",
            },
        }
    }
