"""A real daphne server (HTTP + WebSocket) in a forked process, for tests that need one:
browser tests, Server-Sent Events read by a real client, several processes.

It is forked while the test database is set up, so it inherits the test database's settings;
the test's connections are closed first so the child never shares their sockets. Tests that
use it need `transactional_db` (the server cannot see a test's open transaction).
"""

from __future__ import annotations

from functools import partial

from channels.testing.live import make_application
from daphne.testing import DaphneProcess
from django.conf import settings as django_settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.db import connections


def _use_database(name: str) -> None:
    # Runs in the server process. A no-op under fork (the name is inherited); it matters if
    # multiprocessing ever spawns instead, when settings are read afresh.
    django_settings.DATABASES["default"]["NAME"] = name


class LiveServer:
    """daphne serving catchat.asgi in a forked process."""

    def __init__(self) -> None:
        # Fork before anything else runs here (Chromium, Playwright's driver): a child forked
        # later inherits their pipes, and Playwright then waits forever for its driver to exit.
        connections.close_all()  # and never share an open database socket with the child
        self.process = DaphneProcess(
            host="127.0.0.1",
            get_application=partial(make_application, static_wrapper=ASGIStaticFilesHandler),
            setup=partial(_use_database, django_settings.DATABASES["default"]["NAME"]),
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
