"""The edges (issue 14): request bodies too big or too deep, and Redis or PostgreSQL unreachable.

Each answer is the API's own (`{"detail": ...}`, 413, 400 or 503 with Retry-After), never a
500 with a traceback, and never after reading a whole oversized body into memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client, override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from catchat import outages
from catchat.asgi import application

BASE_DIR = settings.BASE_DIR


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A local port that refuses connections (bound, never listening) for the whole test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# --- 1. Request bodies over REQUEST_MAX_BODY_BYTES ------------------------------------------


async def call(
    path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, dict[str, str], bytes, int]:
    """One HTTP request through the real ASGI app; the body arrives in `chunks` (as a chunked
    upload does). Returns status, headers, body, and how many chunks the app read."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            more = read < len(chunks)
            return {"type": "http.request", "body": chunks[read - 1], "more_body": more}
        await asyncio.Event().wait()  # the client stays connected (Django listens for a hang-up)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
        + (headers or []),
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    head = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], head, body, read


@override_settings(REQUEST_MAX_BODY_BYTES=10_000)
async def test_a_chunked_body_over_the_cap_is_a_413_before_the_rest_is_read() -> None:
    chunks = [b"x" * 1000] * 1000  # 1 MB, 100 times the cap

    status, head, body, read = await call("/api/v1/auth/token/", chunks)

    assert status == 413
    assert head["content-type"] == "application/json" and head["connection"] == "close"
    assert json.loads(body) == {
        "detail": "The request body is larger than this server accepts (10000 bytes at most)."
    }
    assert read == 11  # the chunk that crossed the cap, and not one more


@override_settings(REQUEST_MAX_BODY_BYTES=10_000)
async def test_a_content_length_over_the_cap_is_a_413_without_reading_the_body() -> None:
    status, head, body, read = await call(
        "/api/v1/auth/token/", [b"{}"], headers=[(b"content-length", b"300000000")]
    )

    assert (status, read) == (413, 0)
    assert "10000 bytes" in json.loads(body)["detail"]


@override_settings(REQUEST_MAX_BODY_BYTES=10_000)
async def test_outside_the_api_the_413_is_a_short_page() -> None:
    status, head, body, _ = await call("/accounts/login/", [b"x" * 20_000])

    assert status == 413
    assert head["content-type"].startswith("text/html") and b"10000 bytes" in body


@override_settings(REQUEST_MAX_BODY_BYTES=10_000)
async def test_a_body_within_the_cap_reaches_django() -> None:
    status, _, body, read = await call("/api/v1/no-such-thing/", [b"x" * 5000] * 2)

    assert (status, read) == (404, 2)
    assert json.loads(body) == {"detail": "Not found."}


def test_django_and_the_api_take_the_same_cap_as_the_asgi_app() -> None:
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.REQUEST_MAX_BODY_BYTES
    assert settings.REQUEST_MAX_BODY_BYTES >= 2_621_440  # an import document of 2.5 MB fits


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_the_api_refuses_a_body_over_djangos_cap_with_a_json_413() -> None:
    # Any way in other than the ASGI app (the test client here) meets Django's own check.
    response = APIClient().post(
        "/api/v1/auth/token/", b'"' + b"x" * 20_000 + b'"', content_type="application/json"
    )

    assert response.status_code == 413
    assert "10000 bytes" in response.json()["detail"]


# --- 2. Deeply nested or malformed JSON -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("[" * 100_000, "nested too deeply"),
        ('{"a":' * 100_000, "nested too deeply"),
        ("{'a", "JSON"),
    ],
)
def test_json_too_deep_or_malformed_is_a_json_400(body: str, says: str) -> None:
    response = APIClient().post("/api/v1/auth/token/", body, content_type="application/json")

    assert response.status_code == 400
    assert says in response.json()["detail"]


# --- 3. Redis unreachable -------------------------------------------------------------------


def _redis_at(port: int) -> dict[str, Any]:
    url = f"redis://127.0.0.1:{port}/0"
    return {
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "OPTIONS": settings.CACHES["default"].get("OPTIONS", {}),
            }
        },
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [{"address": url, "socket_timeout": None}]},
            }
        },
    }


@pytest.mark.django_db
def test_health_is_503_when_redis_is_unreachable(client: Client, closed_port: int) -> None:
    with override_settings(**_redis_at(closed_port)):
        started = time.monotonic()
        response = client.get("/api/v1/health/")

    assert response.status_code == 503
    assert response.json() | {"llm": "-"} == {
        "status": "degraded",
        "database": "ok",
        "channel_layer": "down",
        "cache": "down",
        "channel_layer_backend": "redis",
        "llm": "-",
    }
    assert time.monotonic() - started < 5


@pytest.mark.django_db
def test_tokens_and_sign_up_are_a_503_when_the_throttles_cache_is_unreachable(
    closed_port: int,
) -> None:
    api = APIClient()
    with override_settings(**_redis_at(closed_port)):
        token = api.post("/api/v1/auth/token/", {"username": "a", "password": "b"}, format="json")
        register = api.post("/api/v1/auth/register/", {"username": "a"}, format="json")

    for response in (token, register):
        assert response.status_code == 503
        assert response["Retry-After"] == str(outages.RETRY_AFTER_S)
        assert response.json() == {"detail": "The cache is unavailable; try again shortly."}


