"""The page "what <cat> remembers" (`/cats/<id>/memories/`) and its actions, for the human."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import User
from cats.models import Cat, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.models import Memory, MemoryHistory
from memories.services import memory_create, memory_edit, memory_reject, memory_supersede

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


@pytest.fixture
def said(whiskers: Cat) -> Message:
    """What alice told Whiskers."""
    return MessageFactory.create(
        conversation=ConversationFactory.create(cat=whiskers),
        text="I love sushi, and my dog Rex loves the beach.",
    )


def remember(cat: Cat, text: str, **fields: object) -> Memory:
    return memory_create(profile=cat.memory_profile, text=text, **fields)  # type: ignore[arg-type]


def page(cat: Cat, **params: str) -> str:
    url = reverse("memories:page", args=[cat.pk])
    if params:
        url += "?" + "&".join(f"{key}={value}" for key, value in params.items())
    return url


def action(memory: Memory, name: str) -> str:
    return reverse("memories:action", args=[memory.profile.cat_id, memory.pk, name])


def history(memory: Memory) -> list[tuple[str, str]]:
    return list(memory.history.values_list("operation", "actor"))


def shown_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-memory-id="(\d+)"', html)]


# --- the page -------------------------------------------------------------------------------


def test_the_page_lives_under_the_cat(whiskers: Cat) -> None:
    assert page(whiskers) == f"/cats/{whiskers.pk}/memories/"


def test_the_page_needs_a_login(client: Client, whiskers: Cat) -> None:
    response = client.get(page(whiskers))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_chat_page_links_to_what_the_cat_remembers(alice_client: Client, whiskers: Cat) -> None:
    html = alice_client.get(reverse("cats:chat", args=[whiskers.pk])).content.decode()

    assert f'href="/cats/{whiskers.pk}/memories/"' in html
    assert "What Whiskers remembers" in html


def test_memories_come_under_their_category_headings_in_order(
    alice_client: Client, whiskers: Cat
) -> None:
    remember(whiskers, "Loves sushi", category="preference")
    remember(whiskers, "Is called Alice", category="identity")
    remember(whiskers, "Has a dog called Rex", category="pets")

    response = alice_client.get(page(whiskers))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>What Whiskers remembers</h1>" in html
    headings = re.findall(r'<h2 id="category-(\w+)"[^>]*>([^<]+)</h2>', html)
    assert headings == [
        ("identity", "About you"),
        ("preference", "Likes and dislikes"),
        ("pets", "Pets"),
    ]
    assert html.index("Is called Alice") < html.index("Loves sushi") < html.index("Rex")


def test_a_memory_shows_where_it_came_from(
    alice_client: Client, whiskers: Cat, said: Message
) -> None:
    memory = remember(
        whiskers,
        "Loves sushi",
        category="preference",
        importance=4,
        source_message_id=said.pk,
        quote="I love sushi",
    )

    html = alice_client.get(page(whiskers)).content.decode()

    link = f"/cats/{whiskers.pk}/?conversation={said.conversation_id}#message-{said.pk}"
    assert f'href="{link}"' in html
    assert '<q class="memory__quote">I love sushi</q>' in html
    assert "Importance 4 of 5" in html
    assert f'id="memory-{memory.pk}"' in html


def test_a_pinned_memory_wears_a_badge(alice_client: Client, whiskers: Cat) -> None:
    remember(whiskers, "Is afraid of thunderstorms", pinned=True)
    remember(whiskers, "Likes tea")

    html = alice_client.get(page(whiskers)).content.decode()

    assert html.count('class="badge badge--pinned">Pinned<') == 1
    assert html.index("thunderstorms") < html.index("Likes tea")  # pinned ones come first


def test_the_history_of_a_memory_is_on_the_page(alice_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Lives in Lyon", category="place")
    memory_edit(memory=memory, actor="user", text="Lives in Paris")

    html = alice_client.get(page(whiskers)).content.decode()

    assert "<summary>History (2)</summary>" in html
    assert "<td>learned</td>" in html and "<td>Whiskers</td>" in html
    assert "<td>corrected</td>" in html and "<td>you</td>" in html
    assert "<del>Lives in Lyon</del> → <ins>Lives in Paris</ins>" in html


def test_the_page_shows_only_remembered_ones_unless_asked(
    alice_client: Client, whiskers: Cat
) -> None:
    kept = remember(whiskers, "Loves sushi")
    forgotten = memory_reject(memory=remember(whiskers, "Hates Mondays"), actor="user")
    old = remember(whiskers, "Lives in Lyon", category="place")
    new = memory_supersede(old=old, text="Lives in Paris")

    assert set(shown_ids(alice_client.get(page(whiskers)).content.decode())) == {kept.pk, new.pk}
    html = alice_client.get(page(whiskers, status="rejected")).content.decode()
    assert shown_ids(html) == [forgotten.pk]
    assert "Remember again" in html and ">Forget<" not in html
    html = alice_client.get(page(whiskers, status="superseded")).content.decode()
    assert shown_ids(html) == [old.pk]
    assert "Replaced by “Lives in Paris”" in html
    all_ids = shown_ids(alice_client.get(page(whiskers, status="all")).content.decode())
    assert set(all_ids) == {kept.pk, forgotten.pk, old.pk, new.pk}


def test_the_filter_counts_each_status(alice_client: Client, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")
    memory_reject(memory=remember(whiskers, "Hates Mondays"), actor="user")

    html = alice_client.get(page(whiskers)).content.decode()

    assert '<option value="active" selected>Remembered (1)</option>' in html
    assert '<option value="rejected">Forgotten (1)</option>' in html
    assert '<option value="all">Everything (2)</option>' in html


def test_an_unknown_filter_shows_the_remembered_ones(alice_client: Client, whiskers: Cat) -> None:
    kept = remember(whiskers, "Loves sushi")
    memory_reject(memory=remember(whiskers, "Hates Mondays"), actor="user")

    response = alice_client.get(page(whiskers, status="everything-please"))

    assert response.status_code == 200
    assert shown_ids(response.content.decode()) == [kept.pk]


def test_search_finds_whole_words_and_parts_of_words(alice_client: Client, whiskers: Cat) -> None:
    sushi = remember(whiskers, "Loves sushi", category="preference")
    rex = remember(whiskers, "Has a dog called Rex", category="pets")
    nurse = remember(whiskers, "Works as a nurse", category="work")

    assert shown_ids(alice_client.get(page(whiskers, q="rex")).content.decode()) == [rex.pk]
    assert shown_ids(alice_client.get(page(whiskers, q="sush")).content.decode()) == [sushi.pk]
    # A natural question finds its memory (recall ranks the page).
    where = alice_client.get(page(whiskers, q="what's my job?")).content.decode()
    assert shown_ids(where)[0] == nurse.pk
    html = alice_client.get(page(whiskers, q="@@")).content.decode()
    assert shown_ids(html) == []
    assert "Nothing here matches “@@”." in html


def test_a_cat_that_knows_nothing_says_so(alice_client: Client, whiskers: Cat) -> None:
    html = alice_client.get(page(whiskers)).content.decode()

    assert "Whiskers doesn't know anything about you yet." in html


def test_the_page_takes_the_same_queries_for_3_or_30_memories(
    alice_client: Client, whiskers: Cat, said: Message
) -> None:
    def fill(count: int) -> None:
        for n in range(count):
            memory = remember(
                whiskers,
                f"Fact number {n}",
                category=Memory.Category.values[n % 10],
                source_message_id=said.pk,
                quote="I love sushi",
            )
            memory_edit(memory=memory, actor="user", pinned=True)  # a second history row
            if n % 3 == 0:
                memory_supersede(old=memory, text=f"Newer fact {n}")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = alice_client.get(page(whiskers, status="all"))
        assert response.status_code == 200
        return len(captured)

    fill(3)
    few = queries()
    fill(27)
    many = queries()

    # session, user, profile with its cat, the counts, the memories with their sources and
    # replacements, their history
    assert few == many == 6


# --- the actions ----------------------------------------------------------------------------


def test_correcting_a_memory_records_the_human_as_its_author(
    alice_client: Client, alice: User, whiskers: Cat
) -> None:
    memory = remember(whiskers, "Lives in Lyon", category="place")

    response = alice_client.post(action(memory, "correct"), {"text": "  Lives in Paris "})

    assert response.status_code == 302
    assert response["Location"] == f"{page(whiskers)}#memory-{memory.pk}"
    memory.refresh_from_db()
    assert memory.text == "Lives in Paris"
    row = memory.history.get(operation=MemoryHistory.Operation.UPDATE)
    assert (row.actor, row.actor_user, row.old_text, row.new_text) == (
        "user",
        alice,
        "Lives in Lyon",
        "Lives in Paris",
    )
    page_after = alice_client.get(response["Location"]).content.decode()
    assert "Corrected: “Lives in Paris”." in page_after


def test_a_correction_needs_some_text(alice_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Lives in Lyon")

    for text in ("   ", "x" * 501):
        response = alice_client.post(action(memory, "correct"), {"text": text}, follow=True)
        assert "A memory needs some text" in response.content.decode()

    memory.refresh_from_db()
    assert memory.text == "Lives in Lyon"
    assert history(memory) == [("add", "cat")]


def test_pinning_and_unpinning(alice_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Is afraid of thunderstorms")

    alice_client.post(action(memory, "pin"))
    memory.refresh_from_db()
    assert memory.pinned
    alice_client.post(action(memory, "unpin"))
    memory.refresh_from_db()
    assert not memory.pinned
    assert history(memory) == [("add", "cat"), ("pin", "user"), ("unpin", "user")]


def test_forgetting_keeps_the_memory_and_its_history(alice_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Hates Mondays")

    response = alice_client.post(action(memory, "forget"), follow=True)

    memory.refresh_from_db()
    assert memory.status == Memory.Status.REJECTED
    assert history(memory) == [("add", "cat"), ("reject", "user")]
    html = response.content.decode()
    assert "Forgotten: “Hates Mondays”." in html
    assert memory.pk not in shown_ids(html)


def test_restoring_a_forgotten_memory(alice_client: Client, whiskers: Cat) -> None:
    memory = memory_reject(memory=remember(whiskers, "Hates Mondays"), actor="user")

    response = alice_client.post(action(memory, "restore"), {"status": "rejected"})

    assert response["Location"] == f"{page(whiskers)}?status=rejected#memory-{memory.pk}"
    memory.refresh_from_db()
    assert memory.status == Memory.Status.ACTIVE
    assert history(memory)[-1] == ("restore", "user")


def test_an_action_brings_the_page_back_with_its_search(
    alice_client: Client, whiskers: Cat
) -> None:
    memory = remember(whiskers, "Loves sushi")

    response = alice_client.post(action(memory, "pin"), {"q": "sushi", "status": "all"})

    assert response["Location"] == f"{page(whiskers)}?q=sushi&status=all#memory-{memory.pk}"


def test_the_action_forms_carry_csrf_tokens(whiskers: Cat, alice: User) -> None:
    remember(whiskers, "Loves sushi")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    html = client.get(page(whiskers)).content.decode()

    forms = re.findall(r'<form method="post" action="/cats/.*?</form>', html, flags=re.S)
    assert len(forms) == 4  # the memory switch, correct, pin, forget
    assert all("csrfmiddlewaretoken" in form for form in forms)


def test_actions_need_a_post(alice_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Loves sushi")

    assert alice_client.get(action(memory, "forget")).status_code == 405
    memory.refresh_from_db()
    assert memory.status == Memory.Status.ACTIVE


def test_an_unknown_action_is_a_404(alice_client: Client, whiskers: Cat) -> None:
    memory = remember(whiskers, "Loves sushi")

    assert alice_client.post(action(memory, "erase")).status_code == 404
    assert history(memory) == [("add", "cat")]


def test_turning_memory_off_and_on(alice_client: Client, whiskers: Cat) -> None:
    switch = reverse("memories:switch", args=[whiskers.pk])

    response = alice_client.post(switch, {"enabled": "0"}, follow=True)

    whiskers.memory_profile.refresh_from_db()
    assert not whiskers.memory_profile.enabled
    html = response.content.decode()
    assert "Memory is off: Whiskers neither learns nor recalls" in html
    assert "Turn memory on" in html
    alice_client.post(switch, {"enabled": "1"})
    whiskers.memory_profile.refresh_from_db()
    assert whiskers.memory_profile.enabled


# --- someone else's -------------------------------------------------------------------------


def test_bob_cannot_see_what_alices_cat_remembers(client: Client, bob: User, whiskers: Cat) -> None:
    remember(whiskers, "Loves sushi")
    client.force_login(bob)

    assert client.get(page(whiskers)).status_code == 404
    assert client.get(page(whiskers, status="all", q="sushi")).status_code == 404


@pytest.mark.parametrize("name", ["correct", "pin", "unpin", "forget", "restore"])
def test_bob_cannot_change_alices_memories(
    client: Client, bob: User, whiskers: Cat, name: str
) -> None:
    memory = remember(whiskers, "Loves sushi", pinned=name == "unpin")
    if name == "restore":
        memory_reject(memory=memory, actor="user")
    before = (memory.text, memory.pinned, memory.status, memory.history.count())
    bobs_cat = CatFactory.create(owner=bob)
    client.force_login(bob)

    # Through alice's cat, and through bob's own cat with alice's memory id.
    for cat_id in (whiskers.pk, bobs_cat.pk):
        url = reverse("memories:action", args=[cat_id, memory.pk, name])
        assert client.post(url, {"text": "Bob was here"}).status_code == 404

    memory.refresh_from_db()
    assert (memory.text, memory.pinned, memory.status, memory.history.count()) == before


def test_bob_cannot_switch_alices_cats_memory_off(client: Client, bob: User, whiskers: Cat) -> None:
    client.force_login(bob)

    response = client.post(reverse("memories:switch", args=[whiskers.pk]), {"enabled": "0"})

    assert response.status_code == 404
    whiskers.memory_profile.refresh_from_db()
    assert whiskers.memory_profile.enabled


def test_a_memory_is_changed_only_through_its_own_cat(
    alice_client: Client, alice: User, whiskers: Cat
) -> None:
    memory = remember(whiskers, "Loves sushi")
    other = CatFactory.create(owner=alice, name="Mochi")

    url = reverse("memories:action", args=[other.pk, memory.pk, "forget"])
    assert alice_client.post(url).status_code == 404
    memory.refresh_from_db()
    assert memory.status == Memory.Status.ACTIVE
