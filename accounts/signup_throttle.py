"""The sign-up page's throttle: REST sign-up's own (DRF's ScopedRateThrottle, scope "register",
settings THROTTLE_REGISTER per client address, counted in Django's cache), so the page and
`auth/register/` spend one budget and neither is a way around the other."""

from __future__ import annotations

import math

from django.http import HttpRequest
from rest_framework.throttling import ScopedRateThrottle


class _RegisterScope:
    # What ScopedRateThrottle reads from a view: accounts.api.RegisterView's scope.
    throttle_scope = "register"


def wait_seconds(request: HttpRequest) -> int:
    """0 when a sign-up attempt may go ahead, and it is then counted (as DRF counts every request
    to `auth/register/`, whatever its outcome); else the seconds until one may.

    `request` must be anonymous: DRF counts a signed-in person by account, not by address.
    """
    throttle = ScopedRateThrottle()
    # allow_request reads only request.META and request.user, which a plain HttpRequest has.
    if throttle.allow_request(request, _RegisterScope):  # type: ignore[arg-type]
        return 0
    return max(math.ceil(throttle.wait() or 0), 1)


def refusal(wait: int) -> str:
    """What the sign-up page says when `wait_seconds` is not 0."""
    minutes = math.ceil(wait / 60)
    plural = "" if minutes == 1 else "s"
    return f"Too many sign-ups from your address. Please try again in {minutes} minute{plural}."
