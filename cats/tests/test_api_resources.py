"""The cats REST resources: `cats/`, `cats/{id}/`, `cats/{id}/conversations/`,
`conversations/{id}/` and `conversations/{id}/messages/` (PRODUCT.md "REST API", "Shapes")."""

from __future__ import annotations

import json
import uuid
from base64 import b64encode
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db.models import Model
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from cats.frames import message_payload
from cats.models import CareEvent, Cat, Conversation, Message
from cats.serializers import MessageSerializer
from cats.services import cat_act, message_accept
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.models import ExtractionJob, Memory, MemoryHistory, MemoryProfile
from memories.tests.factories import MemoryFactory

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as Response

pytestmark = pytest.mark.django_db

CAT_FIELDS = {"id", "name", "personality", "coat", "created_at", "state"}
STATE_FIELDS = {
    "hunger",
    "energy",
    "affection",
    "fun",
    "mood",
    "asleep",
    "asleep_until",
    "needs",
    "updated_at",
}
CONVERSATION_FIELDS = {"id", "cat", "title", "created_at", "updated_at"}
COMMON_MESSAGE_FIELDS = {
    "id",
    "conversation",
    "role",
    "text",
    "status",
    "created_at",
    "client_id",
    "reply_to",
    "kept",
}
USER_MESSAGE_FIELDS = COMMON_MESSAGE_FIELDS | {"edit_of"}
CAT_MESSAGE_FIELDS = COMMON_MESSAGE_FIELDS | {
    "model",
    "usage",
    "mood",
    "memories_used",
    "episodes_used",
    "seq",
    "error",
}


def cats_url() -> str:
    return reverse("cats_api:cat-list")


def cat_url(cat_id: int) -> str:
    return reverse("cats_api:cat-detail", args=[cat_id])


def conversations_url(cat_id: int) -> str:
    return reverse("cats_api:conversation-list", args=[cat_id])


def conversation_url(conversation_id: int) -> str:
    return reverse("cats_api:conversation-detail", args=[conversation_id])


def messages_url(conversation_id: int) -> str:
    return reverse("cats_api:message-list", args=[conversation_id])


def ids(response: Response) -> list[int]:
    return [item["id"] for item in response.json()["results"]]


def walk(client: APIClient, url: str, *, link: str = "next") -> list[list[int]]:
    """The ids of every page, following `link` from `url` until it is null."""
    pages: list[list[int]] = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.json()
        pages.append(ids(response))
        next_url = response.json()[link]
        assert len(pages) < 100, "the links go round in circles"
    return pages


def send_json(client: APIClient, method: str, url: str, body: object) -> Response:
    """`body` as JSON text, escaped: the test client's own encoder would refuse a lone
    surrogate before the server ever saw it."""
    call = getattr(client, method)
    response: Response = call(url, json.dumps(body), content_type="application/json")
    return response


def snapshot(model: type[Model], **filters: Any) -> list[dict[str, Any]]:
    return list(model.objects.filter(**filters).order_by("pk").values())  # type: ignore[attr-defined]


@pytest.fixture
def alice_api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers", coat="ginger", hunger=80.0)


@pytest.fixture
def chat(whiskers: Cat) -> Conversation:
    return ConversationFactory.create(cat=whiskers, title="About sushi")


@pytest.fixture
def bobs_cat(bob: User) -> Cat:
    return CatFactory.create(owner=bob, name="Rex", personality="grumpy", coat="black")


@pytest.fixture
def bobs_chat(bobs_cat: Cat) -> Conversation:
    conversation = ConversationFactory.create(cat=bobs_cat, title="Bob's secrets")
    MessageFactory.create(conversation=conversation, text="my PIN is 1234")
    return conversation


def a_cat_reply(conversation: Conversation, **fields: Any) -> Message:
    asked = MessageFactory.create(conversation=conversation, client_id=uuid.uuid4())
    reply: dict[str, Any] = {
        "conversation": conversation,
        "role": Message.Role.CAT,
        "text": "*sniffs your hand* Fish? And none for me?",
        "reply_to": asked,
        "model": "mistral-small-latest",
        "usage": {"prompt_tokens": 812, "completion_tokens": 17, "total_tokens": 829},
        "mood": "playful",
        "memories_used": [12, 7],
        "stream_seq": 9,
    }
    return MessageFactory.create(**(reply | fields))


def test_the_routes_live_under_api_v1() -> None:
    assert cats_url() == "/api/v1/cats/"
    assert cat_url(7) == "/api/v1/cats/7/"
    assert conversations_url(7) == "/api/v1/cats/7/conversations/"
    assert conversation_url(9) == "/api/v1/conversations/9/"
    assert messages_url(9) == "/api/v1/conversations/9/messages/"


