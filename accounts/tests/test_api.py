"""The accounts REST API: sign-up, the JWT lifecycle (tokens, refresh with rotation, log-out),
throttling, `me/` and the export of all of one's data."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from catchat.export import user_export
from cats.frames import message_payload
from cats.models import CareEvent, Cat, Conversation, Message
from cats.tests.factories import (
    CareEventFactory,
    CatFactory,
    ConversationFactory,
    MessageFactory,
)
from memories.models import ExtractionJob, Memory, MemoryHistory, MemoryProfile
from memories.services import memory_create, memory_supersede

pytestmark = pytest.mark.django_db

REGISTER = reverse("accounts_api:register")
TOKEN = reverse("accounts_api:token")
REFRESH = reverse("accounts_api:token-refresh")
LOGOUT = reverse("accounts_api:logout")
ME = reverse("accounts_api:me")
EXPORT = reverse("accounts_api:me-export")
STRONG = "purring-kettle-42"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def alice_api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def low_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    # ScopedRateThrottle read the rates from settings at import: patch the class's copy.
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "register": "2/hour", "token": "2/min"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)


def obtain(client: APIClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post(TOKEN, {"username": username, "password": password})
    assert response.status_code == 200, response.json()
    return response.json()


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_the_routes_live_under_api_v1() -> None:
    assert (REGISTER, TOKEN, REFRESH, LOGOUT) == (
        "/api/v1/auth/register/",
        "/api/v1/auth/token/",
        "/api/v1/auth/token/refresh/",
        "/api/v1/auth/logout/",
    )
    assert (ME, EXPORT) == ("/api/v1/me/", "/api/v1/me/export/")


# --- sign-up -------------------------------------------------------------------------------


def test_sign_up_creates_the_account_and_signs_in_at_once(api: APIClient) -> None:
    response = api.post(
        REGISTER, {"username": "carol", "password": STRONG, "email": "carol@example.com"}
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"user", "access", "refresh"}
    carol = User.objects.get(username="carol")
    assert body["user"] == {
        "id": carol.pk,
        "username": "carol",
        "email": "carol@example.com",
        "date_joined": body["user"]["date_joined"],
    }
    assert carol.check_password(STRONG)
    assert carol.password != STRONG
    # The tokens are real: the access token reads `me/`, the refresh token is recorded.
    assert bearer(body["access"]).get(ME).json()["username"] == "carol"
    assert OutstandingToken.objects.filter(user=carol).count() == 1


def test_sign_up_without_email(api: APIClient) -> None:
    response = api.post(REGISTER, {"username": "dave", "password": STRONG})

    assert response.status_code == 201
    assert response.json()["user"]["email"] == ""


@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("83920174655", "entirely numeric"),
        ("erin-the-human", "too similar"),
    ],
)
def test_sign_up_refuses_a_weak_password_as_a_field_error(
    api: APIClient, password: str, complaint: str
) -> None:
    response = api.post(REGISTER, {"username": "erin-the-human", "password": password})

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"password"}
    assert any(complaint in message for message in body["password"])
    assert not User.objects.filter(username="erin-the-human").exists()


def test_sign_up_refuses_a_taken_username_whatever_its_case(api: APIClient, alice: User) -> None:
    response = api.post(REGISTER, {"username": "Alice", "password": STRONG})

    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_sign_up_reports_every_bad_field_at_once(api: APIClient) -> None:
    response = api.post(REGISTER, {"username": "no spaces!", "email": "nope"})

    assert response.status_code == 400
    assert set(response.json()) == {"username", "password", "email"}


def test_sign_up_ignores_credentials_sent_along(api: APIClient) -> None:
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    response = api.post(REGISTER, {"username": "frank", "password": STRONG})

    assert response.status_code == 201


def test_sign_up_is_throttled_per_address(api: APIClient, low_rates: None) -> None:
    for name in ("u1", "u2"):
        assert api.post(REGISTER, {"username": name, "password": STRONG}).status_code == 201

    response = api.post(REGISTER, {"username": "u3", "password": STRONG})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"]
    assert not User.objects.filter(username="u3").exists()
    # Another address has its own allowance.
    other = api.post(REGISTER, {"username": "u3", "password": STRONG}, REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 201


# --- tokens --------------------------------------------------------------------------------


def test_the_right_password_gets_a_token_pair(api: APIClient, alice: User) -> None:
    pair = obtain(api, "alice")

    assert set(pair) == {"access", "refresh"}
    assert bearer(pair["access"]).get(ME).json()["username"] == "alice"
    alice.refresh_from_db()
    assert alice.last_login is not None


def test_a_wrong_password_is_a_401_with_the_error_shape(api: APIClient, alice: User) -> None:
    response = api.post(TOKEN, {"username": "alice", "password": "wrong-password"})

    assert response.status_code == 401
    assert response.json()["detail"] == "No active account found with the given credentials"


def test_a_missing_field_is_a_400(api: APIClient) -> None:
    response = api.post(TOKEN, {"username": "alice"})

    assert response.status_code == 400
    assert set(response.json()) == {"password"}


def test_token_requests_are_throttled_per_address(
    api: APIClient, alice: User, low_rates: None
) -> None:
    obtain(api, "alice")
    # Failed attempts count too: that is what stops password guessing.
    assert api.post(TOKEN, {"username": "alice", "password": "guess"}).status_code == 401

    response = api.post(TOKEN, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    other = api.post(TOKEN, {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 200


def test_an_expired_access_token_is_a_401(api: APIClient, alice: User) -> None:
    pair = obtain(api, "alice")
    client = bearer(pair["access"])
    assert client.get(ME).status_code == 200

    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        response = client.get(ME)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "token_not_valid"


def test_refresh_rotates_and_the_old_refresh_token_is_refused(api: APIClient, alice: User) -> None:
    pair = obtain(api, "alice")

    response = api.post(REFRESH, {"refresh": pair["refresh"]})

    assert response.status_code == 200
    fresh = response.json()
    assert set(fresh) == {"access", "refresh"}
    assert fresh["access"] != pair["access"]
    assert fresh["refresh"] != pair["refresh"]
    assert bearer(fresh["access"]).get(ME).status_code == 200
    # The old one was blacklisted by the rotation: a stolen copy is useless now.
    again = api.post(REFRESH, {"refresh": pair["refresh"]})
    assert again.status_code == 401
    assert again.json()["code"] == "token_not_valid"
    # The new one works (once).
    assert api.post(REFRESH, {"refresh": fresh["refresh"]}).status_code == 200


def test_refresh_outlives_the_access_token(api: APIClient, alice: User) -> None:
    pair = obtain(api, "alice")

    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        assert bearer(pair["access"]).get(ME).status_code == 401
        response = api.post(REFRESH, {"refresh": pair["refresh"]})
        assert response.status_code == 200
        assert bearer(response.json()["access"]).get(ME).status_code == 200


def test_a_garbage_refresh_token_is_a_401(api: APIClient) -> None:
    response = api.post(REFRESH, {"refresh": "garbage"})

    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


@pytest.mark.django_db(transaction=True)  # each thread's own connection sees the token
def test_ten_refreshes_at_once_with_one_refresh_token_rotate_it_once(alice: User) -> None:
    pair = obtain(APIClient(), "alice")
    start = threading.Barrier(10)

    def refresh(_: int) -> int:
        client = APIClient()
        try:
            start.wait(timeout=10)
            return client.post(REFRESH, {"refresh": pair["refresh"]}).status_code
        finally:
            connections.close_all()  # back to the pool: ten threads, ten connections

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = sorted(pool.map(refresh, range(10)))

    assert answers == [200] + [401] * 9
    assert BlacklistedToken.objects.count() == 1
    # The pair from the log-in, and the one rotation's new refresh token.
    assert OutstandingToken.objects.filter(user=alice).count() == 2


# --- log-out -------------------------------------------------------------------------------


def test_logout_blacklists_the_refresh_token(api: APIClient, alice: User) -> None:
    pair = obtain(api, "alice")
    client = bearer(pair["access"])

    response = client.post(LOGOUT, {"refresh": pair["refresh"]})

    assert response.status_code == 204
    assert BlacklistedToken.objects.filter(token__user=alice).count() == 1
    assert api.post(REFRESH, {"refresh": pair["refresh"]}).status_code == 401
    # Logging out twice with the same token is refused (it is no longer valid).
    twice = client.post(LOGOUT, {"refresh": pair["refresh"]})
    assert twice.status_code == 400
    assert twice.json() == {"refresh": ["Token is blacklisted"]}


def test_logout_ends_only_that_session(api: APIClient, alice: User) -> None:
    phone, laptop = obtain(api, "alice"), obtain(api, "alice")

    assert bearer(phone["access"]).post(LOGOUT, {"refresh": phone["refresh"]}).status_code == 204

    assert api.post(REFRESH, {"refresh": laptop["refresh"]}).status_code == 200


def test_logout_with_an_invalid_token_is_a_field_error(alice_api: APIClient) -> None:
    response = alice_api.post(LOGOUT, {"refresh": "garbage"})

    assert response.status_code == 400
    assert set(response.json()) == {"refresh"}


def test_logout_with_an_access_token_instead_is_a_field_error(api: APIClient, alice: User) -> None:
    pair = obtain(api, "alice")

    response = bearer(pair["access"]).post(LOGOUT, {"refresh": pair["access"]})

    assert response.status_code == 400
    assert set(response.json()) == {"refresh"}


def test_nobody_can_log_out_someone_elses_session(api: APIClient, alice: User, bob: User) -> None:
    alices = obtain(api, "alice")
    bobs = obtain(api, "bob")

    response = bearer(alices["access"]).post(LOGOUT, {"refresh": bobs["refresh"]})

    assert response.status_code == 400
    assert response.json() == {"refresh": ["This refresh token does not belong to you."]}
    assert not BlacklistedToken.objects.exists()
    assert api.post(REFRESH, {"refresh": bobs["refresh"]}).status_code == 200


# --- me ------------------------------------------------------------------------------------


def test_me_shows_the_signed_in_person(alice_api: APIClient, alice: User) -> None:
    response = alice_api.get(ME)

    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "username": "alice",
        "email": "alice@example.com",
        "date_joined": response.json()["date_joined"],
    }
    assert response.json()["date_joined"].startswith(str(alice.date_joined.year))


def test_me_changes_the_email(alice_api: APIClient, alice: User) -> None:
    response = alice_api.patch(ME, {"email": "alice@Example.ORG"})

    assert response.status_code == 200
    # The domain is case-insensitive, so it is stored lower case (as create_user does).
    assert response.json()["email"] == "alice@example.org"
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"


def test_me_removes_the_email(alice_api: APIClient, alice: User) -> None:
    assert alice_api.patch(ME, {"email": ""}).json()["email"] == ""


def test_me_changes_the_username(alice_api: APIClient, alice: User) -> None:
    response = alice_api.patch(ME, {"username": "alice2"})

    assert response.status_code == 200
    assert response.json()["username"] == "alice2"
    alice.refresh_from_db()
    assert (alice.username, alice.email) == ("alice2", "alice@example.com")


def test_me_may_change_the_case_of_its_own_username(alice_api: APIClient, alice: User) -> None:
    response = alice_api.patch(ME, {"username": "Alice"})

    assert response.status_code == 200
    assert response.json()["username"] == "Alice"


def test_me_refuses_a_taken_username(alice_api: APIClient, alice: User, bob: User) -> None:
    response = alice_api.patch(ME, {"username": "BOB"})

    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}
    alice.refresh_from_db()
    assert alice.username == "alice"


def test_me_refuses_bad_input_as_field_errors(alice_api: APIClient) -> None:
    response = alice_api.patch(ME, {"username": "", "email": "not-an-email"})

    assert response.status_code == 400
    assert set(response.json()) == {"username", "email"}


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", ME),
        ("patch", ME),
        ("delete", ME),
        ("get", EXPORT),
        ("post", LOGOUT),
    ],
)
def test_without_credentials_it_is_a_401_asking_for_a_bearer_token(
    api: APIClient, alice: User, method: str, url: str
) -> None:
    response = getattr(api, method)(url, {})

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert User.objects.filter(pk=alice.pk).exists()


# --- one person's data ---------------------------------------------------------------------


def _life_of(owner: User, *, cats: int = 1, messages: int = 1) -> list[Cat]:
    """Cats with care events, a conversation (user messages and a cat reply), an extraction
    job, and memories: one superseded by another, each with its history."""
    made = []
    for n in range(cats):
        cat = CatFactory.create(owner=owner, name=f"{owner.username}-cat-{n}")
        CareEventFactory.create(cat=cat, action=CareEvent.Action.FEED, effect={"hunger": -40})
        conversation = ConversationFactory.create(cat=cat, title=f"{owner.username} chat {n}")
        said = MessageFactory.create_batch(
            messages, conversation=conversation, text=f"{owner.username} has a dog"
        )
        MessageFactory.create(
            conversation=conversation,
            role=Message.Role.CAT,
            reply_to=said[0],
            text="*purrs*",
            model="offline",
            usage={"prompt_tokens": 10, "completion_tokens": 2},
            mood="content",
        )
        ExtractionJob.objects.create(message=said[0], profile=cat.memory_profile)
        old = memory_create(
            profile=cat.memory_profile,
            text=f"{owner.username} has a dog called Rex",
            category=Memory.Category.PETS,
            source_message_id=said[0].pk,
            quote=said[0].text,
        )
        memory_supersede(old=old, text=f"{owner.username} has two dogs")
        made.append(cat)
    return made


def test_export_holds_everything_of_alices_and_nothing_of_bobs(
    alice_api: APIClient, alice: User, bob: User
) -> None:
    (whiskers,) = _life_of(alice, messages=2)
    _life_of(bob, cats=2)

    response = alice_api.get(EXPORT)

    assert response.status_code == 200
    assert response["Content-Disposition"] == ('attachment; filename="catchat-export-alice.json"')
    body = response.json()
    assert (body["format"], body["version"]) == ("catchat-export", 1)
    assert body["user"]["id"] == alice.pk
    assert body["user"]["username"] == "alice"
    assert body["user"]["email"] == "alice@example.com"
    assert [cat["id"] for cat in body["cats"]] == [whiskers.pk]
    cat = body["cats"][0]
    assert cat["name"] == whiskers.name
    assert {"hunger", "energy", "affection", "fun", "mood"} <= set(cat["state"])
    assert cat["care_events"] == [
        {
            "action": "feed",
            "accepted": True,
            "reason": "",
            "effect": {"hunger": -40},
            "created_at": cat["care_events"][0]["created_at"],
        }
    ]
    (conversation,) = cat["conversations"]
    assert conversation["title"] == "alice chat 0"
    texts = [(m["role"], m["text"]) for m in conversation["messages"]]
    assert texts == [("user", "alice has a dog")] * 2 + [("cat", "*purrs*")]
    reply = conversation["messages"][-1]
    assert (reply["model"], reply["usage"]["completion_tokens"], reply["mood"]) == (
        "offline",
        2,
        "content",
    )
    memories = cat["memory_profile"]["memories"]
    assert [(m["text"], m["status"]) for m in memories] == [
        ("alice has a dog called Rex", "superseded"),
        ("alice has two dogs", "active"),
    ]
    assert memories[0]["superseded_by"] == memories[1]["id"]
    assert memories[0]["source"]["quote"] == "alice has a dog"
    assert [h["operation"] for h in memories[0]["history"]] == ["add", "supersede"]
    assert [h["operation"] for h in memories[1]["history"]] == ["add"]
    # Nothing of bob's anywhere, not even his name; no vectors either.
    assert "bob" not in response.content.decode()
    assert "embedding" not in response.content.decode()


def test_export_uses_the_websocket_message_shape(alice_api: APIClient, alice: User) -> None:
    _life_of(alice)

    exported = alice_api.get(EXPORT).json()["cats"][0]["conversations"][0]["messages"]

    stored = Message.objects.filter(conversation__cat__owner=alice).order_by("created_at", "id")
    assert exported == [message_payload(message) for message in stored]


def test_export_of_a_new_account_is_just_the_account(alice_api: APIClient, alice: User) -> None:
    body = alice_api.get(EXPORT).json()

    assert body["cats"] == []
    assert body["user"]["username"] == "alice"


def test_export_takes_the_same_queries_for_much_or_little_data(
    alice: User, bob: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    _life_of(alice, cats=1, messages=1)
    with django_assert_num_queries(6):
        one = user_export(alice)

    _life_of(bob, cats=4, messages=5)
    with django_assert_num_queries(6):
        many = user_export(bob)

    assert len(one["cats"]) == 1
    assert len(many["cats"]) == 4
    assert sum(len(c["conversations"][0]["messages"]) for c in many["cats"]) == 4 * 6


def test_export_filename_survives_any_username(api: APIClient) -> None:
    zoe = UserFactory.create(username="zoë")
    client = APIClient()
    client.force_authenticate(zoe)

    response = client.get(EXPORT)

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''catchat-export-zo%C3%AB.json"
    )


def _rows_of(user_id: int) -> dict[str, int]:
    return {
        "cats": Cat.objects.filter(owner_id=user_id).count(),
        "care events": CareEvent.objects.filter(cat__owner_id=user_id).count(),
        "conversations": Conversation.objects.filter(cat__owner_id=user_id).count(),
        "messages": Message.objects.filter(conversation__cat__owner_id=user_id).count(),
        "profiles": MemoryProfile.objects.filter(user_id=user_id).count(),
        "memories": Memory.objects.filter(profile__user_id=user_id).count(),
        "history": MemoryHistory.objects.filter(memory__profile__user_id=user_id).count(),
        "jobs": ExtractionJob.objects.filter(profile__user_id=user_id).count(),
    }


def _all_rows() -> dict[str, int]:
    return {
        "cats": Cat.objects.count(),
        "care events": CareEvent.objects.count(),
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "profiles": MemoryProfile.objects.count(),
        "memories": Memory.objects.count(),
        "history": MemoryHistory.objects.count(),
        "jobs": ExtractionJob.objects.count(),
    }


@pytest.fixture
def two_lives(alice: User, bob: User) -> None:
    _life_of(alice, cats=2, messages=2)
    _life_of(bob, cats=1, messages=3)


def test_delete_removes_all_of_alices_rows_and_leaves_bobs(
    api: APIClient, alice: User, bob: User, two_lives: None
) -> None:
    bobs_before = _rows_of(bob.pk)
    assert all(_rows_of(alice.pk).values())
    alice_id = alice.pk
    pair = obtain(api, "alice")

    response = bearer(pair["access"]).delete(ME)

    assert response.status_code == 204
    assert not User.objects.filter(pk=alice_id).exists()
    # With alice gone, every remaining row is bob's: counting all rows leaves no hiding place
    # for an orphan (a row whose owner was set to NULL would not show under alice's id).
    assert _all_rows() == bobs_before
    assert _rows_of(bob.pk) == bobs_before
    assert User.objects.filter(pk=bob.pk).exists()


def test_a_deleted_users_tokens_are_refused(api: APIClient, alice: User) -> None:
    first = obtain(api, "alice")
    second = obtain(api, "alice")
    api.post(REFRESH, {"refresh": second["refresh"]})  # rotated: the old one is blacklisted

    assert bearer(first["access"]).delete(ME).status_code == 204

    assert bearer(first["access"]).get(ME).status_code == 401
    assert bearer(second["access"]).get(EXPORT).status_code == 401
    for refresh in (first["refresh"], second["refresh"]):
        response = api.post(REFRESH, {"refresh": refresh})
        assert response.status_code == 401
        assert response.json()["code"] == "token_not_valid"
    # Every outstanding token of hers is blacklisted (the records keep no link to her).
    assert not OutstandingToken.objects.filter(blacklistedtoken__isnull=True).exists()


def test_a_refresh_token_of_a_vanished_user_is_a_401_not_a_500(api: APIClient, alice: User) -> None:
    pair = obtain(api, "alice")
    User.objects.filter(pk=alice.pk).delete()  # gone without going through `me/` (e.g. admin)

    response = api.post(REFRESH, {"refresh": pair["refresh"]})

    assert response.status_code == 401
    assert response.json()["detail"] == "No active account found for the given token."


def test_delete_signs_a_browser_out(alice: User) -> None:
    browser = Client()
    browser.force_login(alice)

    response = browser.delete(ME)

    assert response.status_code == 204
    assert "_auth_user_id" not in browser.session


# --- documentation -------------------------------------------------------------------------


def test_every_route_is_documented_with_tags_and_examples(api: APIClient) -> None:
    schema = api.get(reverse("schema"), {"format": "json"}).json()
    documented: dict[tuple[str, str], Any] = {
        (path, method): operation
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    }
    expected = {
        ("/api/v1/auth/register/", "post"): "auth",
        ("/api/v1/auth/token/", "post"): "auth",
        ("/api/v1/auth/token/refresh/", "post"): "auth",
        ("/api/v1/auth/logout/", "post"): "auth",
        ("/api/v1/me/", "get"): "me",
        ("/api/v1/me/", "patch"): "me",
        ("/api/v1/me/", "delete"): "me",
        ("/api/v1/me/export/", "get"): "me",
    }
    for (path, method), tag in expected.items():
        operation = documented[(path, method)]
        assert operation["tags"] == [tag], path
        examples = [
            example
            for part in [operation.get("requestBody", {}), *operation["responses"].values()]
            for media in part.get("content", {}).values()
            for example in media.get("examples", {}).values()
        ]
        assert examples, (path, method)
        assert any(code.startswith("4") for code in operation["responses"]), (path, method)
