from __future__ import annotations

import pytest
from django.test import Client

from accounts.tests.factories import UserFactory
from cats.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory.create(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("model", ["cat", "conversation", "message"])
def test_staff_can_browse_every_cats_model(staff_client: Client, model: str) -> None:
    message = MessageFactory.create()
    objects = {
        "cat": message.conversation.cat,
        "conversation": message.conversation,
        "message": message,
    }
    assert staff_client.get(f"/admin/cats/{model}/").status_code == 200
    assert staff_client.get(f"/admin/cats/{model}/{objects[model].pk}/change/").status_code == 200


def test_the_conversation_page_shows_its_messages(staff_client: Client) -> None:
    conversation = ConversationFactory.create()
    MessageFactory.create(conversation=conversation, text="remember the tuna")
    page = staff_client.get(f"/admin/cats/conversation/{conversation.pk}/change/")
    assert b"remember the tuna" in page.content