# --- cats/ ---------------------------------------------------------------------------------


def test_a_new_user_has_no_cats(alice_api: APIClient) -> None:
    response = alice_api.get(cats_url())

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None, "previous": None}


def test_the_list_shows_only_my_cats_oldest_adoption_first_with_their_state(
    alice_api: APIClient, alice: User, bobs_cat: Cat
) -> None:
    first = CatFactory.create(owner=alice, name="Mochi", hunger=80.0)
    second = CatFactory.create(owner=alice, name="Pixel")

    response = alice_api.get(cats_url())

    assert response.status_code == 200
    body = response.json()
    assert [cat["id"] for cat in body["results"]] == [first.pk, second.pk]
    mochi = body["results"][0]
    assert set(mochi) == CAT_FIELDS
    assert (mochi["name"], mochi["personality"], mochi["coat"]) == (
        "Mochi",
        first.personality,
        first.coat,
    )
    assert mochi["created_at"] == first.created_at.isoformat()  # as the WebSocket writes it
    assert set(mochi["state"]) == STATE_FIELDS
    assert mochi["state"]["hunger"] == 80
    assert mochi["state"]["mood"] == "hungry"
    assert (body["next"], body["previous"]) == (None, None)


@pytest.mark.parametrize("cats", [2, 30])
def test_listing_cats_is_one_query_however_many_there_are(
    alice_api: APIClient,
    alice: User,
    cats: int,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    CatFactory.create_batch(cats, owner=alice)

    with django_assert_num_queries(1):  # the page; each state is computed from its row
        response = alice_api.get(cats_url())

    assert len(response.json()["results"]) == cats


def test_cats_come_50_a_page_and_the_links_walk_both_ways(
    alice_api: APIClient, alice: User
) -> None:
    everyone = [cat.pk for cat in CatFactory.create_batch(120, owner=alice)]

    pages = walk(alice_api, cats_url())

    assert [len(page) for page in pages] == [50, 50, 20]
    assert [pk for page in pages for pk in page] == everyone
    last = alice_api.get(cats_url())
    for _ in range(2):
        last = alice_api.get(last.json()["next"])
    assert last.json()["next"] is None
    back = walk(alice_api, last.json()["previous"], link="previous")
    assert back == [everyone[50:100], everyone[:50]]


def test_adopting_a_cat_creates_it_with_its_memory_profile(
    alice_api: APIClient, alice: User
) -> None:
    response = alice_api.post(
        cats_url(),
        {"name": "  Whiskers ", "personality": " shy, curious ", "coat": "ginger\n"},
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == CAT_FIELDS
    cat = Cat.objects.get()
    assert (cat.owner, cat.name, cat.personality, cat.coat) == (
        alice,
        "Whiskers",
        "shy, curious",
        "ginger",
    )
    assert body["id"] == cat.pk
    assert (body["name"], body["personality"], body["coat"]) == (
        "Whiskers",
        "shy, curious",
        "ginger",
    )
    assert body["created_at"] == cat.created_at.isoformat()
    assert body["state"]["mood"] == "content"
    assert MemoryProfile.objects.get(cat=cat).user == alice


def test_only_a_name_is_needed_and_unknown_fields_are_ignored(
    alice_api: APIClient, alice: User
) -> None:
    response = alice_api.post(
        cats_url(), {"name": "Tofu", "owner": 999, "hunger": 0, "id": 5}, format="json"
    )

    assert response.status_code == 201
    cat = Cat.objects.get()
    assert (cat.owner, cat.name, cat.personality, cat.coat, cat.hunger) == (
        alice,
        "Tofu",
        "",
        "",
        20.0,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 41}, "name"),
        ({"name": "x" * 1_000_000}, "name"),
        ({"name": 123}, "name"),
        ({"name": True}, "name"),
        ({"name": ["Tofu"]}, "name"),
        ({"name": {"first": "Tofu"}}, "name"),
        ({"name": "To\x00fu"}, "name"),
        ({"name": "To\ud800fu"}, "name"),  # a lone surrogate: PostgreSQL cannot store it
        ({"name": "Tofu", "personality": "x" * 301}, "personality"),
        ({"name": "Tofu", "personality": None}, "personality"),
        ({"name": "Tofu", "coat": "x" * 41}, "coat"),
        ({"name": "Tofu", "coat": 7}, "coat"),
    ],
)
def test_a_bad_adoption_is_a_400_with_a_field_error(
    alice_api: APIClient, body: dict[str, object], field: str
) -> None:
    response = send_json(alice_api, "post", cats_url(), body)

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {field}
    assert isinstance(errors[field], list) and errors[field]
    assert not Cat.objects.exists()


