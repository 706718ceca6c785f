"""`WORKERS=N`: gunicorn's worker processes share new connections, even in a burst (a restart,
a crowd of tabs), instead of the first one awake taking them all for their whole life."""

from __future__ import annotations

import collections
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from catchat import serve
from catchat.settings import BASE_DIR

BURST = 60
Burst = Callable[[str], collections.Counter[int]]  # worker class -> connections per pid


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _gunicorn(port: int, worker_class: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "catchat.testing.pid_app:app",
        "--worker-class",
        worker_class,
        "--workers",
        "2",
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        str(serve.LISTEN_BACKLOG),
        "--reuse-port",
    ]


def _pid_of_a_request(sock: socket.socket) -> int:
    sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.split(b"\r\n\r\n", 1)[1]:
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {reply!r}"
        reply += chunk
    return int(reply.split(b"\r\n\r\n", 1)[1])


def _workers_up(port: int, timeout: float = 30) -> set[int]:
    """The pids of both workers, once each has answered a connection of its own."""
    seen: set[int] = set()
    began = time.monotonic()
    while len(seen) < 2:
        assert time.monotonic() - began < timeout, f"workers seen: {seen}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                seen.add(_pid_of_a_request(sock))
        except OSError:
            time.sleep(0.1)
    return seen


@pytest.fixture
def burst_on() -> Iterator[Burst]:
    started: list[subprocess.Popen[bytes]] = []

    def run(worker_class: str) -> collections.Counter[int]:
        port = free_port()
        server = subprocess.Popen(  # noqa: S603 - our own interpreter
            _gunicorn(port, worker_class),
            cwd=BASE_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(server)
        workers = _workers_up(port)
        time.sleep(0.5)  # both back in their accept wait
        # Connected all at once: the kernel completes them all before any worker wakes.
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(BURST)]
        try:
            pids = collections.Counter(_pid_of_a_request(sock) for sock in socks)
        finally:
            for sock in socks:
                sock.close()
        assert set(pids) <= workers
        return pids

    yield run
    for server in started:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_a_burst_of_connections_is_shared_by_the_workers(burst_on: Burst) -> None:
    pids = burst_on("catchat.workers.UvicornWorker")
    # Spread by a hash of each connection's addresses: about a third on each worker's own
    # socket, the shared socket's third to either; uvicorn's own worker gave all to one.
    assert len(pids) == 2, pids
    assert min(pids.values()) >= BURST // 8, pids


def test_the_servers_workers_are_the_spreading_ones() -> None:
    command = serve.gunicorn_command(host="127.0.0.1", port=8000, count=2, grace=5)
    assert command[command.index("--worker-class") + 1] == "catchat.workers.UvicornWorker"
    assert "--reuse-port" in command
