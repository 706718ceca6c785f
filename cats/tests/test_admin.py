from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from accounts.models import User
from accounts.tests.factories import UserFactory
from cats.models import CareEvent, Cat
from cats.services import cat_state
from cats.tests.factories import (
    CareEventFactory,
    CatFactory,
    ConversationFactory,
    MessageFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory.create(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize("model", ["cat", "careevent", "conversation", "message"])
def test_staff_can_browse_every_cats_model(staff_client: Client, model: str) -> None:
    message = MessageFactory.create()
    objects = {
        "cat": message.conversation.cat,
        "careevent": CareEventFactory.create(cat=message.conversation.cat),
        "conversation": message.conversation,
        "message": message,
    }
    assert staff_client.get(f"/admin/cats/{model}/").status_code == 200
    assert staff_client.get(f"/admin/cats/{model}/{objects[model].pk}/change/").status_code == 200


def test_a_message_page_names_other_messages_by_id_not_in_a_menu_of_all_of_them(
    staff_client: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    first = MessageFactory.create(text="v1", kept=False)
    MessageFactory.create_batch(30, conversation=first.conversation)
    edited = MessageFactory.create(conversation=first.conversation, text="v2", edit_of=first)

    with django_assert_max_num_queries(12):
        page = staff_client.get(f"/admin/cats/message/{edited.pk}/change/")

    html = page.content.decode()
    for field in ("reply_to", "edit_of", "branch_of"):
        assert f'name="{field}"' in html and f'<select name="{field}"' not in html
    assert f'value="{first.pk}"' in html


def test_the_conversation_page_shows_its_messages(staff_client: Client) -> None:
    conversation = ConversationFactory.create()
    MessageFactory.create(conversation=conversation, text="remember the tuna")
    page = staff_client.get(f"/admin/cats/conversation/{conversation.pk}/change/")
    assert b"remember the tuna" in page.content


def test_the_cat_list_shows_vitals_and_mood_as_they_are_now(
    staff_client: Client, alice: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    # Settled at 20 a week ago: the stored float is stale, the cat is hungry now.
    cat = CatFactory.create(
        owner=alice, name="Whiskers", hunger=20.0, vitals_at=timezone.now() - timedelta(days=7)
    )
    for _ in range(10):
        CatFactory.create()

    # session, user, count, filtered count, the page of cats with their owners (not per cat)
    with django_assert_max_num_queries(5):
        html = staff_client.get("/admin/cats/cat/").content.decode()

    now = cat_state(cat)
    assert now["hunger"] > 80 and now["mood"] == "hungry"
    row = html[html.index(f"/admin/cats/cat/{cat.pk}/change/") :].split("</tr>")[0]
    assert "alice" in row
    assert f'<td class="field-hunger_now">{now["hunger"]}</td>' in row
    assert f'<td class="field-fun_now">{now["fun"]}</td>' in row
    assert '<td class="field-mood_now">hungry</td>' in row


def test_the_cat_page_shows_its_recent_care_events_newest_first(
    staff_client: Client, alice: User, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    cat = CatFactory.create(owner=alice)
    start = timezone.now() - timedelta(days=1)
    for i in range(25):
        CareEventFactory.create(
            cat=cat,
            action="feed",
            accepted=False,
            reason=f"reason-{i:02d}",
            created_at=start + timedelta(minutes=i),
        )
    CareEventFactory.create(reason="someone-else")  # another cat's

    # session, user, cat, its owner, content type, the events with their actors (not per event)
    with django_assert_max_num_queries(6):
        html = staff_client.get(f"/admin/cats/cat/{cat.pk}/change/").content.decode()

    assert "Recent care events" in html
    shown = [i for i in range(25) if f"reason-{i:02d}" in html]
    assert shown == list(range(5, 25))  # the newest 20
    assert html.index("reason-24") < html.index("reason-23") < html.index("reason-05")
    assert "someone-else" not in html
    assert f"/admin/cats/careevent/?cat__id__exact={cat.pk}" in html


def test_saving_a_cat_leaves_its_care_events_alone(staff_client: Client, alice: User) -> None:
    cat = CatFactory.create(owner=alice, name="Whiskers")
    CareEventFactory.create_batch(3, cat=cat)
    page = staff_client.get(f"/admin/cats/cat/{cat.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in ("owner", "name", "personality", "coat")}
    data |= {
        "care_events-TOTAL_FORMS": "3",
        "care_events-INITIAL_FORMS": "3",
        "care_events-MIN_NUM_FORMS": "0",
        "care_events-MAX_NUM_FORMS": "1000",
    }
    for i, event in enumerate(CareEvent.objects.filter(cat=cat)):
        data |= {f"care_events-{i}-id": str(event.pk), f"care_events-{i}-cat": str(cat.pk)}

    response = staff_client.post(f"/admin/cats/cat/{cat.pk}/change/", {**data, "name": "Tom"})

    assert response.status_code == 302, response.context and response.context["errors"]
    assert Cat.objects.get(pk=cat.pk).name == "Tom"
    assert CareEvent.objects.filter(cat=cat).count() == 3


def test_the_reset_vitals_action_makes_the_selected_cats_fresh(
    staff_client: Client, alice: User
) -> None:
    later = timezone.now() + timedelta(hours=2)
    wrecked = [
        CatFactory.create(
            owner=alice,
            hunger=95.0,
            energy=5.0,
            affection=3.0,
            fun=2.0,
            asleep_until=later,
            mood="grumpy",
        )
        for _ in range(2)
    ]
    untouched = CatFactory.create(owner=alice, hunger=95.0, mood="grumpy")

    response = staff_client.post(
        "/admin/cats/cat/",
        {"action": "reset_vitals", "_selected_action": [cat.pk for cat in wrecked]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Reset the vitals of 2 cats." in response.content.decode()
    fresh = Cat()
    for cat in wrecked:
        cat.refresh_from_db()
        assert (cat.hunger, cat.energy, cat.affection, cat.fun) == (
            fresh.hunger,
            fresh.energy,
            fresh.affection,
            fresh.fun,
        )
        assert cat.asleep_until is None
        assert cat.mood == "content"
        assert cat_state(cat)["mood"] == "content"
    untouched.refresh_from_db()
    assert (untouched.hunger, untouched.mood) == (95.0, "grumpy")
    assert not CareEvent.objects.exists()  # a staff reset is not care


def test_care_events_can_be_filtered_and_searched(staff_client: Client, alice: User) -> None:
    cat = CatFactory.create(owner=alice, name="Whiskers")
    CareEventFactory.create(cat=cat, action="feed", accepted=False, reason="not-hungry-x")
    CareEventFactory.create(cat=cat, action="play", accepted=True, reason="played-x")
    CareEventFactory.create(
        cat=CatFactory.create(name="Mochi"), action="feed", accepted=False, reason="other-x"
    )

    refused_feeds = staff_client.get(
        "/admin/cats/careevent/", {"action": "feed", "accepted__exact": "0", "q": "alice"}
    ).content.decode()
    by_cat_name = staff_client.get("/admin/cats/careevent/", {"q": "Mochi"}).content.decode()
    by_cat = staff_client.get("/admin/cats/careevent/", {"cat__id__exact": cat.pk})

    assert "not-hungry-x" in refused_feeds
    assert "played-x" not in refused_feeds and "other-x" not in refused_feeds
    assert "other-x" in by_cat_name and "not-hungry-x" not in by_cat_name
    assert by_cat.status_code == 200  # the cat page's link is an allowed lookup
    assert "played-x" in by_cat.content.decode() and "other-x" not in by_cat.content.decode()


def test_care_events_are_read_only_in_the_admin(staff_client: Client) -> None:
    event = CareEventFactory.create()

    assert staff_client.get("/admin/cats/careevent/add/").status_code == 403
    page = staff_client.get(f"/admin/cats/careevent/{event.pk}/change/")
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False


def test_staff_can_add_a_cat_for_someone(staff_client: Client, alice: User) -> None:
    assert staff_client.get("/admin/cats/cat/add/").status_code == 200

    response = staff_client.post(
        "/admin/cats/cat/add/",
        {
            "owner": alice.pk,
            "name": "Biscuit",
            "personality": "",
            "coat": "",
            "care_events-TOTAL_FORMS": "0",
            "care_events-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    cat = Cat.objects.get(owner=alice)
    assert cat.name == "Biscuit"
    assert cat_state(cat)["hunger"] == round(Cat().hunger)