def test_the_name_limit_counts_after_trimming_as_the_form_does(alice_api: APIClient) -> None:
    response = alice_api.post(cats_url(), {"name": f"  {'x' * 40}  "})

    assert response.status_code == 201
    assert Cat.objects.get().name == "x" * 40


@pytest.mark.parametrize("body", [["Tofu"], "Tofu", 42, None, True])
def test_a_body_that_is_not_a_json_object_is_a_400_on_every_write(
    alice_api: APIClient, whiskers: Cat, chat: Conversation, body: object
) -> None:
    before = (snapshot(Cat), snapshot(Conversation))
    writes = [
        ("post", cats_url()),
        ("patch", cat_url(whiskers.pk)),
        ("post", conversations_url(whiskers.pk)),
        ("patch", conversation_url(chat.pk)),
    ]

    for method, url in writes:
        response = send_json(alice_api, method, url, body)
        assert response.status_code == 400, (method, url)
        assert "non_field_errors" in response.json(), (method, url)
    assert (snapshot(Cat), snapshot(Conversation)) == before


def test_broken_json_is_a_400_and_a_form_a_415(alice_api: APIClient) -> None:
    broken = alice_api.post(cats_url(), '{"name": ', content_type="application/json")
    form = alice_api.post(cats_url(), {"name": "Tofu"}, format="multipart")

    assert broken.status_code == 400
    assert "detail" in broken.json()
    assert form.status_code == 415
    assert not Cat.objects.exists()


# --- cats/{id}/ ----------------------------------------------------------------------------


def test_the_owner_reads_one_cat_in_one_query(
    alice_api: APIClient, whiskers: Cat, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(1):
        response = alice_api.get(cat_url(whiskers.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == CAT_FIELDS
    assert (body["id"], body["name"], body["coat"]) == (whiskers.pk, "Whiskers", "ginger")
    assert body["state"]["hunger"] == 80


def test_a_real_jwt_works_for_the_resources(alice: User, whiskers: Cat) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(alice)}")

    assert client.get(cats_url()).status_code == 200
    assert client.get(cat_url(whiskers.pk)).json()["name"] == "Whiskers"


def test_patching_a_cat_changes_only_what_is_sent(alice_api: APIClient, whiskers: Cat) -> None:
    cat_act(cat=whiskers, actor=whiskers.owner, action="feed")
    vitals_before = Cat.objects.values("hunger", "vitals_at", "mood").get(pk=whiskers.pk)

    renamed = alice_api.patch(cat_url(whiskers.pk), {"name": "  Sir Whiskers "})
    recoated = alice_api.patch(cat_url(whiskers.pk), {"coat": "grey tabby", "personality": ""})

    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Sir Whiskers"
    assert renamed.json()["coat"] == "ginger"
    assert recoated.status_code == 200
    assert set(recoated.json()) == CAT_FIELDS
    whiskers.refresh_from_db()
    assert (whiskers.name, whiskers.personality, whiskers.coat) == (
        "Sir Whiskers",
        "",
        "grey tabby",
    )
    assert Cat.objects.values("hunger", "vitals_at", "mood").get(pk=whiskers.pk) == vitals_before


def test_an_empty_patch_changes_nothing(alice_api: APIClient, whiskers: Cat) -> None:
    before = snapshot(Cat)

    response = alice_api.patch(cat_url(whiskers.pk), {}, format="json")

    assert response.status_code == 200
    assert response.json()["name"] == "Whiskers"
    assert snapshot(Cat) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": " "}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 41}, "name"),
        ({"name": 5}, "name"),
        ({"personality": "x" * 301}, "personality"),
        ({"coat": None}, "coat"),
        ({"coat": ["ginger"]}, "coat"),
    ],
)
def test_a_bad_patch_is_a_400_and_changes_nothing(
    alice_api: APIClient, whiskers: Cat, body: dict[str, object], field: str
) -> None:
    before = snapshot(Cat)

    response = send_json(alice_api, "patch", cat_url(whiskers.pk), body)

    assert response.status_code == 400
    assert set(response.json()) == {field}
    assert snapshot(Cat) == before


