"""The cats REST API: `GET /api/v1/cats/{id}/state/` and `POST /api/v1/cats/{id}/actions/`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from cats.models import CareEvent, Cat
from cats.tests.factories import CatFactory

pytestmark = pytest.mark.django_db

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


def state_url(cat_id: int) -> str:
    return reverse("cats_api:state", args=[cat_id])


def actions_url(cat_id: int) -> str:
    return reverse("cats_api:actions", args=[cat_id])


@pytest.fixture
def alice_api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def hungry_cat(alice: User) -> Cat:
    return CatFactory.create(owner=alice, hunger=80.0, energy=70.0, affection=50.0, fun=60.0)


def test_the_routes_live_under_api_v1() -> None:
    assert state_url(7) == "/api/v1/cats/7/state/"
    assert actions_url(7) == "/api/v1/cats/7/actions/"


def test_the_owner_reads_the_cats_state(
    alice_api: APIClient, hungry_cat: Cat, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    with django_assert_max_num_queries(1):  # the cat; the state is computed from its row
        response = alice_api.get(state_url(hungry_cat.pk))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == STATE_FIELDS
    assert body["hunger"] == 80
    assert (body["energy"], body["affection"], body["fun"]) == (70, 50, 60)
    assert body["mood"] == "hungry"
    assert "hungry" in body["needs"]
    assert (body["asleep"], body["asleep_until"]) == (False, None)
    assert body["updated_at"]


def test_the_state_follows_the_time_passed(alice_api: APIClient, alice: User) -> None:
    week_ago = timezone.now() - timedelta(days=7)
    cat = CatFactory.create(owner=alice, hunger=20.0, vitals_at=week_ago)

    body = alice_api.get(state_url(cat.pk)).json()

    assert body["hunger"] > 80  # a week away makes a hungry cat...
    assert 0 <= body["fun"] <= 100  # ...never a broken one
    cat.refresh_from_db()
    assert cat.hunger == 20.0  # and reading writes nothing


def test_a_real_jwt_access_token_is_accepted(
    alice: User, hungry_cat: Cat, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(alice)}")

    with django_assert_max_num_queries(2):  # the token's user, the cat
        state = client.get(state_url(hungry_cat.pk))
    fed = client.post(actions_url(hungry_cat.pk), {"action": "feed"})

    assert state.status_code == 200
    assert state.json()["hunger"] == 80
    assert fed.status_code == 200
    assert fed.json()["accepted"] is True
    assert CareEvent.objects.get().actor == alice


def test_the_browser_session_works_too(client: APIClient, alice: User, hungry_cat: Cat) -> None:
    client.force_login(alice)

    response = client.get(state_url(hungry_cat.pk))

    assert response.status_code == 200


def test_feeding_a_hungry_cat_lowers_its_hunger(
    alice_api: APIClient,
    alice: User,
    hungry_cat: Cat,
    django_assert_max_num_queries: DjangoAssertNumQueries,
) -> None:
    # The cat; then in cat_act's transaction (a savepoint pair inside the test's): the row
    # lock, the count of recent repeats, the update and the care event's insert.
    with django_assert_max_num_queries(7):
        response = alice_api.post(actions_url(hungry_cat.pk), {"action": "feed"})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"accepted", "reason", "message", "state"}
    assert (body["accepted"], body["reason"]) == (True, "")
    assert body["message"]
    assert set(body["state"]) == STATE_FIELDS
    assert body["state"]["hunger"] == pytest.approx(40, abs=2)
    hungry_cat.refresh_from_db()
    assert hungry_cat.hunger == pytest.approx(40, abs=2)
    event = CareEvent.objects.get()
    assert (event.cat, event.actor, event.action, event.accepted) == (
        hungry_cat,
        alice,
        "feed",
        True,
    )


def test_every_care_action_is_answered(alice_api: APIClient, alice: User) -> None:
    cat = CatFactory.create(owner=alice, hunger=60.0, energy=50.0, affection=40.0, fun=30.0)

    for action in ("feed", "play", "pet", "sleep"):
        response = alice_api.post(actions_url(cat.pk), {"action": action})
        assert response.status_code == 200, action
        assert response.json()["accepted"] is True, action

    assert response.json()["state"]["asleep"] is True
    assert CareEvent.objects.filter(cat=cat).count() == 4


def test_a_full_cat_refuses_food_in_character_and_the_refusal_is_recorded(
    alice_api: APIClient, alice: User
) -> None:
    full = CatFactory.create(owner=alice, hunger=5.0)

    response = alice_api.post(actions_url(full.pk), {"action": "feed"})

    assert response.status_code == 200  # a refusal is an outcome, not an error
    body = response.json()
    assert (body["accepted"], body["reason"]) == (False, "not_hungry")
    assert "not hungry" in body["message"]
    assert body["state"]["hunger"] == 5
    full.refresh_from_db()
    assert full.hunger == pytest.approx(5, abs=0.5)
    event = CareEvent.objects.get()
    assert (event.actor, event.action, event.accepted, event.reason) == (
        alice,
        "feed",
        False,
        "not_hungry",
    )


def test_another_users_cat_is_a_404_and_stays_unchanged(alice_api: APIClient, bob: User) -> None:
    bobs_cat = CatFactory.create(owner=bob, hunger=80.0)
    before = Cat.objects.values().get(pk=bobs_cat.pk)

    responses = [
        alice_api.get(state_url(bobs_cat.pk)),
        alice_api.post(actions_url(bobs_cat.pk), {"action": "feed"}),
        alice_api.post(actions_url(bobs_cat.pk), {"action": "dance"}),  # 404 before 400
    ]

    for response in responses:
        assert response.status_code == 404
        assert response.json() == {"detail": "No such cat."}
    assert Cat.objects.values().get(pk=bobs_cat.pk) == before
    assert not CareEvent.objects.exists()


@pytest.mark.parametrize("cat_id", [999_999, 2**63])  # the latter overflows a bigint
def test_an_unknown_cat_is_a_404(alice_api: APIClient, cat_id: int) -> None:
    assert alice_api.get(state_url(cat_id)).status_code == 404
    response = alice_api.post(actions_url(cat_id), {"action": "feed"})
    assert response.status_code == 404
    assert response.json() == {"detail": "No such cat."}


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic YWxpY2U6cHc="])
def test_without_valid_credentials_it_is_a_401_with_a_bearer_challenge(
    hungry_cat: Cat, authorization: str | None
) -> None:
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)

    responses = [
        client.get(state_url(hungry_cat.pk)),
        client.post(actions_url(hungry_cat.pk), {"action": "feed"}),
    ]

    for response in responses:
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert "detail" in response.json()
    assert not CareEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{"action": "dance"}, {}, {"action": None}, {"action": ""}, {"action": ["feed"]}],
)
def test_a_bad_action_is_a_400_with_a_field_error(
    alice_api: APIClient, hungry_cat: Cat, body: dict[str, object]
) -> None:
    response = alice_api.post(actions_url(hungry_cat.pk), body, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"action"}
    assert isinstance(errors["action"], list) and errors["action"]
    assert not CareEvent.objects.exists()


def test_a_body_that_is_not_a_json_object_is_a_400(alice_api: APIClient, hungry_cat: Cat) -> None:
    url = actions_url(hungry_cat.pk)

    not_json = alice_api.post(url, "{action: feed", content_type="application/json")
    a_list = alice_api.post(url, ["feed"], format="json")

    assert not_json.status_code == 400
    assert "detail" in not_json.json()
    assert a_list.status_code == 400
    assert "non_field_errors" in a_list.json()
    assert not CareEvent.objects.exists()


def test_a_form_encoded_body_is_a_415(alice_api: APIClient, hungry_cat: Cat) -> None:
    response = alice_api.post(actions_url(hungry_cat.pk), {"action": "feed"}, format="multipart")

    assert response.status_code == 415
    assert "detail" in response.json()
    assert not CareEvent.objects.exists()


def test_wrong_methods_are_a_405(alice_api: APIClient, hungry_cat: Cat) -> None:
    responses = [
        alice_api.get(actions_url(hungry_cat.pk)),
        alice_api.put(actions_url(hungry_cat.pk), {"action": "feed"}),
        alice_api.post(state_url(hungry_cat.pk), {"action": "feed"}),
        alice_api.delete(state_url(hungry_cat.pk)),
    ]

    for response in responses:
        assert response.status_code == 405
        assert "detail" in response.json()
    assert not CareEvent.objects.exists()
