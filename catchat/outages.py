"""When a backing service is down, say so: a 503 with Retry-After, not a 500 and a traceback.

Redis (the cache that counts throttles and log-in attempts) and PostgreSQL can be unreachable
while this process runs. `unavailable(exc)` recognises those failures; the REST exception handler
(catchat.rest) and `OutageMiddleware` (HTML pages such as log-in and sign-up) answer them with 503.
Any other error stays a 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

# Seconds a client is told to wait before trying again.
RETRY_AFTER_S = 10


def unavailable(exc: BaseException) -> str | None:
    """What is down, as a sentence for the client, when `exc` says a backing service is
    unreachable; None for any other error (a bug stays a 500)."""
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return "The cache is unavailable; try again shortly."
    if isinstance(exc, InterfaceError):
        return "The database is unavailable; try again shortly."
    # A server-side error (deadlock, statement timeout) carries an SQLSTATE; failing to connect,
    # a pool timeout or a dropped connection does not.
    if isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) is None:
        return "The database is unavailable; try again shortly."
    return None


def unavailable_response(request: HttpRequest, message: str) -> HttpResponse:
    """503 with Retry-After: `{"detail": ...}` under /api/, a short page elsewhere."""
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(
            f"<!doctype html><title>503</title><h1>Unavailable</h1><p>{message}</p>\n",
            status=503,
            content_type="text/html; charset=utf-8",
        )
    response["Retry-After"] = str(RETRY_AFTER_S)
    return response


class OutageMiddleware:
    """Turns an unreachable cache or database met by a Django view into a 503 page (DRF views
    are answered by catchat.rest.exception_handler before this sees them)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        message = unavailable(exception)
        if message is None:
            return None
        logger.error("%s %s: %s (%r)", request.method, request.path, message, exception)
        return unavailable_response(request, message)