def test_deleting_a_cat_removes_everything_of_it_and_nothing_else(
    alice_api: APIClient, alice: User, whiskers: Cat, bobs_chat: Conversation
) -> None:
    other = CatFactory.create(owner=alice, name="Mochi")
    kept_chat = ConversationFactory.create(cat=other)
    kept_message = MessageFactory.create(conversation=kept_chat)
    kept_memory = MemoryFactory.create(profile=other.memory_profile)
    cat_act(cat=other, actor=alice, action="pet")
    # Whiskers' rows: care, conversations, messages (with an extraction job), memories.
    cat_act(cat=whiskers, actor=alice, action="feed")
    accepted = message_accept(
        cat=whiskers, text="I live in Lyon", client_id=uuid.uuid4(), conversation_id=None
    )
    a_cat_reply(accepted.message.conversation)
    ConversationFactory.create(cat=whiskers)
    memory = MemoryFactory.create(profile=whiskers.memory_profile, source_message=accepted.message)
    MemoryHistory.objects.create(memory=memory, operation="add", actor="cat", new_text="x")
    assert ExtractionJob.objects.filter(profile__cat=whiskers).exists()
    bobs_before = snapshot(Message, conversation__cat__owner__username="bob")

    response = alice_api.delete(cat_url(whiskers.pk))

    assert response.status_code == 204
    assert not response.content
    assert not Cat.objects.filter(pk=whiskers.pk).exists()
    assert not CareEvent.objects.filter(cat_id=whiskers.pk).exists()
    assert not Conversation.objects.filter(cat_id=whiskers.pk).exists()
    assert not Message.objects.filter(conversation__cat_id=whiskers.pk).exists()
    assert not MemoryProfile.objects.filter(cat_id=whiskers.pk).exists()
    assert not Memory.objects.filter(pk=memory.pk).exists()
    assert not MemoryHistory.objects.filter(memory_id=memory.pk).exists()
    assert not ExtractionJob.objects.filter(message_id=accepted.message.pk).exists()
    # Alice's other cat and Bob's things are all there.
    assert Cat.objects.filter(pk=other.pk).exists()
    assert CareEvent.objects.filter(cat=other).count() == 1
    assert list(Message.objects.filter(conversation=kept_chat)) == [kept_message]
    assert Memory.objects.filter(pk=kept_memory.pk).exists()
    assert snapshot(Message, conversation__cat__owner__username="bob") == bobs_before
    assert alice_api.get(cat_url(whiskers.pk)).status_code == 404


# --- cats/{id}/conversations/ --------------------------------------------------------------


def test_a_cats_conversations_come_newest_first(
    alice_api: APIClient, alice: User, whiskers: Cat
) -> None:
    older = ConversationFactory.create(cat=whiskers, title="Older")
    newer = ConversationFactory.create(cat=whiskers, title="Newer")
    ConversationFactory.create(cat=CatFactory.create(owner=alice))  # another cat's

    response = alice_api.get(conversations_url(whiskers.pk))

    assert response.status_code == 200
    body = response.json()
    assert ids(response) == [newer.pk, older.pk]
    assert body["results"][0] == {
        "id": newer.pk,
        "cat": whiskers.pk,
        "title": "Newer",
        "created_at": newer.created_at.isoformat(),
        "updated_at": newer.updated_at.isoformat(),
    }
    assert (body["next"], body["previous"]) == (None, None)


@pytest.mark.parametrize("conversations", [2, 30])
def test_listing_conversations_takes_two_queries_however_many_there_are(
    alice_api: APIClient,
    whiskers: Cat,
    conversations: int,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    ConversationFactory.create_batch(conversations, cat=whiskers)

    with django_assert_num_queries(2):  # the cat, the page
        response = alice_api.get(conversations_url(whiskers.pk))

    assert len(response.json()["results"]) == conversations


def test_conversations_come_50_a_page(alice_api: APIClient, whiskers: Cat) -> None:
    made = [c.pk for c in ConversationFactory.create_batch(75, cat=whiskers)]
    newest_first = made[::-1]

    pages = walk(alice_api, conversations_url(whiskers.pk))

    assert pages == [newest_first[:50], newest_first[50:]]


def test_starting_a_conversation(alice_api: APIClient, whiskers: Cat) -> None:
    titled = alice_api.post(conversations_url(whiskers.pk), {"title": "  About sushi  "})
    untitled = alice_api.post(conversations_url(whiskers.pk), {}, format="json")

    assert titled.status_code == 201
    assert untitled.status_code == 201
    assert set(titled.json()) == CONVERSATION_FIELDS
    assert (titled.json()["cat"], titled.json()["title"]) == (whiskers.pk, "About sushi")
    assert untitled.json()["title"] == ""
    saved = Conversation.objects.get(pk=titled.json()["id"])
    assert (saved.cat, saved.title) == (whiskers, "About sushi")
    assert titled.json()["created_at"] == saved.created_at.isoformat()
    assert ids(alice_api.get(conversations_url(whiskers.pk))) == [
        untitled.json()["id"],
        saved.pk,
    ]


@pytest.mark.parametrize(
    "body",
    [{"title": "x" * 121}, {"title": None}, {"title": 12}, {"title": ["a"]}, {"title": "a\x00"}],
)
def test_a_bad_new_conversation_is_a_400(
    alice_api: APIClient, whiskers: Cat, body: dict[str, object]
) -> None:
    response = alice_api.post(conversations_url(whiskers.pk), body, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"title"}
    assert not Conversation.objects.exists()


# --- conversations/{id}/ -------------------------------------------------------------------


def test_the_owner_reads_a_conversation(
    alice_api: APIClient, chat: Conversation, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_num_queries(1):
        response = alice_api.get(conversation_url(chat.pk))

    assert response.status_code == 200
    assert response.json() == {
        "id": chat.pk,
        "cat": chat.cat_id,
        "title": "About sushi",
        "created_at": chat.created_at.isoformat(),
        "updated_at": chat.updated_at.isoformat(),
    }


def test_renaming_a_conversation_trims_the_title_and_moves_updated_at(
    alice_api: APIClient, chat: Conversation
) -> None:
    before = chat.updated_at

    response = alice_api.patch(conversation_url(chat.pk), {"title": "  Sushi, again \n"})

    assert response.status_code == 200
    chat.refresh_from_db()
    assert chat.title == "Sushi, again"
    assert chat.updated_at > before
    assert response.json()["title"] == "Sushi, again"
    assert response.json()["updated_at"] == chat.updated_at.isoformat()


def test_a_title_may_be_120_characters(alice_api: APIClient, chat: Conversation) -> None:
    response = alice_api.patch(conversation_url(chat.pk), {"title": "x" * 120})

    assert response.status_code == 200
    chat.refresh_from_db()
    assert chat.title == "x" * 120


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   "},
        {"title": None},
        {"title": "x" * 121},
        {"title": "x" * 500_000},
        {"title": 3.5},
        {"title": {"text": "hi"}},
        {"title": "\udfff"},
    ],
)
def test_a_bad_rename_is_a_400_and_changes_nothing(
    alice_api: APIClient, chat: Conversation, body: dict[str, object]
) -> None:
    before = snapshot(Conversation)

    response = send_json(alice_api, "patch", conversation_url(chat.pk), body)

    assert response.status_code == 400
    assert set(response.json()) == {"title"}
    assert snapshot(Conversation) == before


