"""The worker processes of `WORKERS=N` (gunicorn): uvicorn's worker, with new sockets spread.

gunicorn's workers all accept from the one listening socket its master opened, and whichever
is awake first takes what is waiting (asyncio accepts up to the whole backlog at once). A
WebSocket stays for its whole life on the process that accepted it, so measured with two
workers, 46 of 50 tabs lived on one process, which did the work of both while the other
idled (two processes completed 1.48x the turns of one instead of ~2x). After a restart every
tab reconnects in a burst: all 40 of a test's burst went to one worker.

Here each worker also listens on a socket of its own on the same address (`SO_REUSEPORT`,
which gunicorn's `--reuse-port` sets on the master's socket too): the kernel hands each new
connection to one socket of the group by a hash of its addresses, so the connections spread
evenly over the workers, whatever their timing. The master's shared socket still takes its
share (it is in the group too), served by every worker as before, one connection per wake-up.
A worker that dies takes its own socket with it (the kernel then spreads over the others);
gunicorn's replacement opens a new one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from uvicorn._compat import asyncio_run
from uvicorn_worker import UvicornWorker as _UvicornWorker

logger = logging.getLogger(__name__)

# Connections taken from the shared socket each time it is readable (asyncio's default: the
# whole backlog), so that a burst on it is not all taken by the first worker awake.
ACCEPTS_PER_WAKE = 1


def own_listeners(shared: list[Any], backlog: int) -> list[socket.socket]:
    """A socket of this process's own on each TCP address of `shared` (gunicorn's listeners),
    in the same `SO_REUSEPORT` group. None where the kernel or the shared socket refuses."""
    own = []
    for listener in shared:
        family = listener.family
        if family not in (socket.AF_INET, socket.AF_INET6) or not hasattr(socket, "SO_REUSEPORT"):
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(listener.getsockname())
            sock.listen(backlog)
            sock.setblocking(False)
        except OSError as exc:  # the shared socket without SO_REUSEPORT: share it alone
            logger.warning("No listening socket of this worker's own: %s", exc)
            sock.close()
            continue
        own.append(sock)
    return own


class SpreadingEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop whose servers accept `ACCEPTS_PER_WAKE` connections per readiness."""

    def _start_serving(
        self,
        protocol_factory: Any,
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        # `backlog` here is only how many connections one wake-up accepts: the server has
        # already called listen() with the real backlog (asyncio.base_events.Server).
        super()._start_serving(  # type: ignore[misc]
            protocol_factory, sock, sslcontext, server, ACCEPTS_PER_WAKE, *args, **kwargs
        )


class UvicornWorker(_UvicornWorker):
    """uvicorn's gunicorn worker, serving the shared socket and one of its own."""

    CONFIG_KWARGS = {"loop": "asyncio", "http": "auto"}

    def init_process(self) -> None:
        # After the fork, before gunicorn's own setup of the sockets and the serving loop.
        shared: list[Any] = list(self.sockets)  # type: ignore[has-type]  # gunicorn's, untyped
        self.sockets = [*shared, *own_listeners(shared, self.cfg.backlog)]
        super().init_process()

    def run(self) -> None:
        return asyncio_run(self._serve(), loop_factory=SpreadingEventLoop)
