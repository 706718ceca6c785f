"""The memories curation desk in the Django admin: staff search, filter, correct, pin, unpin,
reject and restore; every change is in the history with actor "staff"."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.tests.factories import UserFactory
from cats.models import Cat, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.models import Memory, MemoryHistory
from memories.services import memory_create, memory_edit, memory_reject

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/memories/memory/"


@pytest.fixture
def root(db: None) -> User:
    return UserFactory.create(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client: Client, root: User) -> Client:
    client.force_login(root)
    return client


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


@pytest.fixture
def rexie(bob: User) -> Cat:
    return CatFactory.create(owner=bob, name="Rexie")


def remember(cat: Cat, text: str, **fields: Any) -> Memory:
    return memory_create(profile=cat.memory_profile, text=text, **fields)


def said(cat: Cat, text: str = "I love sushi") -> Message:
    return MessageFactory.create(conversation=ConversationFactory.create(cat=cat), text=text)


def listed(client: Client, **params: str) -> set[str]:
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return {memory.text for memory in response.context["cl"].result_list}


def history(memory: Memory) -> list[tuple[str, str]]:
    return list(memory.history.values_list("operation", "actor"))


def change_form(memory: Memory, **changes: Any) -> dict[str, Any]:
    """The POST of the memory's change form: its editable fields, then `changes`. The history
    inline is read-only: only its management form is sent."""
    rows = memory.history.count()
    data: dict[str, Any] = {
        "text": memory.text,
        "category": memory.category,
        "importance": memory.importance,
        "history-TOTAL_FORMS": rows,
        "history-INITIAL_FORMS": rows,
        "history-MIN_NUM_FORMS": 0,
        "history-MAX_NUM_FORMS": 1000,
    }
    if memory.pinned:
        data["pinned"] = "on"
    data.update(changes)
    if data.get("pinned") is False:
        del data["pinned"]
    return data


def run_action(client: Client, name: str, memories: list[Memory]) -> Any:
    return client.post(
        CHANGELIST,
        {"action": name, ACTION_CHECKBOX_NAME: [m.pk for m in memories]},
        follow=True,
    )


# --- browsing -------------------------------------------------------------------------------


def test_staff_can_browse_every_memories_model(staff_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Loves sushi")
    row = memory.history.get()
    pages = [
        CHANGELIST,
        f"{CHANGELIST}add/",
        f"{CHANGELIST}{memory.pk}/change/",
        "/admin/memories/memoryprofile/",
        f"/admin/memories/memoryprofile/{whiskers.memory_profile.pk}/change/",
        "/admin/memories/memoryhistory/",
        f"/admin/memories/memoryhistory/{row.pk}/change/",
        "/admin/memories/extractionjob/",
    ]
    for url in pages:
        assert staff_client.get(url).status_code == 200, url


def test_the_list_links_each_memory_to_its_source_message(
    staff_client: Client, whiskers: Cat
) -> None:
    message = said(whiskers)
    remember(whiskers, "Loves sushi", source_message_id=message.pk, quote="I love sushi")
    remember(whiskers, "Likes tea")

    html = staff_client.get(CHANGELIST).content.decode()

    assert f'<a href="/admin/cats/message/{message.pk}/change/">message {message.pk}</a>' in html
    assert "Whiskers" in html and "alice" in html


def test_the_change_page_shows_the_history_and_the_source(
    staff_client: Client, whiskers: Cat
) -> None:
    message = said(whiskers)
    memory = remember(whiskers, "Lives in Lyon", source_message_id=message.pk)
    memory_edit(memory=memory, actor="user", text="Lives in Paris")

    html = staff_client.get(f"{CHANGELIST}{memory.pk}/change/").content.decode()

    assert f"/admin/cats/message/{message.pk}/change/" in html
    assert len(re.findall(r'id="history-\d+"', html)) == 2  # the inline: add, update
    assert "Lives in Lyon" in html  # the old text, in the history inline


def test_the_list_takes_the_same_queries_for_3_or_30_memories(
    staff_client: Client, whiskers: Cat, rexie: Cat
) -> None:
    message = said(whiskers)

    def fill(count: int) -> None:
        for n in range(count):
            cat = whiskers if n % 2 else rexie
            remember(cat, f"Fact number {n}", source_message_id=message.pk if n % 2 else None)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(CHANGELIST).status_code == 200
        return len(captured)

    fill(3)
    few = queries()
    fill(27)
    assert queries() == few


def test_the_profile_list_takes_the_same_queries_for_3_or_30_cats(
    staff_client: Client, alice: User
) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get("/admin/memories/memoryprofile/").status_code == 200
        return len(captured)

    for _ in range(3):
        CatFactory.create(owner=alice)
    few = queries()
    for _ in range(27):
        CatFactory.create(owner=alice)
    assert queries() == few


# --- search and filters ---------------------------------------------------------------------


def test_search_by_text_quote_user_and_cat_name(
    staff_client: Client, whiskers: Cat, rexie: Cat
) -> None:
    remember(whiskers, "Loves sushi", source_message_id=said(whiskers).pk, quote="maki rolls")
    remember(rexie, "Has a dog called Rex")

    assert listed(staff_client, q="sushi") == {"Loves sushi"}
    assert listed(staff_client, q="maki") == {"Loves sushi"}
    assert listed(staff_client, q="bob") == {"Has a dog called Rex"}
    assert listed(staff_client, q="Whiskers") == {"Loves sushi"}


def test_filters_by_cat_user_category_status_and_pinned(
    staff_client: Client, alice: User, whiskers: Cat, rexie: Cat
) -> None:
    remember(whiskers, "Loves sushi", category="preference", pinned=True)
    memory_reject(memory=remember(whiskers, "Hates Mondays"), actor="user")
    remember(rexie, "Has a dog called Rex", category="pets")

    assert listed(staff_client, profile__cat__id__exact=str(rexie.pk)) == {"Has a dog called Rex"}
    assert listed(staff_client, profile__user__id__exact=str(alice.pk)) == {
        "Loves sushi",
        "Hates Mondays",
    }
    assert listed(staff_client, category__exact="pets") == {"Has a dog called Rex"}
    assert listed(staff_client, status__exact="rejected") == {"Hates Mondays"}
    assert listed(staff_client, pinned__exact="1") == {"Loves sushi"}


def test_filter_by_who_changed_a_memory(staff_client: Client, root: User, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")  # the cat only
    corrected = remember(whiskers, "Lives in Lyon")
    memory_edit(memory=corrected, actor="user", text="Lives in Paris")
    memory_edit(memory=corrected, actor="user", pinned=True)  # two rows: listed once
    curated = remember(whiskers, "Likes tea", actor="staff", actor_user=root)

    assert listed(staff_client, changed_by="user") == {"Lives in Paris"}
    assert listed(staff_client, changed_by="staff") == {curated.text}
    assert listed(staff_client, changed_by="cat") == {"Loves sushi", "Lives in Paris"}
    html = staff_client.get(CHANGELIST).content.decode()
    assert 'data-filter-title="changed by"' in html
    assert 'data-filter-title="source"' in html


def test_filter_by_source(staff_client: Client, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi", source_message_id=said(whiskers).pk)
    remember(whiskers, "Likes tea")

    assert listed(staff_client, source="message") == {"Loves sushi"}
    assert listed(staff_client, source="none") == {"Likes tea"}
    assert listed(staff_client) == {"Loves sushi", "Likes tea"}


# --- bulk actions ---------------------------------------------------------------------------


def test_bulk_pin_and_unpin_record_the_staff_member(
    staff_client: Client, root: User, whiskers: Cat, rexie: Cat
) -> None:
    sushi = remember(whiskers, "Loves sushi")
    rex = remember(rexie, "Has a dog called Rex", pinned=True)

    response = run_action(staff_client, "pin", [sushi, rex])

    assert "Pinned 1 memory." in response.content.decode()  # rex was pinned already
    sushi.refresh_from_db()
    assert sushi.pinned
    row = sushi.history.get(operation="pin")
    assert (row.actor, row.actor_user) == ("staff", root)
    assert history(rex) == [("add", "cat")]

    response = run_action(staff_client, "unpin", [sushi, rex])

    assert "Unpinned 2 memories." in response.content.decode()
    assert not Memory.objects.filter(pinned=True).exists()
    for memory in (sushi, rex):
        row = memory.history.get(operation="unpin")
        assert (row.actor, row.actor_user) == ("staff", root)


def test_bulk_reject_and_restore_record_the_staff_member(
    staff_client: Client, root: User, whiskers: Cat
) -> None:
    memories = [remember(whiskers, "Loves sushi"), remember(whiskers, "Hates Mondays")]

    response = run_action(staff_client, "reject", memories)

    assert "Rejected 2 memories." in response.content.decode()
    for memory in memories:
        memory.refresh_from_db()
        assert memory.status == Memory.Status.REJECTED
        row = memory.history.get(operation="reject")
        assert (row.actor, row.actor_user) == ("staff", root)

    run_action(staff_client, "restore", memories[:1])

    memories[0].refresh_from_db()
    assert memories[0].status == Memory.Status.ACTIVE
    assert history(memories[0])[-1] == ("restore", "staff")


def test_memories_are_rejected_not_deleted(staff_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Loves sushi")

    assert staff_client.get(f"{CHANGELIST}{memory.pk}/delete/").status_code == 403
    actions = staff_client.get(CHANGELIST).context["action_form"].fields["action"].choices
    assert "delete_selected" not in [name for name, _ in actions]
    assert {"pin", "unpin", "reject", "restore"} <= {name for name, _ in actions}


# --- the change and add forms ---------------------------------------------------------------


def test_a_staff_correction_goes_through_the_services(
    staff_client: Client, root: User, whiskers: Cat
) -> None:
    memory = remember(whiskers, "Lives in Lyon", category="place")
    assert memory.embedding is not None
    old_vector = list(memory.embedding)

    response = staff_client.post(
        f"{CHANGELIST}{memory.pk}/change/",
        change_form(memory, text="Lives in Paris", pinned="on", importance=5),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    memory.refresh_from_db()
    assert (memory.text, memory.pinned, memory.importance) == ("Lives in Paris", True, 5)
    assert memory.embedding is not None and list(memory.embedding) != old_vector
    assert history(memory) == [
        ("add", "cat"),
        ("update", "staff"),
        ("pin", "staff"),
        ("change", "staff"),
    ]
    assert set(memory.history.filter(actor="staff").values_list("actor_user", flat=True)) == {
        root.pk
    }


def test_saving_an_unchanged_memory_records_nothing(staff_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Loves sushi")

    response = staff_client.post(f"{CHANGELIST}{memory.pk}/change/", change_form(memory))

    assert response.status_code == 302
    assert history(memory) == [("add", "cat")]


def test_importance_stays_between_1_and_5(staff_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Loves sushi")

    response = staff_client.post(
        f"{CHANGELIST}{memory.pk}/change/", change_form(memory, importance=9)
    )

    assert response.status_code == 200
    assert "importance" in response.context["adminform"].form.errors
    memory.refresh_from_db()
    assert memory.importance == 3


def test_staff_add_a_memory_through_the_services(
    staff_client: Client, root: User, whiskers: Cat
) -> None:
    message = said(whiskers)

    response = staff_client.post(
        f"{CHANGELIST}add/",
        {
            "profile": whiskers.memory_profile.pk,
            "text": "Loves sushi",
            "category": "preference",
            "importance": 4,
            "source_message": message.pk,
            "source_quote": "I love sushi",
            "history-TOTAL_FORMS": 0,
            "history-INITIAL_FORMS": 0,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    memory = Memory.objects.get()
    assert response["Location"] == CHANGELIST
    assert (memory.text, memory.category, memory.importance, memory.source_message_id) == (
        "Loves sushi",
        "preference",
        4,
        message.pk,
    )
    assert memory.embedding is not None
    row = memory.history.get()
    assert (row.operation, row.actor, row.actor_user) == ("add", "staff", root)


def test_a_source_message_must_come_from_the_cats_own_chats(
    staff_client: Client, whiskers: Cat, rexie: Cat
) -> None:
    response = staff_client.post(
        f"{CHANGELIST}add/",
        {
            "profile": whiskers.memory_profile.pk,
            "text": "Loves sushi",
            "category": "preference",
            "importance": 3,
            "source_message": said(rexie).pk,
            "history-TOTAL_FORMS": 0,
            "history-INITIAL_FORMS": 0,
        },
    )

    assert response.status_code == 200
    assert "source_message" in response.context["adminform"].form.errors
    assert not Memory.objects.exists()


# --- profiles and history -------------------------------------------------------------------


def test_the_profile_page_shows_its_memories(staff_client: Client, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")
    remember(whiskers, "Has a dog called Rex")

    html = staff_client.get(
        f"/admin/memories/memoryprofile/{whiskers.memory_profile.pk}/change/"
    ).content.decode()

    assert "Loves sushi" in html and "Has a dog called Rex" in html


def test_staff_edit_the_summary_and_the_switch(staff_client: Client, whiskers: Cat) -> None:
    profile = whiskers.memory_profile
    remember(whiskers, "Loves sushi")

    response = staff_client.post(
        f"/admin/memories/memoryprofile/{profile.pk}/change/",
        {
            "summary": "Alice, a nurse who loves sushi.",
            "memories-TOTAL_FORMS": 1,
            "memories-INITIAL_FORMS": 1,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    profile.refresh_from_db()
    assert profile.summary == "Alice, a nurse who loves sushi."
    assert not profile.enabled  # the checkbox was left unticked
    assert profile.memories.count() == 1


def test_the_history_is_read_only(staff_client: Client, whiskers: Cat) -> None:
    row = remember(whiskers, "Loves sushi").history.get()

    assert staff_client.get("/admin/memories/memoryhistory/add/").status_code == 403
    assert (
        staff_client.post(
            f"/admin/memories/memoryhistory/{row.pk}/change/", {"note": "edited"}
        ).status_code
        == 403
    )
    assert MemoryHistory.objects.get().note == ""


def test_the_admin_is_for_staff_only(client: Client, alice: User, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")
    client.force_login(alice)

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert re.search(r"/admin/login/", response["Location"])