def test_deleting_a_conversation_removes_its_messages_only(
    alice_api: APIClient, whiskers: Cat, chat: Conversation, bobs_chat: Conversation
) -> None:
    doomed = [MessageFactory.create(conversation=chat).pk, a_cat_reply(chat).pk]
    other = ConversationFactory.create(cat=whiskers)
    kept = MessageFactory.create(conversation=other)
    learned = MemoryFactory.create(profile=whiskers.memory_profile, source_message_id=doomed[0])
    bobs_before = snapshot(Message, conversation=bobs_chat)

    response = alice_api.delete(conversation_url(chat.pk))

    assert response.status_code == 204
    assert not response.content
    assert not Conversation.objects.filter(pk=chat.pk).exists()
    assert not Message.objects.filter(pk__in=doomed).exists()
    assert list(Message.objects.filter(conversation=other)) == [kept]
    assert snapshot(Message, conversation=bobs_chat) == bobs_before
    assert Cat.objects.filter(pk=whiskers.pk).exists()
    learned.refresh_from_db()  # what the cat learned stays, without its source
    assert learned.source_message_id is None
    assert alice_api.get(conversation_url(chat.pk)).status_code == 404


# --- conversations/{id}/messages/ ----------------------------------------------------------


def test_the_message_serializer_is_the_websocket_payload(chat: Conversation) -> None:
    reply = a_cat_reply(chat)
    failed = a_cat_reply(chat, error_code="llm_timeout", status=Message.Status.ERROR)
    streaming = a_cat_reply(chat, status=Message.Status.STREAMING, usage=None, mood="")
    made = [reply.pk, failed.pk, streaming.pk, *[m.reply_to_id or 0 for m in (reply, failed)]]

    for message in Message.objects.filter(pk__in=made):  # as read back, and as just made
        assert MessageSerializer(message).data == message_payload(message)
    for message in (reply, failed, streaming):
        assert MessageSerializer(message).data == message_payload(message)

    assert failed.reply_to is not None
    assert set(MessageSerializer(failed.reply_to).data) == USER_MESSAGE_FIELDS
    assert set(MessageSerializer(reply).data) == CAT_MESSAGE_FIELDS
    assert set(MessageSerializer().fields) == CAT_MESSAGE_FIELDS | USER_MESSAGE_FIELDS


def test_messages_come_oldest_first_exactly_as_the_websocket_sends_them(
    alice_api: APIClient, chat: Conversation, bobs_chat: Conversation
) -> None:
    reply = a_cat_reply(chat)
    failed = a_cat_reply(chat, error_code="llm_timeout", status=Message.Status.ERROR)

    response = alice_api.get(messages_url(chat.pk))

    assert response.status_code == 200
    body = response.json()
    in_order = list(Message.objects.filter(conversation=chat).order_by("created_at", "id"))
    assert [m.pk for m in in_order] == [reply.reply_to_id, reply.pk, failed.reply_to_id, failed.pk]
    assert body["results"] == [message_payload(m) for m in in_order]
    assert body["results"][3]["error"] == {"code": "llm_timeout", "detail": ""}
    assert (body["next"], body["previous"]) == (None, None)


