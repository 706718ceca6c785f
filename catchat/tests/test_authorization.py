"""The authorization matrix of the REST API: for every route and method that names an object,
alice asking for bob's object gets a 404 (never a 403 that would confirm it exists), and bob's
data is exactly as it was. Lists and the export never show bob's objects.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from cats.models import CareEvent, Cat, Conversation, Message
from cats.services.cats import memory_profile
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.models import Memory, MemoryHistory, MemoryProfile
from memories.services import memory_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(alice: User, bob: User) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    for who, user in (("alice", alice), ("bob", bob)):
        cat = CatFactory.create(owner=user, name=f"{who}'s cat")
        conversation = ConversationFactory.create(cat=cat, title=f"{who}'s chat")
        message = MessageFactory.create(conversation=conversation, text=f"{who} says hi")
        memory = memory_create(
            profile=memory_profile(cat), text=f"{who} loves sushi", source_message_id=message.pk
        )
        ids[who] = {"cat": cat.pk, "conversation": conversation.pk, "memory": memory.pk}
    return ids


def snapshot(user: User) -> dict[str, list[Any]]:
    """Every row of `user`'s, as values: what must not change."""
    return {
        "cats": list(Cat.objects.filter(owner=user).order_by("pk").values()),
        "conversations": list(Conversation.objects.filter(cat__owner=user).order_by("pk").values()),
        "messages": list(
            Message.objects.filter(conversation__cat__owner=user).order_by("pk").values()
        ),
        "care": list(CareEvent.objects.filter(cat__owner=user).order_by("pk").values()),
        "profiles": list(MemoryProfile.objects.filter(user=user).order_by("pk").values()),
        "memories": list(
            Memory.objects.filter(profile__user=user)
            .order_by("pk")
            .values("pk", "text", "status", "pinned", "category", "importance")
        ),
        "history": list(
            MemoryHistory.objects.filter(memory__profile__user=user).order_by("pk").values()
        ),
    }


# (method, path template, body): every route that names an object of someone's.
MATRIX: list[tuple[str, str, dict[str, Any] | None]] = [
    ("get", "/api/v1/cats/{cat}/", None),
    ("patch", "/api/v1/cats/{cat}/", {"name": "Stolen"}),
    ("delete", "/api/v1/cats/{cat}/", None),
    ("get", "/api/v1/cats/{cat}/state/", None),
    ("post", "/api/v1/cats/{cat}/actions/", {"action": "feed"}),
    ("get", "/api/v1/cats/{cat}/conversations/", None),
    ("post", "/api/v1/cats/{cat}/conversations/", {"title": "Mine now"}),
    ("get", "/api/v1/conversations/{conversation}/", None),
    ("patch", "/api/v1/conversations/{conversation}/", {"title": "Renamed"}),
    ("delete", "/api/v1/conversations/{conversation}/", None),
    ("get", "/api/v1/conversations/{conversation}/messages/", None),
    ("post", "/api/v1/chat/", {"cat": "{cat}", "message": "hi"}),
    (
        "post",
        "/api/v1/chat/",
        {"cat": "{own_cat}", "conversation": "{conversation}", "message": "x"},
    ),
    ("get", "/api/v1/cats/{cat}/memory-profile/", None),
    ("patch", "/api/v1/cats/{cat}/memory-profile/", {"enabled": False}),
    ("get", "/api/v1/cats/{cat}/memories/", None),
    ("get", "/api/v1/cats/{cat}/memories/?q=sushi&status=all", None),
    ("post", "/api/v1/cats/{cat}/memories/", {"text": "Planted"}),
    ("get", "/api/v1/memories/{memory}/", None),
    ("patch", "/api/v1/memories/{memory}/", {"text": "Changed", "pinned": True}),
    ("delete", "/api/v1/memories/{memory}/", None),
    ("get", "/api/v1/memories/{memory}/history/", None),
]


def _fill(value: Any, names: dict[str, int]) -> Any:
    if isinstance(value, str):
        for key, number in names.items():
            if value == "{" + key + "}":
                return number
        return value.format(**names)
    if isinstance(value, dict):
        return {key: _fill(item, names) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
@pytest.mark.parametrize("auth", ["jwt", "session"])
def test_someone_elses_object_is_a_404_and_stays_as_it_was(
    world: dict[str, Any],
    alice: User,
    bob: User,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    auth: str,
) -> None:
    client = APIClient(enforce_csrf_checks=False)
    if auth == "jwt":
        client.force_authenticate(alice)
    else:
        client.force_login(alice)
    names = {**world["bob"], "own_cat": world["alice"]["cat"]}
    before = snapshot(bob)

    response = getattr(client, method)(_fill(path, names), _fill(body, names), format="json")

    assert response.status_code == 404, response.content
    assert set(response.json()) == {"detail"}
    assert snapshot(bob) == before


@pytest.mark.parametrize(("method", "path", "body"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
def test_without_credentials_every_route_is_a_401(
    world: dict[str, Any], bob: User, method: str, path: str, body: dict[str, Any] | None
) -> None:
    names = {**world["bob"], "own_cat": world["alice"]["cat"]}
    before = snapshot(bob)
    response = getattr(APIClient(), method)(_fill(path, names), _fill(body, names), format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(bob) == before


def test_lists_and_the_export_show_only_my_own(world: dict[str, Any], alice: User) -> None:
    client = APIClient()
    client.force_authenticate(alice)
    mine = world["alice"]

    cats = client.get("/api/v1/cats/").json()["results"]
    assert [cat["id"] for cat in cats] == [mine["cat"]]
    conversations = client.get(f"/api/v1/cats/{mine['cat']}/conversations/").json()["results"]
    assert [c["id"] for c in conversations] == [mine["conversation"]]
    memories = client.get(f"/api/v1/cats/{mine['cat']}/memories/?status=all").json()["results"]
    assert [m["id"] for m in memories] == [mine["memory"]]

    export = client.get("/api/v1/me/export/")
    assert export.status_code == 200
    text = export.content.decode()
    assert "alice says hi" in text and "alice loves sushi" in text
    assert "bob" not in text.lower()