@pytest.mark.django_db
def test_the_log_in_page_is_a_503_when_its_cache_is_unreachable(closed_port: int) -> None:
    browser = Client()
    with override_settings(**_redis_at(closed_port)):
        response = browser.post("/accounts/login/", {"username": "a", "password": "b"})

    assert response.status_code == 503
    assert response["Retry-After"] == str(outages.RETRY_AFTER_S)
    assert b"The cache is unavailable" in response.content


def test_several_workers_refuse_to_start_without_a_reachable_redis(closed_port: int) -> None:
    env = {
        **os.environ,
        "WORKERS": "2",
        "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0",
        # Never reached: the check comes before the database is touched.
        "DATABASE_URL": f"postgres://x@127.0.0.1:{closed_port}/unused",
    }
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "catchat.serve"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode != 0
    assert "WORKERS > 1 needs a reachable Redis" in result.stderr
    assert f"127.0.0.1:{closed_port}" in result.stderr
    assert time.monotonic() - started < 15


# --- 4. PostgreSQL unreachable --------------------------------------------------------------


def test_database_waits_are_bounded_by_one_setting() -> None:
    options = connection.settings_dict["OPTIONS"]
    assert options["connect_timeout"] == settings.DATABASE_TIMEOUT_S
    assert options["pool"]["timeout"] == settings.DATABASE_TIMEOUT_S
    assert settings.DATABASE_TIMEOUT_S <= 10  # what the README promises


@pytest.mark.django_db(transaction=True)
def test_an_authenticated_request_is_a_quick_json_503_when_the_database_is_down(
    alice: User, closed_port: int
) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(alice)}")
    params = connection.settings_dict
    where = params["HOST"], params["PORT"]
    pool = params["OPTIONS"]["pool"]
    connection.close()
    connection.close_pool()  # type: ignore[attr-defined]  # the next one is made from params
    params["HOST"], params["PORT"] = "127.0.0.1", str(closed_port)
    pool["timeout"], waited = 1, pool["timeout"]  # DATABASE_TIMEOUT_S, small for the test
    try:
        started = time.monotonic()
        response = api.get("/api/v1/cats/")
        took = time.monotonic() - started
    finally:
        connection.close()
        connection.close_pool()  # type: ignore[attr-defined]
        params["HOST"], params["PORT"] = where
        pool["timeout"] = waited

    assert response.status_code == 503
    assert response["Retry-After"] == str(outages.RETRY_AFTER_S)
    assert response.json() == {"detail": "The database is unavailable; try again shortly."}
    assert took < 3  # one wait for a connection, not one per attempt
    assert api.get("/api/v1/cats/").status_code == 200  # and back once it is


def test_a_database_error_from_the_server_itself_stays_a_500() -> None:
    class Deadlock(Exception):
        sqlstate = "40P01"

    error = OperationalError("deadlock detected")
    error.__cause__ = Deadlock()

    assert outages.unavailable(error) is None
    refused = OperationalError("connection refused")
    refused.__cause__ = OSError()
    assert outages.unavailable(refused) == "The database is unavailable; try again shortly."


DAPHNE_WITH_THE_CAP = """
import os, sys
import django
django.setup()
from daphne.cli import CommandLineInterface
from catchat import serve
serve._cap_request_bodies(int(os.environ["REQUEST_MAX_BODY_BYTES"]))
CommandLineInterface().run(["-b", "127.0.0.1", "-p", sys.argv[1], "catchat.asgi:application"])
"""


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


def _post(port: int, path: bytes, chunks: Iterator[bytes]) -> bytes:
    """A chunked POST; stops sending when the server hangs up. Returns the response."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" % path
        )
        try:
            for chunk in chunks:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        return sock.recv(4096)


def test_daphne_stops_storing_a_body_past_the_cap(closed_port: int) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": str(BASE_DIR),
        "DJANGO_SETTINGS_MODULE": "catchat.settings",
        "REQUEST_MAX_BODY_BYTES": "100000",
        "CHAT_SWEEP": "false",
        "DATABASE_URL": f"postgres://x@127.0.0.1:{closed_port}/unused",  # never reached
    }
    server = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", DAPHNE_WITH_THE_CAP, str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "daphne did not start"
                time.sleep(0.1)
        before = _rss_kb(server.pid)

        huge = _post(port, b"/api/v1/auth/token/", (b"x" * 65536 for _ in range(1600)))  # 100 MB
        small = _post(port, b"/api/v1/no-such-thing/", iter([b"x" * 50_000]))

        assert huge.startswith(b"HTTP/1.1 413 ")
        assert b'{"detail": "The request body is larger than this server accepts' in huge
        assert _rss_kb(server.pid) - before < 20_000  # kB: the body was not kept
        assert small.startswith(b"HTTP/1.1 404 ")  # within the cap it reaches Django
    finally:
        server.terminate()
        server.wait(10)
