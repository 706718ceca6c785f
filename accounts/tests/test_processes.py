"""Limits that hold across server processes: two daphne processes sharing one Redis cache count
log-in failures and token requests together (accounts/login_throttle.py, DRF's throttles).

The servers are forked from this test process (catchat.testing.live), so they run with its
settings: the cache is this test's own keys in Redis.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import User
from accounts.tests.factories import PASSWORD
from catchat.testing.live import LiveServer, live_servers

REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not REDIS_URL, reason="needs Redis: set REDIS_URL (CI does when Redis answers)"
    ),
]

TOKEN = "/api/v1/auth/token/"


@pytest.fixture
def two_servers(
    settings: SettingsWrapper, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveServer, LiveServer]]:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"catchat-test-{uuid.uuid4().hex[:8]}",  # this test's own keys
        }
    }
    # ScopedRateThrottle read the rates from settings at import: patch the class's copy (the
    # servers are forked after this, so they inherit it).
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "token": "7/min"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)
    with live_servers(2) as (first, second):
        yield first, second


def test_the_lockout_and_the_token_rate_hold_across_two_processes(
    two_servers: tuple[LiveServer, LiveServer], alice: User, bob: User
) -> None:
    first, second = two_servers

    def token(server: LiveServer, username: str, password: str) -> httpx.Response:
        body = {"username": username, "password": password}
        return httpx.post(server.url + TOKEN, json=body, timeout=10)

    # Five wrong passwords, alternating: each process sees only two or three of them.
    for n in range(5):
        assert token((first, second)[n % 2], "alice", "wrong password").status_code == 401
    locked = token(second, "alice", PASSWORD)
    assert locked.status_code == 429, locked.json()
    assert locked.json()["detail"].startswith("Too many failed log-in attempts.")
    assert int(locked.headers["Retry-After"]) > 0

    # Seven token requests a minute from this address, on both processes together.
    assert token(first, "bob", PASSWORD).status_code == 200
    throttled = token(second, "bob", PASSWORD)
    assert throttled.status_code == 429, throttled.json()
    assert throttled.json()["detail"].startswith("Request was throttled.")
    assert int(throttled.headers["Retry-After"]) > 0
