"""Project-wide REST API conventions (DRF), wired in through settings.REST_FRAMEWORK.

Every error a client sees has one of two shapes: `{"detail": ...}`, or for a 400 the field
errors `{"<field>": ["..."]}` (DRF's own). Someone else's object is a 404, never a 403.
"""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (which also turns Http404/PermissionDenied into responses and keeps the
    `WWW-Authenticate` header of a 401), with bare lists wrapped as `{"detail": [...]}`:
    `raise ValidationError("...")` would otherwise answer a JSON array.

    Returns None for exceptions DRF does not know, so a server error stays a server error.
    """
    response = drf_exception_handler(exc, context)
    if response is not None and not isinstance(response.data, dict):
        response.data = {"detail": response.data}
    return response
