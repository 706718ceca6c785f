"""The log-in lockout: one set of counters for every way in with a password, the log-in page
(accounts.forms.LoginForm), the admin's log-in page (accounts.forms.AdminLoginForm) and the REST
token endpoint (accounts.api.TokenView), so failures at any of them count together.

After settings.LOGIN_LOCKOUT_FAILURES failed attempts for one username (whatever the client
address), or LOGIN_LOCKOUT_ADDRESS_FAILURES from one client address, within
LOGIN_LOCKOUT_MINUTES of the first of them, further attempts are refused (even with the right
password) until that window closes. Counters live in Django's cache: `add` and `incr` are atomic,
so parallel guesses are all counted. With REDIS_URL the cache is Redis, shared by every server
process; without it each process has its own local-memory cache and the limits hold per process.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def client_address(request: HttpRequest) -> str:
    """The client's address, trusting exactly NUM_PROXIES X-Forwarded-For entries (as the REST
    throttles do)."""
    # get_ident reads only request.META, which a plain HttpRequest has as well.
    return str(BaseThrottle().get_ident(request) or "")  # type: ignore[arg-type]


def _counters(*, username: str, address: str) -> list[tuple[str, int]]:
    # Hashed: a username may hold characters a cache backend refuses in keys.
    counters = []
    if username:
        digest = hashlib.sha256(username.casefold().encode()).hexdigest()
        counters.append((f"login-failures:user:{digest}", settings.LOGIN_LOCKOUT_FAILURES))
    if address:
        digest = hashlib.sha256(address.encode()).hexdigest()
        limit = settings.LOGIN_LOCKOUT_ADDRESS_FAILURES
        counters.append((f"login-failures:address:{digest}", limit))
    return counters


def _window() -> int:
    return settings.LOGIN_LOCKOUT_MINUTES * 60


def wait_seconds(*, username: str, address: str) -> int:
    """0 when an attempt may go ahead, else the seconds until the blocking window closes."""
    now = time.time()
    window = _window()
    wait = 0
    for key, limit in _counters(username=username, address=address):
        if cache.get(key, 0) >= limit:
            ends = cache.get(f"{key}:ends", now + window)
            wait = max(wait, math.ceil(ends - now), 1)
    return wait


def refusal(wait: int) -> str:
    """What a locked-out person is told, `wait` being wait_seconds()."""
    minutes = math.ceil(wait / 60)
    plural = "" if minutes == 1 else "s"
    return f"Too many failed log-in attempts. Please try again in {minutes} minute{plural}."


def record_failure(*, username: str, address: str) -> None:
    window = _window()
    for key, _ in _counters(username=username, address=address):
        # The first failure opens the window; later ones count within it (incr keeps the expiry).
        if cache.add(key, 1, timeout=window):
            cache.set(f"{key}:ends", time.time() + window, timeout=window)
            continue
        try:
            cache.incr(key)
        except ValueError:  # the window closed between add and incr
            cache.add(key, 1, timeout=window)


def forget_username(username: str) -> None:
    """After a successful log-in, that username's earlier typos no longer count (the address's
    do: logging into one's own account must not reset a guesser's budget)."""
    for key, _ in _counters(username=username, address=""):
        cache.delete_many([key, f"{key}:ends"])
