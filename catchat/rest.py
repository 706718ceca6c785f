"""Project-wide REST API conventions (DRF), wired in through settings.REST_FRAMEWORK.

Every error a client sees has one of two shapes: `{"detail": ...}`, or for a 400 the field
errors `{"<field>": ["..."]}` (DRF's own). Someone else's object is a 404, never a 403.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from catchat import body_limit, outages

logger = logging.getLogger(__name__)


class RequestTooLarge(APIException):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE (= REQUEST_MAX_BODY_BYTES), met by a way in
    other than the ASGI app, which refuses it earlier (catchat.body_limit)."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler (which also turns Http404/PermissionDenied into responses and keeps the
    `WWW-Authenticate` header of a 401), with bare lists wrapped as `{"detail": [...]}`:
    `raise ValidationError("...")` would otherwise answer a JSON array.

    An unreachable cache (throttles count in Redis) or database is a 503 with Retry-After
    (catchat.outages). Returns None for other exceptions DRF does not know, so a server error
    stays a server error.
    """
    if isinstance(exc, RequestDataTooBig):  # Django's own check, as DRF reads `request.body`
        exc = RequestTooLarge(body_limit.too_large_message(settings.DATA_UPLOAD_MAX_MEMORY_SIZE))
    outage = outages.unavailable(exc)
    if outage is not None:
        request = context.get("request")
        logger.error("%s: %s (%r)", getattr(request, "path", "?"), outage, exc)
        return Response(
            {"detail": outage},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(outages.RETRY_AFTER_S)},
        )
    response = drf_exception_handler(exc, context)
    if response is not None and not isinstance(response.data, dict):
        response.data = {"detail": response.data}
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: under /api/ an unknown address answers JSON like every other API error."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception or Http404())


_paginated: dict[type[serializers.BaseSerializer], type[serializers.Serializer]] = {}


def paginated(item: type[serializers.BaseSerializer]) -> type[serializers.Serializer]:
    """The OpenAPI shape of a cursor-paginated list of `item` (`{"results", "next",
    "previous"}`), for views that paginate by hand (`extend_schema(responses=...)`)."""
    if item not in _paginated:
        name = item.__name__.removesuffix("Serializer")
        _paginated[item] = type(
            f"Paginated{name}ListSerializer",
            (serializers.Serializer,),
            {
                "results": item(many=True),
                "next": serializers.URLField(allow_null=True, help_text="The next page, if any."),
                "previous": serializers.URLField(
                    allow_null=True, help_text="The previous page, if any."
                ),
            },
        )
    return _paginated[item]


class ErrorSerializer(serializers.Serializer):
    """Every error that is not a field error: `{"detail": ...}` (see `exception_handler`)."""

    detail = serializers.CharField()
    code = serializers.CharField(
        required=False, help_text="A machine-readable reason, for token errors."
    )


# The OpenAPI schema of a 400: field errors `{"<field>": ["message", ...]}`, or `{"detail": ...}`
# when the body is not JSON at all.
FIELD_ERRORS_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]
    },
}