@pytest.mark.parametrize("messages", [3, 40])
def test_listing_messages_takes_two_queries_however_many_there_are(
    alice_api: APIClient,
    chat: Conversation,
    messages: int,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    MessageFactory.create_batch(messages, conversation=chat)

    with django_assert_num_queries(2):  # the conversation (with its cat's owner), the page
        response = alice_api.get(messages_url(chat.pk))

    assert len(response.json()["results"]) == messages


def test_messages_come_50_a_page_unless_page_size_says_otherwise(
    alice_api: APIClient, chat: Conversation
) -> None:
    made = [m.pk for m in MessageFactory.create_batch(230, conversation=chat)]

    default = walk(alice_api, messages_url(chat.pk))
    by_30 = walk(alice_api, f"{messages_url(chat.pk)}?page_size=30")
    at_most_200 = walk(alice_api, f"{messages_url(chat.pk)}?page_size=100000")

    assert [len(page) for page in default] == [50, 50, 50, 50, 30]
    assert [pk for page in default for pk in page] == made
    assert [len(page) for page in by_30] == [30] * 7 + [20]
    assert [pk for page in by_30 for pk in page] == made
    assert [len(page) for page in at_most_200] == [200, 30]


@pytest.mark.parametrize("page_size", ["0", "-3", "ten", "", "1e3"])
def test_a_page_size_that_is_no_positive_number_means_50(
    alice_api: APIClient, chat: Conversation, page_size: str
) -> None:
    MessageFactory.create_batch(60, conversation=chat)

    response = alice_api.get(messages_url(chat.pk), {"page_size": page_size})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 50


def test_the_previous_link_walks_back_page_by_page(
    alice_api: APIClient, chat: Conversation
) -> None:
    made = [m.pk for m in MessageFactory.create_batch(7, conversation=chat)]
    url = f"{messages_url(chat.pk)}?page_size=3"
    third = alice_api.get(alice_api.get(alice_api.get(url).json()["next"]).json()["next"])
    assert ids(third) == made[6:]

    back = walk(alice_api, third.json()["previous"], link="previous")

    assert back == [made[3:6], made[:3]]
    # and from a page reached backwards, `next` goes forward again
    second = alice_api.get(third.json()["previous"])
    assert ids(alice_api.get(second.json()["next"])) == made[6:]


def test_paging_forward_while_messages_arrive_sees_each_exactly_once_in_order(
    alice_api: APIClient, whiskers: Cat, chat: Conversation
) -> None:
    def arrive(text: str) -> Message:
        return message_accept(
            cat=whiskers, text=text, client_id=uuid.uuid4(), conversation_id=chat.pk
        ).message

    for n in range(10):
        arrive(f"old {n}")
    seen: list[int] = []
    url: str | None = f"{messages_url(chat.pk)}?page_size=3"
    pages = 0

    while url is not None:
        page = alice_api.get(url)
        assert page.status_code == 200
        seen += ids(page)
        url = page.json()["next"]
        pages += 1
        if pages <= 4:  # a message arrives after each of the first four pages
            arrived = arrive(f"new {pages}")
            if pages % 2 == 0:
                # Stamped the same microsecond as the newest message seen: the id decides, and
                # it comes right after that one.
                Message.objects.filter(pk=arrived.pk).update(
                    created_at=Message.objects.get(pk=seen[-1]).created_at
                )

    everything = list(
        Message.objects.filter(conversation=chat)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
    )
    assert len(everything) == 14
    assert seen == everything
    assert pages == 5


def test_messages_sharing_a_timestamp_are_each_paged_once(
    alice_api: APIClient, chat: Conversation
) -> None:
    made = [m.pk for m in MessageFactory.create_batch(9, conversation=chat)]
    Message.objects.filter(pk__in=made).update(created_at=timezone.now() - timedelta(minutes=1))

    pages = walk(alice_api, f"{messages_url(chat.pk)}?page_size=2")
    back = walk(alice_api, f"{messages_url(chat.pk)}?page_size=4")

    assert [pk for page in pages for pk in page] == made
    assert [pk for page in back for pk in page] == made


def _cursor(position: str, reverse: bool = False) -> str:
    tokens = f"p={position}" + ("&r=1" if reverse else "")
    return b64encode(tokens.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "élan",
        b64encode(b"hello").decode(),
        _cursor("yesterday|5"),
        _cursor("2026-01-01T00:00:00+00:00|x"),
        _cursor("2026-01-01T00:00:00|5"),  # naive
        _cursor(f"2026-01-01T00:00:00+00:00|{2**63}"),  # past bigint
        _cursor("2026-01-01T00:00:00+00:00|-1"),
        _cursor("2026-01-01T00:00:00+00:00"),
    ],
)
def test_a_cursor_that_cannot_be_read_is_a_404(
    alice_api: APIClient, whiskers: Cat, chat: Conversation, cursor: str
) -> None:
    for url in (cats_url(), conversations_url(whiskers.pk), messages_url(chat.pk)):
        response = alice_api.get(url, {"cursor": cursor})
        assert response.status_code == 404, url
        assert response.json() == {"detail": "Invalid cursor"}


