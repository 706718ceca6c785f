"""Managing cats and conversations on the pages (issue 16): edit and delete a cat, switch cats
from the chat page, rename, delete and search conversations, the list grouped by day. Owner
only (someone else's cat or conversation is a 404), CSRF on each form, no N+1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient

from accounts.models import User
from cats.models import Cat, Conversation, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.views import day_label
from memories.episodes import Context, episodes_record
from memories.models import MemoryProfile

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers", personality="shy", coat="ginger")


def said(cat: Cat, title: str, *texts: str) -> Conversation:
    """A conversation of `cat` where the human said `texts`, made episodes as a chat makes them
    (embedded by the local embedder)."""
    conversation = ConversationFactory.create(cat=cat, title=title)
    messages = [MessageFactory.create(conversation=conversation, text=t) for t in texts]
    episodes_record(profile=cat.memory_profile, said=[Context(m) for m in messages])
    return conversation


# --- editing a cat --------------------------------------------------------------------------


def test_editing_a_cat_saves_it_through_the_service(alice_client: Client, whiskers: Cat) -> None:
    url = reverse("cats:edit", args=[whiskers.pk])

    page = alice_client.get(url)
    assert page.status_code == 200
    assert 'value="Whiskers"' in page.content.decode()
    response = alice_client.post(
        url, {"name": "  Mittens ", "personality": "bold", "coat": "tuxedo"}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("cats:chat", args=[whiskers.pk])
    whiskers.refresh_from_db()
    assert (whiskers.name, whiskers.personality, whiskers.coat) == ("Mittens", "bold", "tuxedo")


def test_an_empty_name_is_refused_with_a_field_error(alice_client: Client, whiskers: Cat) -> None:
    response = alice_client.post(
        reverse("cats:edit", args=[whiskers.pk]), {"name": "   ", "personality": "", "coat": ""}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["name"] == ["This field is required."]
    assert 'class="field field--invalid"' in response.content.decode()
    whiskers.refresh_from_db()
    assert whiskers.name == "Whiskers"


def test_someone_elses_cat_is_a_404_on_every_page(client: Client, bob: User, whiskers: Cat) -> None:
    client.force_login(bob)
    conversation = ConversationFactory.create(cat=whiskers)

    for url in (
        reverse("cats:edit", args=[whiskers.pk]),
        reverse("cats:delete", args=[whiskers.pk]),
        reverse("cats:conversation-delete", args=[whiskers.pk, conversation.pk]),
    ):
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"name": "Stolen"}).status_code == 404, url
    rename = reverse("cats:conversation-rename", args=[whiskers.pk, conversation.pk])
    assert client.post(rename, {"title": "Mine now"}).status_code == 404

    whiskers.refresh_from_db()
    conversation.refresh_from_db()
    assert whiskers.name == "Whiskers"
    assert conversation.title != "Mine now"


def test_a_conversation_of_another_cat_of_mine_is_a_404_under_this_one(
    alice_client: Client, alice: User, whiskers: Cat
) -> None:
    other = ConversationFactory.create(cat=CatFactory.create(owner=alice))

    url = reverse("cats:conversation-delete", args=[whiskers.pk, other.pk])
    assert alice_client.post(url).status_code == 404
    assert Conversation.objects.filter(pk=other.pk).exists()


def test_the_manage_pages_need_a_login(client: Client, whiskers: Cat) -> None:
    conversation = ConversationFactory.create(cat=whiskers)
    for url in (
        reverse("cats:edit", args=[whiskers.pk]),
        reverse("cats:delete", args=[whiskers.pk]),
        reverse("cats:conversation-delete", args=[whiskers.pk, conversation.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_every_manage_form_needs_its_csrf_token(alice: User, whiskers: Cat) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    conversation = ConversationFactory.create(cat=whiskers, title="Sushi")
    posts = [
        (reverse("cats:edit", args=[whiskers.pk]), {"name": "Mittens"}),
        (reverse("cats:conversation-rename", args=[whiskers.pk, conversation.pk]), {"title": "X"}),
        (reverse("cats:conversation-delete", args=[whiskers.pk, conversation.pk]), {}),
        (reverse("cats:delete", args=[whiskers.pk]), {}),
    ]

    for url, data in posts:
        assert client.post(url, data).status_code == 403, url

    assert Cat.objects.get(pk=whiskers.pk).name == "Whiskers"
    assert Conversation.objects.get(pk=conversation.pk).title == "Sushi"
    # ... and each page that posts carries the token.
    for url in (
        reverse("cats:edit", args=[whiskers.pk]),
        reverse("cats:delete", args=[whiskers.pk]),
        reverse("cats:conversation-delete", args=[whiskers.pk, conversation.pk]),
        reverse("cats:chat", args=[whiskers.pk]),
    ):
        assert 'name="csrfmiddlewaretoken"' in client.get(url).content.decode(), url


def test_a_form_with_its_token_goes_through(alice: User, whiskers: Cat) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(reverse("cats:edit", args=[whiskers.pk]))
    token = page.context["csrf_token"]

    response = client.post(
        reverse("cats:edit", args=[whiskers.pk]), {"name": "Mittens", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    assert Cat.objects.get(pk=whiskers.pk).name == "Mittens"


# --- deleting a cat -------------------------------------------------------------------------


def test_deleting_a_cat_asks_first_then_removes_it_and_its_conversations(
    alice_client: Client, whiskers: Cat
) -> None:
    conversation = ConversationFactory.create(cat=whiskers)
    MessageFactory.create(conversation=conversation)
    url = reverse("cats:delete", args=[whiskers.pk])

    confirm = alice_client.get(url)
    assert confirm.status_code == 200
    assert Cat.objects.filter(pk=whiskers.pk).exists()  # asking removes nothing
    assert f'action="{url}"' in confirm.content.decode()
    response = alice_client.post(url)

    assert response.status_code == 302
    assert response["Location"] == reverse("cats:list")
    assert not Cat.objects.filter(pk=whiskers.pk).exists()
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert not MemoryProfile.objects.filter(cat_id=whiskers.pk).exists()


def test_the_cats_list_and_the_chat_header_lead_to_edit_and_delete(
    alice_client: Client, alice: User, whiskers: Cat
) -> None:
    tom = CatFactory.create(owner=alice, name="Tom")
    CatFactory.create(name="Not alices")
    edit, delete = (
        reverse("cats:edit", args=[whiskers.pk]),
        reverse("cats:delete", args=[whiskers.pk]),
    )

    listing = alice_client.get(reverse("cats:list")).content.decode()
    chat = alice_client.get(reverse("cats:chat", args=[whiskers.pk]))
    html = chat.content.decode()

    assert f'href="{edit}"' in listing and f'href="{delete}"' in listing
    assert f'href="{edit}"' in html and f'href="{delete}"' in html
    # the switcher: the user's other cats (as links), not this one, nobody else's
    assert [c.name for c in chat.context["other_cats"]] == ["Tom"]
    assert f'href="{reverse("cats:chat", args=[tom.pk])}">Chat with Tom</a>' in html
    assert "Not alices" not in html


# --- renaming and deleting a conversation (the no-JS forms; chat.js uses the REST routes) ----


def test_renaming_a_conversation(alice_client: Client, whiskers: Cat) -> None:
    conversation = ConversationFactory.create(cat=whiskers, title="Old")
    url = reverse("cats:conversation-rename", args=[whiskers.pk, conversation.pk])

    response = alice_client.post(url, {"title": "  About sushi "})

    assert response.status_code == 302
    assert response["Location"].endswith(f"?conversation={conversation.pk}")
    conversation.refresh_from_db()
    assert conversation.title == "About sushi"
    assert alice_client.post(url, {"title": "  "}).status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "About sushi"  # an empty title is refused


def test_deleting_a_conversation_asks_first(alice_client: Client, whiskers: Cat) -> None:
    conversation = ConversationFactory.create(cat=whiskers, title="Sushi")
    kept = ConversationFactory.create(cat=whiskers)
    MessageFactory.create(conversation=conversation)
    url = reverse("cats:conversation-delete", args=[whiskers.pk, conversation.pk])

    assert "Delete “Sushi”?" in alice_client.get(url).content.decode()
    response = alice_client.post(url)

    assert response.status_code == 302
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert Conversation.objects.filter(pk=kept.pk).exists()


def test_the_rest_routes_chat_js_calls_rename_and_delete_with_the_session(
    alice: User, whiskers: Cat
) -> None:
    """chat.js calls PATCH/DELETE conversations/{id}/ with the session cookie and the page's
    CSRF token: without the token they are refused."""
    conversation = ConversationFactory.create(cat=whiskers, title="Old")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    url = reverse("cats_api:conversation-detail", args=[conversation.pk])
    refused = client.patch(url, {"title": "New"}, format="json")
    assert refused.status_code == 403
    page = client.get(reverse("cats:chat", args=[whiskers.pk]))
    csrf = str(page.context["csrf_token"])
    renamed = client.patch(url, {"title": "New"}, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "New"
    assert client.delete(url, HTTP_X_CSRFTOKEN=csrf).status_code == 204
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


# --- searching conversations ----------------------------------------------------------------


def search_url(cat: Cat) -> str:
    return reverse("cats_api:conversation-list", args=[cat.pk])


def test_the_search_route_lives_under_api_v1(whiskers: Cat) -> None:
    assert search_url(whiskers) == f"/api/v1/cats/{whiskers.pk}/conversations/"


def test_search_finds_a_conversation_by_meaning_with_a_snippet(alice: User, whiskers: Cat) -> None:
    client = APIClient()
    client.force_authenticate(alice)
    group = said(
        whiskers,
        "Tuesday",
        "I went to a support group for the first time yesterday, it helped",
    )
    said(whiskers, "Beach", "The weather was lovely on the beach")

    got = client.get(search_url(whiskers), {"q": "When did I go to the support group?"})

    assert got.status_code == 200
    first = got.json()["results"][0]
    assert first["id"] == group.pk
    assert first["title"] == "Tuesday"
    assert first["snippet"].startswith("I went to a support group")
    assert first["message"] == group.messages.get().pk
    # by meaning, no shared word
    meaning = client.get(search_url(whiskers), {"q": "therapy meeting"}).json()["results"]
    assert meaning[0]["id"] == group.pk


def test_search_finds_words_in_the_cats_lines_and_titles(alice: User, whiskers: Cat) -> None:
    client = APIClient()
    client.force_authenticate(alice)
    titled = ConversationFactory.create(cat=whiskers, title="Sushi night")
    replied = ConversationFactory.create(cat=whiskers, title="Other")
    line = MessageFactory.create(
        conversation=replied, role=Message.Role.CAT, text="*purrs* Tuna is the best fish"
    )
    ConversationFactory.create(cat=whiskers, title="Nothing here")

    sushi = client.get(search_url(whiskers), {"q": "sushi"}).json()["results"]
    tuna = client.get(search_url(whiskers), {"q": "tuna"}).json()["results"]

    assert [(r["id"], r["message"]) for r in sushi] == [(titled.pk, None)]
    assert [(r["id"], r["message"], r["snippet"]) for r in tuna] == [
        (replied.pk, line.pk, line.text)
    ]


def test_search_shows_only_this_cats_conversations_of_its_owner(
    alice: User, bob: User, whiskers: Cat
) -> None:
    other_cat = CatFactory.create(owner=alice, name="Tom")
    bobs_cat = CatFactory.create(owner=bob, name="Rex")
    mine = said(whiskers, "Mine", "My sister Mia visited today")
    said(other_cat, "Tom's", "My sister Mia visited today")
    said(bobs_cat, "Bob's", "My sister Mia visited today")
    client = APIClient()
    client.force_authenticate(alice)

    results = client.get(search_url(whiskers), {"q": "sister Mia"}).json()["results"]
    assert [r["id"] for r in results] == [mine.pk]

    client.force_authenticate(bob)
    assert client.get(search_url(whiskers), {"q": "Mia"}).status_code == 404
    assert APIClient().get(search_url(whiskers), {"q": "Mia"}).status_code == 401


def test_without_q_the_list_is_unchanged(alice: User, whiskers: Cat) -> None:
    ConversationFactory.create(cat=whiskers)
    client = APIClient()
    client.force_authenticate(alice)

    results = client.get(search_url(whiskers)).json()["results"]

    assert set(results[0]) == {"id", "cat", "title", "created_at", "updated_at"}


def test_the_chat_page_searches_without_javascript(alice_client: Client, whiskers: Cat) -> None:
    group = said(whiskers, "Tuesday", "I went to a support group for the first time")
    said(whiskers, "Beach", "The weather was lovely on the beach")

    response = alice_client.get(reverse("cats:chat", args=[whiskers.pk]), {"q": "support group"})

    hits = response.context["hits"]
    assert hits[0].conversation == group
    html = response.content.decode()
    assert 'id="conversation-results" ' in html and 'conversation-results" hidden' not in html
    assert "I went to a support group for the first time" in html


@pytest.mark.parametrize("size", [1, 20])
def test_search_runs_the_same_queries_whatever_the_number_of_conversations(
    alice: User, whiskers: Cat, size: int, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    for n in range(size):
        said(whiskers, f"Chat {n}", f"We talked about sushi, round {n}")
        ConversationFactory.create(cat=whiskers, title=f"Sushi plans {n}")
    client = APIClient()
    client.force_authenticate(alice)
    client.get(search_url(whiskers), {"q": "warmup"})  # loads the embedder

    # the cat, recall, the ranked conversations, those holding the text
    with django_assert_num_queries(4):
        got = client.get(search_url(whiskers), {"q": "sushi"})

    assert len(got.json()["results"]) == min(2 * size, 20)


@pytest.mark.parametrize("size", [1, 20])
def test_the_chat_page_runs_the_same_queries_whatever_the_number_of_conversations(
    alice_client: Client,
    alice: User,
    whiskers: Cat,
    size: int,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    for n in range(size):
        MessageFactory.create(conversation=ConversationFactory.create(cat=whiskers, title=f"C{n}"))
        CatFactory.create(owner=alice, name=f"Cat {n}")

    # session, user, cat, conversations, messages, the versions of the human's messages
    # (edits), the other cats (no receipts: no memories)
    with django_assert_num_queries(7):
        response = alice_client.get(reverse("cats:chat", args=[whiskers.pk]))

    assert len(response.context["conversations"]) == size
    assert len(response.context["other_cats"]) == size


# --- the list grouped by day ------------------------------------------------------------------


def test_day_labels_are_relative() -> None:
    now = datetime(2026, 12, 4, 14, 5, tzinfo=UTC)  # a Friday

    assert day_label(now - timedelta(hours=3), now) == "Today"
    assert day_label(now - timedelta(days=1), now) == "Yesterday"
    assert day_label(now - timedelta(days=3), now) == "Tuesday"
    assert day_label(now - timedelta(days=6), now) == "Saturday"
    assert day_label(now - timedelta(days=7), now) == "27 November"
    assert day_label(datetime(2025, 12, 30, tzinfo=UTC), now) == "30 December 2025"


def test_the_list_is_grouped_by_day_with_clock_times(alice_client: Client, whiskers: Cat) -> None:
    now = timezone.localtime()
    today = ConversationFactory.create(cat=whiskers, title="Today's")
    old = ConversationFactory.create(cat=whiskers, title="Old")
    older = ConversationFactory.create(cat=whiskers, title="Older")
    yesterday = (now - timedelta(days=1)).replace(hour=12)
    Conversation.objects.filter(pk=old.pk).update(updated_at=yesterday)
    Conversation.objects.filter(pk=older.pk).update(updated_at=yesterday - timedelta(hours=1))

    response = alice_client.get(reverse("cats:chat", args=[whiskers.pk]))

    sidebar = [(c.title, day) for c, day in response.context["sidebar"]]
    assert sidebar == [("Today's", "Today"), ("Old", "Yesterday"), ("Older", "")]
    html = response.content.decode()
    assert f">{timezone.localtime(today.updated_at):%H:%M}</time>" in html
    assert '<h3 class="conversation-list__day-title">Today</h3>' in html
