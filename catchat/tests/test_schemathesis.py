"""schemathesis against the API's own OpenAPI document: generated requests (valid and not) to
every operation, as a signed-in user who owns a cat with a conversation and memories. No answer
may be a server error, and every answer must match the schema it is documented with.

In-process (WSGI, the test's own database transaction): fast, and the data each example
creates is rolled back with the test. `DELETE me/` is left out, since it would end the session
for every example after it (it has its own tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

from accounts.models import User
from cats.services.cats import memory_profile
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.services import memory_create

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application()).exclude(
    method="DELETE", path="/api/v1/me/"
)


@pytest.fixture
def keep_test_connection() -> Iterator[None]:
    # The WSGI handler closes a connection that is not in autocommit at each request's start
    # and end: here that is the test's transaction. Django's test client does the same.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def signed_in(alice: User, keep_test_connection: None) -> dict[str, str]:
    cat = CatFactory.create(owner=alice)
    conversation = ConversationFactory.create(cat=cat)
    message = MessageFactory.create(conversation=conversation, text="I love sushi")
    memory_create(profile=memory_profile(cat), text="Loves sushi", source_message_id=message.pk)
    return {"Authorization": f"Bearer {AccessToken.for_user(alice)}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_keeps_to_its_schema(case: Any, signed_in: dict[str, str]) -> None:
    case.call_and_validate(
        headers=signed_in,
        checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
    )
