"""The API's own documents: `health/`, the OpenAPI schema at `schema/` and Swagger UI at `docs/`."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client

pytestmark = pytest.mark.django_db

REDIS_LAYER = "channels_redis"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    out = StringIO()
    # --validate checks the document against the OpenAPI 3 meta-schema; --fail-on-warn turns
    # every view drf-spectacular could not describe into a failure.
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    document: dict[str, Any] = yaml.safe_load(out.getvalue())
    return document


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_health_reports_each_part(client: Client) -> None:
    response = client.get("/api/v1/health/")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "channel_layer": "ok",
        "cache": "ok",
        # CI runs the suite on the Redis layer when Redis answers (REDIS_URL).
        "channel_layer_backend": "redis"
        if REDIS_LAYER in str(settings.CHANNEL_LAYERS)
        else "in-memory",
        "llm": "offline",
    }


@pytest.mark.django_db(transaction=True)
def test_health_is_503_when_the_database_is_down(client: Client) -> None:
    params = connection.settings_dict
    where = params["HOST"], params["PORT"]
    pool = params["OPTIONS"]["pool"]
    connection.close()
    connection.close_pool()  # type: ignore[attr-defined]  # the next one is made from params
    params["HOST"], params["PORT"] = "127.0.0.1", "1"  # nothing listens there
    pool["timeout"], waited = 1, pool["timeout"]  # how long a request waits for a connection
    try:
        response = client.get("/api/v1/health/")
    finally:
        connection.close()
        connection.close_pool()  # type: ignore[attr-defined]
        params["HOST"], params["PORT"] = where
        pool["timeout"] = waited
    assert response.status_code == 503
    assert response.json()["status"] == "down" and response.json()["database"] == "down"
    assert client.get("/api/v1/health/").status_code == 200  # and back once it is


def test_the_schema_is_served_and_valid(client: Client, schema: dict[str, Any]) -> None:
    response = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
    assert response.json()["paths"].keys() == schema["paths"].keys()


def test_every_route_of_the_contract_is_documented(schema: dict[str, Any]) -> None:
    documented = {(path, method) for path, method, _ in operations(schema)}
    contract = {
        ("/api/v1/health/", "get"),
        ("/api/v1/auth/register/", "post"),
        ("/api/v1/auth/token/", "post"),
        ("/api/v1/auth/token/refresh/", "post"),
        ("/api/v1/auth/logout/", "post"),
        ("/api/v1/me/", "get"),
        ("/api/v1/me/", "patch"),
        ("/api/v1/me/", "delete"),
        ("/api/v1/me/export/", "get"),
        ("/api/v1/cats/", "get"),
        ("/api/v1/cats/", "post"),
        ("/api/v1/cats/{id}/", "get"),
        ("/api/v1/cats/{id}/", "patch"),
        ("/api/v1/cats/{id}/", "delete"),
        ("/api/v1/cats/{id}/state/", "get"),
        ("/api/v1/cats/{id}/actions/", "post"),
        ("/api/v1/cats/{id}/conversations/", "get"),
        ("/api/v1/cats/{id}/conversations/", "post"),
        ("/api/v1/conversations/{id}/", "get"),
        ("/api/v1/conversations/{id}/", "patch"),
        ("/api/v1/conversations/{id}/", "delete"),
        ("/api/v1/conversations/{id}/messages/", "get"),
        ("/api/v1/chat/", "post"),
        ("/api/v1/cats/{id}/memory-profile/", "get"),
        ("/api/v1/cats/{id}/memories/", "get"),
        ("/api/v1/cats/{id}/memories/", "post"),
        ("/api/v1/memories/{id}/", "get"),
        ("/api/v1/memories/{id}/", "patch"),
        ("/api/v1/memories/{id}/", "delete"),
        ("/api/v1/memories/{id}/history/", "get"),
        ("/api/v1/cats/{id}/recall/", "get"),
        ("/api/v1/cats/{id}/import/", "post"),
    }
    # Path parameters are named after what they are (cat_id, memory_id...): compare shapes.
    normalized = {(_shape(path), method) for path, method in documented}
    assert {(_shape(path), method) for path, method in contract} <= normalized


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{id}", path)


def test_every_operation_has_schemas_and_an_example(schema: dict[str, Any]) -> None:
    missing = []
    for path, method, operation in operations(schema):
        contents = [
            content
            for response in operation["responses"].values()
            for content in response.get("content", {}).values()
        ]
        body = operation.get("requestBody", {}).get("content", {})
        if method in {"post", "patch"} and not body:
            missing.append(f"{method} {path}: no request schema")
        answers = [code for code in operation["responses"] if code.startswith("2")]
        if not any(code == "204" for code in answers) and not any(
            "schema" in content for content in contents
        ):
            missing.append(f"{method} {path}: no response schema")
        examples = [c for c in [*contents, *body.values()] if "examples" in c or "example" in c]
        if (contents or body) and not examples:
            missing.append(f"{method} {path}: no example")
    assert not missing, "\n".join(missing)


def test_swagger_ui_is_served_without_any_cdn(client: Client) -> None:
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "/api/v1/schema/" in html
    assert "cdn" not in html.lower() and "https://" not in html
