"""The REST API's error shape (catchat.rest, wired in through settings.REST_FRAMEWORK)."""

from __future__ import annotations

from django.http import Http404
from rest_framework import exceptions

from catchat.rest import exception_handler


def test_a_bare_validation_error_is_wrapped_as_detail() -> None:
    response = exception_handler(exceptions.ValidationError("That is not a cat."), {})

    assert response is not None
    assert response.status_code == 400
    assert response.data == {"detail": ["That is not a cat."]}


def test_field_errors_and_details_keep_their_shape() -> None:
    fields = exception_handler(exceptions.ValidationError({"action": ["Pick one."]}), {})
    missing = exception_handler(Http404("No such cat."), {})

    assert fields is not None and fields.data == {"action": ["Pick one."]}
    assert missing is not None and missing.status_code == 404
    assert missing.data == {"detail": "No such cat."}


def test_an_unexpected_exception_stays_a_server_error() -> None:
    assert exception_handler(RuntimeError("bug"), {}) is None