# --- owner scoping, credentials, methods ---------------------------------------------------


def test_bobs_cat_is_a_404_for_alice_on_every_method_and_stays_unchanged(
    alice_api: APIClient, bobs_cat: Cat, bobs_chat: Conversation
) -> None:
    before = (snapshot(Cat), snapshot(Conversation), snapshot(Message))
    url = cat_url(bobs_cat.pk)

    responses = [
        alice_api.get(url),
        alice_api.patch(url, {"name": "Mine now"}),
        alice_api.patch(url, {"name": None}, format="json"),  # 404 before 400
        alice_api.delete(url),
        alice_api.get(conversations_url(bobs_cat.pk)),
        alice_api.post(conversations_url(bobs_cat.pk), {"title": "hello"}),
        alice_api.post(conversations_url(bobs_cat.pk), {"title": 5}, format="json"),
    ]

    for response in responses:
        assert response.status_code == 404
        assert response.json() == {"detail": "No such cat."}
    assert (snapshot(Cat), snapshot(Conversation), snapshot(Message)) == before


def test_bobs_conversation_is_a_404_for_alice_on_every_method_and_stays_unchanged(
    alice_api: APIClient, whiskers: Cat, bobs_chat: Conversation
) -> None:
    before = (snapshot(Conversation), snapshot(Message))

    responses = [
        alice_api.get(conversation_url(bobs_chat.pk)),
        alice_api.patch(conversation_url(bobs_chat.pk), {"title": "Mine now"}),
        alice_api.patch(conversation_url(bobs_chat.pk), {"title": ""}),  # 404 before 400
        alice_api.delete(conversation_url(bobs_chat.pk)),
        alice_api.get(messages_url(bobs_chat.pk)),
    ]

    for response in responses:
        assert response.status_code == 404
        assert response.json() == {"detail": "No such conversation."}
    assert (snapshot(Conversation), snapshot(Message)) == before
    # Bob's cat's conversations don't show under Alice's cat either.
    assert ids(alice_api.get(conversations_url(whiskers.pk))) == []


def test_bob_still_sees_his_own(bob: User, bobs_cat: Cat, bobs_chat: Conversation) -> None:
    client = APIClient()
    client.force_authenticate(bob)

    assert ids(client.get(cats_url())) == [bobs_cat.pk]
    assert client.get(conversation_url(bobs_chat.pk)).status_code == 200
    assert len(ids(client.get(messages_url(bobs_chat.pk)))) == 1


@pytest.mark.parametrize("object_id", [999_999, 2**63])  # the latter overflows a bigint
def test_unknown_ids_are_a_404(alice_api: APIClient, object_id: int) -> None:
    cat_routes: list[Callable[[], Response]] = [
        lambda: alice_api.get(cat_url(object_id)),
        lambda: alice_api.patch(cat_url(object_id), {"name": "x"}),
        lambda: alice_api.delete(cat_url(object_id)),
        lambda: alice_api.get(conversations_url(object_id)),
        lambda: alice_api.post(conversations_url(object_id), {}, format="json"),
    ]
    conversation_routes: list[Callable[[], Response]] = [
        lambda: alice_api.get(conversation_url(object_id)),
        lambda: alice_api.patch(conversation_url(object_id), {"title": "x"}),
        lambda: alice_api.delete(conversation_url(object_id)),
        lambda: alice_api.get(messages_url(object_id)),
    ]

    for call in cat_routes:
        response = call()
        assert (response.status_code, response.json()) == (404, {"detail": "No such cat."})
    for call in conversation_routes:
        response = call()
        assert (response.status_code, response.json()) == (
            404,
            {"detail": "No such conversation."},
        )


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt"])
def test_without_valid_credentials_every_route_is_a_401_with_a_bearer_challenge(
    whiskers: Cat, chat: Conversation, authorization: str | None
) -> None:
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    before = (snapshot(Cat), snapshot(Conversation))

    responses = [
        client.get(cats_url()),
        client.post(cats_url(), {"name": "Tofu"}),
        client.get(cat_url(whiskers.pk)),
        client.patch(cat_url(whiskers.pk), {"name": "Tofu"}),
        client.delete(cat_url(whiskers.pk)),
        client.get(conversations_url(whiskers.pk)),
        client.post(conversations_url(whiskers.pk), {"title": "x"}),
        client.get(conversation_url(chat.pk)),
        client.patch(conversation_url(chat.pk), {"title": "x"}),
        client.delete(conversation_url(chat.pk)),
        client.get(messages_url(chat.pk)),
    ]

    for response in responses:
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "detail" in response.json()
    assert (snapshot(Cat), snapshot(Conversation)) == before


