"""Log-in throttling for the HTML log-in form (accounts.forms.LoginForm).

After USERNAME_LIMIT failed attempts for one username, or ADDRESS_LIMIT from one client address,
within WINDOW_SECONDS of the first of them, further attempts are refused (even with the right
password) until that window closes. Counters live in Django's cache: `add` and `incr` are atomic,
so parallel guesses are all counted. Each process has its own local-memory cache, so with several
server processes the limits hold per process unless CACHES is shared (Redis).
"""

from __future__ import annotations

import hashlib
import math
import time

from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

USERNAME_LIMIT = 5
ADDRESS_LIMIT = 20
WINDOW_SECONDS = 15 * 60


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
        counters.append((f"login-failures:user:{digest}", USERNAME_LIMIT))
    if address:
        digest = hashlib.sha256(address.encode()).hexdigest()
        counters.append((f"login-failures:address:{digest}", ADDRESS_LIMIT))
    return counters


def wait_seconds(*, username: str, address: str) -> int:
    """0 when an attempt may go ahead, else the seconds until the blocking window closes."""
    now = time.time()
    wait = 0
    for key, limit in _counters(username=username, address=address):
        if cache.get(key, 0) >= limit:
            ends = cache.get(f"{key}:ends", now + WINDOW_SECONDS)
            wait = max(wait, math.ceil(ends - now), 1)
    return wait


def record_failure(*, username: str, address: str) -> None:
    for key, _ in _counters(username=username, address=address):
        # The first failure opens the window; later ones count within it (incr keeps the expiry).
        if cache.add(key, 1, timeout=WINDOW_SECONDS):
            cache.set(f"{key}:ends", time.time() + WINDOW_SECONDS, timeout=WINDOW_SECONDS)
            continue
        try:
            cache.incr(key)
        except ValueError:  # the window closed between add and incr
            cache.add(key, 1, timeout=WINDOW_SECONDS)


def forget_username(username: str) -> None:
    """After a successful log-in, that username's earlier typos no longer count (the address's
    do: logging into one's own account must not reset a guesser's budget)."""
    for key, _ in _counters(username=username, address=""):
        cache.delete_many([key, f"{key}:ends"])
