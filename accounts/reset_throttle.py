"""Limits on password reset e-mails, so the reset page is no way to flood someone's inbox or
to send mail in bulk from our server.

Per client address, at most settings.PASSWORD_RESET_ADDRESS_PER_HOUR requests an hour: over it
the page says so (429), the same whatever the address typed, so it reveals nothing. Per e-mail
address, at most settings.PASSWORD_RESET_EMAILS_PER_HOUR mails an hour: over it nothing is sent
and the page is the usual "check your e-mail", as for an address without an account. Counters
live in Django's cache (shared by every process with REDIS_URL), a fixed window of one hour.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache

WINDOW_S = 3600


def _spend(name: str, *, limit: int) -> bool:
    """Count one more under `name`; True while the hour's count is within `limit`."""
    # Hashed: an e-mail address may hold characters a cache backend refuses in keys.
    key = "password-reset:" + hashlib.sha256(name.encode()).hexdigest()
    if cache.add(key, 1, timeout=WINDOW_S):
        return limit >= 1
    try:
        count = cache.incr(key)
    except ValueError:  # the window closed between add and incr
        cache.add(key, 1, timeout=WINDOW_S)
        return limit >= 1
    return count <= limit


def address_allowed(address: str) -> bool:
    """Counts a reset request from `address` (the client's); False once over the hour's limit."""
    return _spend(f"address:{address}", limit=settings.PASSWORD_RESET_ADDRESS_PER_HOUR)


def email_allowed(email: str) -> bool:
    """Counts a reset mail to `email`; False once over the hour's limit."""
    return _spend(f"email:{email.casefold()}", limit=settings.PASSWORD_RESET_EMAILS_PER_HOUR)


REFUSAL = "Too many password reset requests from your address. Please try again in an hour."
