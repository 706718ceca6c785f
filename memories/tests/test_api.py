"""The memories REST API: `cats/{id}/memory-profile/`, `cats/{id}/memories/`, `memories/{id}/`
and `memories/{id}/history/` under `/api/v1/`."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from cats.models import Cat
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.models import Memory, MemoryHistory
from memories.services import memory_create, memory_payload, memory_reject, memory_supersede

pytestmark = pytest.mark.django_db

MEMORY_FIELDS = {
    "id",
    "text",
    "category",
    "importance",
    "pinned",
    "status",
    "source",
    "valid_from",
    "superseded_by",
    "created_at",
    "updated_at",
}


def profile_url(cat_id: int) -> str:
    return reverse("memories_api:profile", args=[cat_id])


def list_url(cat_id: int) -> str:
    return reverse("memories_api:list", args=[cat_id])


def detail_url(memory_id: int) -> str:
    return reverse("memories_api:detail", args=[memory_id])


def history_url(memory_id: int) -> str:
    return reverse("memories_api:history", args=[memory_id])


def api_as(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def alice_api(alice: User) -> APIClient:
    return api_as(alice)


@pytest.fixture
def bob_api(bob: User) -> APIClient:
    return api_as(bob)


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


def remember(cat: Cat, text: str, **fields: Any) -> Memory:
    return memory_create(profile=cat.memory_profile, text=text, **fields)


def history(memory: Memory) -> list[tuple[str, str]]:
    return list(memory.history.values_list("operation", "actor"))


def snapshot(memory: Memory) -> dict[str, Any]:
    memory.refresh_from_db()
    return {**memory_payload(memory), "history": memory.history.count()}


def test_the_routes_live_under_api_v1() -> None:
    assert profile_url(7) == "/api/v1/cats/7/memory-profile/"
    assert list_url(7) == "/api/v1/cats/7/memories/"
    assert detail_url(9) == "/api/v1/memories/9/"
    assert history_url(9) == "/api/v1/memories/9/history/"


def test_without_credentials_it_is_a_401_asking_for_a_bearer(whiskers: Cat) -> None:
    memory = remember(whiskers, "Loves sushi")
    anonymous = APIClient()

    for url in (profile_url(whiskers.pk), list_url(whiskers.pk), detail_url(memory.pk)):
        response = anonymous.get(url)
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_jwt_is_enough(alice: User, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(alice)}")

    response = client.get(list_url(whiskers.pk))

    assert response.status_code == 200
    assert [m["text"] for m in response.json()["results"]] == ["Loves sushi"]


# --- the memory profile ---------------------------------------------------------------------


def test_the_memory_profile_counts_memories_by_status(alice_api: APIClient, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")
    memory_reject(memory=remember(whiskers, "Hates Mondays"), actor="user")
    memory_supersede(old=remember(whiskers, "Lives in Lyon"), text="Lives in Paris")

    response = alice_api.get(profile_url(whiskers.pk))

    assert response.status_code == 200
    assert response.json() == {
        "cat": whiskers.pk,
        "summary": "",
        "enabled": True,
        "counts": {"active": 2, "superseded": 1, "rejected": 1},
    }


def test_the_owner_switches_memory_off_and_writes_the_summary(
    alice_api: APIClient, whiskers: Cat
) -> None:
    response = alice_api.patch(
        profile_url(whiskers.pk), {"enabled": False, "summary": " Alice, a nurse in Paris. "}
    )

    assert response.status_code == 200
    assert response.json()["enabled"] is False
    assert response.json()["summary"] == "Alice, a nurse in Paris."
    whiskers.memory_profile.refresh_from_db()
    assert not whiskers.memory_profile.enabled
    assert whiskers.memory_profile.summary == "Alice, a nurse in Paris."


def test_a_bad_profile_patch_is_a_400_with_field_errors(
    alice_api: APIClient, whiskers: Cat
) -> None:
    response = alice_api.patch(profile_url(whiskers.pk), {"enabled": "perhaps"})

    assert response.status_code == 400
    assert "enabled" in response.json()


def test_bob_gets_a_404_for_alices_memory_profile(bob_api: APIClient, whiskers: Cat) -> None:
    assert bob_api.get(profile_url(whiskers.pk)).status_code == 404
    assert bob_api.patch(profile_url(whiskers.pk), {"enabled": False}).status_code == 404
    whiskers.memory_profile.refresh_from_db()
    assert whiskers.memory_profile.enabled


def test_an_unknown_cat_is_a_404(alice_api: APIClient) -> None:
    assert alice_api.get(profile_url(999_999)).status_code == 404
    assert alice_api.get(list_url(999_999)).status_code == 404


# --- listing and searching ------------------------------------------------------------------


def test_the_list_shows_active_memories_newest_first_in_the_shared_shape(
    alice_api: APIClient, whiskers: Cat
) -> None:
    said = MessageFactory.create(conversation=ConversationFactory.create(cat=whiskers))
    sushi = remember(
        whiskers, "Loves sushi", category="preference", source_message_id=said.pk, quote="sushi"
    )
    tea = remember(whiskers, "Likes tea", importance=2)
    memory_reject(memory=remember(whiskers, "Hates Mondays"), actor="user")

    response = alice_api.get(list_url(whiskers.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    assert (body["next"], body["previous"]) == (None, None)
    assert [m["id"] for m in body["results"]] == [tea.pk, sushi.pk]
    first, second = body["results"]
    assert set(first) == MEMORY_FIELDS
    sushi.refresh_from_db()
    assert second == memory_payload(sushi)
    assert second["source"] == {"message": said.pk, "quote": "sushi"}
    assert first["source"] is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", {"Loves sushi", "Lives in Paris"}),
        ("superseded", {"Lives in Lyon"}),
        ("rejected", {"Hates Mondays"}),
        ("all", {"Loves sushi", "Lives in Paris", "Lives in Lyon", "Hates Mondays"}),
    ],
)
def test_the_list_filters_by_status(
    alice_api: APIClient, whiskers: Cat, status: str, expected: set[str]
) -> None:
    remember(whiskers, "Loves sushi")
    memory_reject(memory=remember(whiskers, "Hates Mondays"), actor="user")
    memory_supersede(old=remember(whiskers, "Lives in Lyon"), text="Lives in Paris")

    response = alice_api.get(list_url(whiskers.pk), {"status": status})

    assert {m["text"] for m in response.json()["results"]} == expected


def test_an_unknown_status_is_a_400(alice_api: APIClient, whiskers: Cat) -> None:
    response = alice_api.get(list_url(whiskers.pk), {"status": "deleted"})

    assert response.status_code == 400
    assert "status" in response.json()


def test_q_searches_by_recall_words_and_parts_of_words(alice_api: APIClient, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")
    remember(whiskers, "Has a dog called Rex")
    remember(whiskers, "Works as a nurse at night")
    memory_reject(memory=remember(whiskers, "Rex hates the vet"), actor="user")

    def search(**params: str) -> list[str]:
        return [m["text"] for m in alice_api.get(list_url(whiskers.pk), params).json()["results"]]

    assert search(q="REX") == ["Has a dog called Rex"]
    assert search(q="sush") == ["Loves sushi"]
    assert sorted(search(q="rex", status="all")) == ["Has a dog called Rex", "Rex hates the vet"]
    # A natural question shares no word with its memory: the substring filter found nothing.
    assert search(q="what is my dog's name?")[0] == "Has a dog called Rex"
    assert search(q="do I have a job?")[0] == "Works as a nurse at night"
    # Ranked by meaning: the nearest memory to something never said comes first.
    assert search(q="pizza")[0] == "Loves sushi"


def test_any_query_text_is_searched_safely(alice_api: APIClient, whiskers: Cat) -> None:
    remember(whiskers, "Loves 100% dark chocolate")

    for q in ['"(&|!:*', "100%", "_", "' OR 1=1 --", "   "]:
        response = alice_api.get(list_url(whiskers.pk), {"q": q})
        assert response.status_code == 200, q
    texts = [
        m["text"] for m in alice_api.get(list_url(whiskers.pk), {"q": "0% d"}).json()["results"]
    ]
    assert texts == ["Loves 100% dark chocolate"]
    # No word to search with, and no text holds it.
    assert alice_api.get(list_url(whiskers.pk), {"q": "_"}).json()["results"] == []


def test_the_list_comes_50_a_page(alice_api: APIClient, whiskers: Cat) -> None:
    profile = whiskers.memory_profile
    # Rows as data: embedding 55 facts proves nothing about paging.
    Memory.objects.bulk_create(Memory(profile=profile, text=f"Fact {n}") for n in range(55))

    first = alice_api.get(list_url(whiskers.pk)).json()
    assert len(first["results"]) == 50
    assert first["previous"] is None and first["next"]
    second = alice_api.get(first["next"]).json()
    assert len(second["results"]) == 5
    assert second["next"] is None and second["previous"]
    seen = {m["id"] for m in first["results"]} | {m["id"] for m in second["results"]}
    assert seen == set(profile.memories.values_list("pk", flat=True))


def test_paging_sees_each_memory_once_while_memories_arrive_at_the_same_moment(
    alice_api: APIClient, whiskers: Cat
) -> None:
    # One timestamp for all: what a bulk import (or a busy second) gives. A cursor on the
    # timestamp alone counts the ties by offset, and a newcomer among them shifts the count.
    profile = whiskers.memory_profile
    moment = timezone.now()
    Memory.objects.bulk_create(Memory(profile=profile, text=f"Fact {n}") for n in range(55))
    profile.memories.update(created_at=moment)  # created_at is set on insert (auto_now_add)
    before = set(profile.memories.values_list("pk", flat=True))

    first = alice_api.get(list_url(whiskers.pk)).json()
    newcomer = Memory.objects.create(profile=profile, text="Said just now")
    Memory.objects.filter(pk=newcomer.pk).update(created_at=moment)
    second = alice_api.get(first["next"]).json()

    ids = [m["id"] for m in first["results"] + second["results"]]
    assert len(ids) == len(set(ids))  # nothing twice
    assert set(ids) == before  # nothing skipped (the newcomer is on the first page, newest)
    assert ids == sorted(ids, reverse=True)


def test_the_list_takes_the_same_queries_for_3_or_30_memories(
    alice_api: APIClient, whiskers: Cat
) -> None:
    said = MessageFactory.create(conversation=ConversationFactory.create(cat=whiskers))

    def fill(count: int) -> None:
        for n in range(count):
            memory = remember(whiskers, f"Fact number {n}", source_message_id=said.pk)
            if n % 3 == 0:
                memory_supersede(old=memory, text=f"Newer fact {n}")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = alice_api.get(list_url(whiskers.pk), {"status": "all", "q": "fact"})
        assert response.status_code == 200
        return len(captured)

    fill(3)
    few = queries()
    fill(27)
    many = queries()

    # The profile, recall, the texts holding `q`, the memories found, their history.
    assert few == many == 5


def test_bob_gets_a_404_for_the_list_of_alices_cat(bob_api: APIClient, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")

    assert bob_api.get(list_url(whiskers.pk)).status_code == 404
    assert bob_api.get(list_url(whiskers.pk), {"status": "all", "q": "sushi"}).status_code == 404


# --- creating -------------------------------------------------------------------------------


def test_the_owner_adds_a_memory(alice_api: APIClient, alice: User, whiskers: Cat) -> None:
    response = alice_api.post(
        list_url(whiskers.pk),
        {"text": "Is allergic to peanuts", "category": "health", "importance": 5, "pinned": True},
    )

    assert response.status_code == 201
    body = response.json()
    memory = Memory.objects.get(pk=body["id"])
    assert body == memory_payload(memory)
    assert (memory.text, memory.category, memory.importance, memory.pinned) == (
        "Is allergic to peanuts",
        "health",
        5,
        True,
    )
    assert memory.profile == whiskers.memory_profile
    assert memory.embedding is not None and memory.embedding_model
    row = memory.history.get()
    assert (row.operation, row.actor, row.actor_user) == ("add", "user", alice)


def test_a_new_memory_needs_only_its_text(alice_api: APIClient, whiskers: Cat) -> None:
    body = alice_api.post(list_url(whiskers.pk), {"text": "Likes tea"}).json()

    assert (body["category"], body["importance"], body["pinned"], body["status"]) == (
        "other",
        3,
        False,
        "active",
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 501}, "text"),
        ({"text": "Likes tea", "category": "hobby"}, "category"),
        ({"text": "Likes tea", "importance": 0}, "importance"),
        ({"text": "Likes tea", "importance": 6}, "importance"),
        ({"text": "Likes tea", "importance": "high"}, "importance"),
        ({"text": "Likes tea", "pinned": "maybe"}, "pinned"),
    ],
)
def test_a_bad_memory_is_a_400_with_field_errors(
    alice_api: APIClient, whiskers: Cat, payload: dict[str, Any], field: str
) -> None:
    response = alice_api.post(list_url(whiskers.pk), payload)

    assert response.status_code == 400
    assert field in response.json()
    assert not Memory.objects.exists()


def test_a_memory_of_500_characters_is_fine(alice_api: APIClient, whiskers: Cat) -> None:
    response = alice_api.post(list_url(whiskers.pk), {"text": "x" * 500})

    assert response.status_code == 201


def test_bob_cannot_add_memories_to_alices_cat(bob_api: APIClient, whiskers: Cat) -> None:
    response = bob_api.post(list_url(whiskers.pk), {"text": "Bob was here"})

    assert response.status_code == 404
    assert not Memory.objects.exists()


def test_a_strangers_cat_is_a_404_even_with_a_bad_body(bob_api: APIClient, whiskers: Cat) -> None:
    assert bob_api.post(list_url(whiskers.pk), {"category": "hobby"}).status_code == 404


# --- one memory -----------------------------------------------------------------------------


def test_the_owner_reads_a_memory(
    alice_api: APIClient, whiskers: Cat, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    memory = remember(whiskers, "Loves sushi")

    with django_assert_num_queries(1):
        response = alice_api.get(detail_url(memory.pk))

    assert response.status_code == 200
    memory.refresh_from_db()
    assert response.json() == memory_payload(memory)


def test_correcting_the_text_records_the_human(
    alice_api: APIClient, alice: User, whiskers: Cat
) -> None:
    memory = remember(whiskers, "Lives in Lyon", category="place")
    assert memory.embedding is not None
    old_vector = list(memory.embedding)

    response = alice_api.patch(detail_url(memory.pk), {"text": "Lives in Paris"})

    assert response.status_code == 200
    assert response.json()["text"] == "Lives in Paris"
    memory.refresh_from_db()
    assert memory.text == "Lives in Paris"
    assert (
        memory.embedding is not None and list(memory.embedding) != old_vector
    )  # re-embedded: recall finds the new text
    row = memory.history.get(operation="update")
    assert (row.actor, row.actor_user, row.old_text, row.new_text) == (
        "user",
        alice,
        "Lives in Lyon",
        "Lives in Paris",
    )


def test_patching_pinned_category_and_importance(alice_api: APIClient, whiskers: Cat) -> None:
    memory = remember(whiskers, "Loves sushi")

    response = alice_api.patch(
        detail_url(memory.pk), {"pinned": True, "category": "preference", "importance": 5}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["pinned"], body["category"], body["importance"]) == (True, "preference", 5)
    assert history(memory) == [("add", "cat"), ("pin", "user"), ("change", "user")]
    assert memory.history.get(operation="change").note == (
        "category other → preference; importance 3 → 5"
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"text": ""},
        {"text": "x" * 501},
        {"category": "hobby"},
        {"importance": 9},
        {"status": "superseded"},
    ],
)
def test_a_bad_patch_is_a_400_and_changes_nothing(
    alice_api: APIClient, whiskers: Cat, payload: dict[str, Any]
) -> None:
    memory = remember(whiskers, "Loves sushi")
    before = snapshot(memory)

    response = alice_api.patch(detail_url(memory.pk), payload)

    assert response.status_code == 400
    assert set(response.json()) == set(payload)
    assert snapshot(memory) == before


def test_deleting_forgets_the_memory_and_keeps_its_history(
    alice_api: APIClient, alice: User, whiskers: Cat
) -> None:
    memory = remember(whiskers, "Hates Mondays", pinned=True)

    response = alice_api.delete(detail_url(memory.pk))

    assert response.status_code == 204
    memory.refresh_from_db()
    assert (memory.status, memory.pinned) == ("rejected", False)
    row = memory.history.get(operation="reject")
    assert (row.actor, row.actor_user) == ("user", alice)
    # Still there for the record, no longer among the active ones.
    assert alice_api.get(detail_url(memory.pk)).json()["status"] == "rejected"
    assert alice_api.get(list_url(whiskers.pk)).json()["results"] == []
    assert alice_api.delete(detail_url(memory.pk)).status_code == 204  # already forgotten


def test_patching_status_active_restores_a_forgotten_memory(
    alice_api: APIClient, whiskers: Cat
) -> None:
    memory = memory_reject(memory=remember(whiskers, "Hates Mondays"), actor="user")

    response = alice_api.patch(detail_url(memory.pk), {"status": "active"})

    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert history(memory)[-1] == ("restore", "user")


def test_the_history_of_a_memory_oldest_first(alice_api: APIClient, whiskers: Cat) -> None:
    memory = remember(whiskers, "Lives in Lyon")
    alice_api.patch(detail_url(memory.pk), {"text": "Lives in Paris"})
    alice_api.delete(detail_url(memory.pk))

    response = alice_api.get(history_url(memory.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next", "previous"}
    rows = body["results"]
    assert [(r["operation"], r["actor"]) for r in rows] == [
        ("add", "cat"),
        ("update", "user"),
        ("reject", "user"),
    ]
    assert set(rows[0]) == {
        "id",
        "operation",
        "actor",
        "old_text",
        "new_text",
        "note",
        "created_at",
    }
    assert (rows[1]["old_text"], rows[1]["new_text"]) == ("Lives in Lyon", "Lives in Paris")


def test_the_history_does_not_name_staff_members(
    alice_api: APIClient, whiskers: Cat, bob: User
) -> None:
    memory = remember(whiskers, "Loves sushi")
    MemoryHistory.objects.create(memory=memory, operation="pin", actor="staff", actor_user=bob)

    rows = alice_api.get(history_url(memory.pk)).json()["results"]

    assert rows[-1]["actor"] == "staff"
    assert "bob" not in str(rows)


@pytest.mark.parametrize(
    ("method", "url", "payload"),
    [
        ("get", "detail", None),
        ("patch", "detail", {"text": "Bob was here", "pinned": True}),
        ("patch", "detail", {"status": "rejected"}),
        ("delete", "detail", None),
        ("get", "history", None),
    ],
)
def test_bob_gets_a_404_for_alices_memory(
    bob_api: APIClient, whiskers: Cat, method: str, url: str, payload: dict[str, Any] | None
) -> None:
    memory = remember(whiskers, "Loves sushi")
    before = snapshot(memory)
    target = detail_url(memory.pk) if url == "detail" else history_url(memory.pk)

    response = getattr(bob_api, method)(target, payload)

    assert response.status_code == 404
    assert set(response.json()) == {"detail"}
    assert snapshot(memory) == before
