"""The chat page and edited messages: the shown version of a message the human edited carries a
"‹ 2 / 3 ›" switcher with every version, in a fixed number of queries (cats/views.py
`_version_switcher`, `cats.services.versions.versions_of`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries

from accounts.models import User
from cats.models import Cat, Conversation, Message
from cats.services import message_accept, reply_keep
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


def _edit(cat: Cat, message: Message, text: str) -> Message:
    """`message` edited to `text` as the WebSocket's chat.send with `edit_of` does it."""
    accepted = message_accept(
        cat=cat,
        text=text,
        client_id=uuid.uuid4(),
        conversation_id=message.conversation_id,
        edit_of=message.pk,
    )
    return accepted.message


def _reply(conversation: Conversation, to: Message, text: str) -> Message:
    return MessageFactory.create(
        conversation=conversation, role=Message.Role.CAT, reply_to=to, text=text
    )


def _switcher(log: list[tuple[Any, ...]], message: Message) -> dict[str, Any]:
    """The switcher the page renders for `message` in its `log` (the view's context): its
    version switcher, for a message of the human's."""
    switch = next(s for m, _, _, s in log if m.pk == message.pk)
    assert switch is not None
    return switch


def test_an_edited_message_shows_its_versions_and_where_the_shown_one_stands(
    alice_client: Client, alice: User
) -> None:
    cat = CatFactory.create(owner=alice)
    conversation = ConversationFactory.create(cat=cat)
    first = MessageFactory.create(conversation=conversation, text="I like tuna")
    _reply(conversation, first, "Tuna! *purrs*")
    second = _edit(cat, first, "I like <b>salmon</b>")
    _reply(conversation, second, "Salmon is better anyway.")
    third = _edit(cat, second, "I like chicken")
    url = reverse("cats:chat", args=[cat.pk])

    response = alice_client.get(url)
    html = response.content.decode()

    # The newest version is shown, with its switcher at "3 / 3"; the earlier ones and their
    # replies are not in the log, only in the switcher's data.
    assert f'id="message-{third.pk}"' in html
    assert f'data-edit-of="{first.pk}"' in html
    assert f'id="message-{first.pk}"' not in html and f'id="message-{second.pk}"' not in html
    assert "Tuna! *purrs*" not in html and "Salmon is better anyway." not in html
    assert html.count('aria-label="Versions of your message"') == 1
    assert '<span class="message__switcher-count">3 / 3</span>' in html
    assert 'aria-label="Previous version">' in html
    assert 'aria-label="Next version" disabled>' in html
    versions = json.loads(_switcher(response.context["log"], third)["data"])
    assert [v["id"] for v in versions] == [first.pk, second.pk, third.pk]
    assert [v["text"] for v in versions] == [
        "I like tuna",
        "I like <b>salmon</b>",
        "I like chicken",
    ]
    assert "I like <b>salmon</b>" not in html  # escaped into the attribute, never markup

    # Switched back to the second version: its reply comes back, at "2 / 3".
    reply_keep(cat=cat, message_id=second.pk)
    response = alice_client.get(url)
    html = response.content.decode()

    assert f'id="message-{second.pk}"' in html and f'id="message-{third.pk}"' not in html
    assert "Salmon is better anyway." in html
    assert '<span class="message__switcher-count">2 / 3</span>' in html
    assert 'aria-label="Previous version">' in html and 'aria-label="Next version">' in html
    assert "I like &lt;b&gt;salmon&lt;/b&gt;" in html  # the shown text, escaped
    switch = _switcher(response.context["log"], second)
    assert (switch["position"], switch["count"]) == (2, 3)


def test_a_message_never_edited_has_no_version_switcher(alice_client: Client, alice: User) -> None:
    cat = CatFactory.create(owner=alice)
    conversation = ConversationFactory.create(cat=cat)
    asked = MessageFactory.create(conversation=conversation, text="hi")
    _reply(conversation, asked, "mrrp")

    html = alice_client.get(reverse("cats:chat", args=[cat.pk])).content.decode()

    assert f'id="message-{asked.pk}"' in html
    assert "data-versions" not in html and "Versions of your message" not in html


def test_another_users_edited_conversation_is_a_404(
    alice_client: Client, alice: User, bob: User
) -> None:
    bobs_cat = CatFactory.create(owner=bob)
    conversation = ConversationFactory.create(cat=bobs_cat)
    first = MessageFactory.create(conversation=conversation, text="secret")
    _edit(bobs_cat, first, "another secret")
    alices_cat = CatFactory.create(owner=alice)

    mine = reverse("cats:chat", args=[alices_cat.pk])
    assert alice_client.get(mine, {"conversation": conversation.pk}).status_code == 404
    assert alice_client.get(reverse("cats:chat", args=[bobs_cat.pk])).status_code == 404


@pytest.mark.parametrize("edited", [1, 5])
def test_the_chat_page_runs_the_same_queries_whatever_the_number_of_edited_messages(
    alice_client: Client,
    alice: User,
    django_assert_num_queries: DjangoAssertNumQueries,
    edited: int,
) -> None:
    cat = CatFactory.create(owner=alice)
    conversation = ConversationFactory.create(cat=cat)
    for i in range(edited):
        asked = MessageFactory.create(conversation=conversation, text=f"question {i}")
        _reply(conversation, asked, f"answer {i}")
        again = _edit(cat, asked, f"question {i}, edited")
        _reply(conversation, again, f"answer {i}, again")

    # session, user, cat, conversations, kept messages, the replies to them (alternatives),
    # every version of the human's messages shown (one query, whatever their number), the
    # other cats: no query per edited message
    with django_assert_num_queries(8):
        response = alice_client.get(reverse("cats:chat", args=[cat.pk]))

    html = response.content.decode()
    assert [m.text for m in response.context["history"]] == [
        t for i in range(edited) for t in (f"question {i}, edited", f"answer {i}, again")
    ]
    assert html.count('aria-label="Versions of your message"') == edited
    assert html.count('<span class="message__switcher-count">2 / 2</span>') == edited