def test_wrong_methods_are_a_405(alice_api: APIClient, whiskers: Cat, chat: Conversation) -> None:
    responses = [
        alice_api.put(cats_url(), {"name": "x"}),
        alice_api.delete(cats_url()),
        alice_api.post(cat_url(whiskers.pk), {"name": "x"}),
        alice_api.put(cat_url(whiskers.pk), {"name": "x"}),
        alice_api.delete(conversations_url(whiskers.pk)),
        alice_api.post(conversation_url(chat.pk), {"title": "x"}),
        alice_api.put(conversation_url(chat.pk), {"title": "x"}),
        alice_api.post(messages_url(chat.pk), {"text": "hi"}),
        alice_api.delete(messages_url(chat.pk)),
    ]

    for response in responses:
        assert response.status_code == 405
        assert "detail" in response.json()
    assert Cat.objects.get().name == "Whiskers"
    assert Conversation.objects.get().title == "About sushi"


# --- OpenAPI -------------------------------------------------------------------------------

DOCUMENTED = {
    ("/api/v1/cats/", "get"): ("cats", {"200", "401"}),
    ("/api/v1/cats/", "post"): ("cats", {"201", "400", "401"}),
    ("/api/v1/cats/{cat_id}/", "get"): ("cats", {"200", "401", "404"}),
    ("/api/v1/cats/{cat_id}/", "patch"): ("cats", {"200", "400", "401", "404"}),
    ("/api/v1/cats/{cat_id}/", "delete"): ("cats", {"204", "401", "404"}),
    ("/api/v1/cats/{cat_id}/conversations/", "get"): ("conversations", {"200", "401", "404"}),
    ("/api/v1/cats/{cat_id}/conversations/", "post"): (
        "conversations",
        {"201", "400", "401", "404"},
    ),
    ("/api/v1/conversations/{conversation_id}/", "get"): ("conversations", {"200", "401", "404"}),
    ("/api/v1/conversations/{conversation_id}/", "patch"): (
        "conversations",
        {"200", "400", "401", "404"},
    ),
    ("/api/v1/conversations/{conversation_id}/", "delete"): (
        "conversations",
        {"204", "401", "404"},
    ),
    ("/api/v1/conversations/{conversation_id}/messages/", "get"): (
        "conversations",
        {"200", "401", "404"},
    ),
}


def _has_example(operation: dict[str, Any]) -> bool:
    contents = [operation.get("requestBody", {}).get("content", {})]
    contents += [response.get("content", {}) for response in operation["responses"].values()]
    return any(media.get("examples") for content in contents for media in content.values())


def test_every_resource_is_documented_for_openapi() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]

    for (path, method), (tag, statuses) in DOCUMENTED.items():
        operation = paths[path][method]
        assert operation["tags"] == [tag], (path, method)
        assert statuses <= set(operation["responses"]), (path, method)
        assert _has_example(operation), (path, method)
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"]["type"] == "integer", (path, parameter)
    lists = [("/api/v1/cats/", "get"), ("/api/v1/conversations/{conversation_id}/messages/", "get")]
    for path, method in lists:
        ok = paths[path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        component = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
        assert set(component["properties"]) == {"results", "next", "previous"}
    message = schema["components"]["schemas"]["Message"]
    assert set(message["properties"]) == CAT_MESSAGE_FIELDS | USER_MESSAGE_FIELDS
    assert set(message["required"]) == COMMON_MESSAGE_FIELDS
    query = {p["name"] for p in paths[lists[1][0]]["get"]["parameters"] if p["in"] == "query"}
    assert query == {"cursor", "page_size", "kept"}


def test_a_next_link_is_an_absolute_url_with_only_a_cursor_added(
    alice_api: APIClient, chat: Conversation
) -> None:
    MessageFactory.create_batch(3, conversation=chat)

    link = alice_api.get(messages_url(chat.pk), {"page_size": 2}).json()["next"]

    parts = urlsplit(link)
    assert (parts.scheme, parts.path) == ("http", messages_url(chat.pk))
    assert set(parse_qs(parts.query)) == {"page_size", "cursor"}
