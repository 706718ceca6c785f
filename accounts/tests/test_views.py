"""Sign-up, log-in and log-out through the real pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import User
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

REGISTER = reverse("accounts_api:register")


def test_sign_up_creates_the_user_logs_them_in_and_shows_their_cats(client: Client) -> None:
    response = client.post(
        reverse("signup"),
        {"username": "carol", "email": "", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("cats:list")
    carol = User.objects.get(username="carol")
    assert carol.check_password(PASSWORD)
    assert carol.email == ""
    # Logged in: the cats list (login required) now answers instead of redirecting.
    assert client.get(reverse("cats:list")).status_code == 200


def test_sign_up_with_mismatched_passwords_shows_the_form_again(client: Client) -> None:
    response = client.post(
        reverse("signup"),
        {"username": "carol", "password1": PASSWORD, "password2": PASSWORD + "x"},
    )

    assert response.status_code == 200
    assert not User.objects.filter(username="carol").exists()
    assert "_auth_user_id" not in client.session


def test_sign_up_refuses_a_taken_username(client: Client, alice: User) -> None:
    response = client.post(
        reverse("signup"),
        {"username": "alice", "password1": PASSWORD, "password2": PASSWORD},
    )

    assert response.status_code == 200
    assert User.objects.filter(username="alice").count() == 1


def test_log_in_with_the_right_password_goes_to_my_cats(client: Client, alice: User) -> None:
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("cats:list")
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_log_in_with_a_wrong_password_is_refused(client: Client, alice: User) -> None:
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_log_in_follows_next_back_to_the_page_asked_for(client: Client, alice: User) -> None:
    response = client.get(reverse("cats:list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))

    response = client.post(
        response["Location"],
        {"username": "alice", "password": PASSWORD, "next": reverse("cats:list")},
    )

    assert response["Location"] == reverse("cats:list")


def test_log_out_by_post_ends_the_session(client: Client, alice: User) -> None:
    client.force_login(alice)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("cats:list")).status_code == 302


def test_log_out_by_get_is_refused(client: Client, alice: User) -> None:
    # A GET link (an <img> on another site) must not be able to log anyone out.
    client.force_login(alice)

    response = client.get(reverse("logout"))

    assert response.status_code == 405
    assert client.session["_auth_user_id"] == str(alice.pk)


# --- the sign-up page spends REST sign-up's budget -------------------------------------------


@pytest.fixture
def low_register_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    # ScopedRateThrottle read the rates from settings at import: patch the class's copy.
    rates = {**ScopedRateThrottle.THROTTLE_RATES, "register": "2/hour"}
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", rates)


def _sign_up(client: Client, username: str, address: str = "127.0.0.1") -> Any:
    return client.post(
        reverse("signup"),
        {"username": username, "password1": PASSWORD, "password2": PASSWORD},
        REMOTE_ADDR=address,
    )


def test_the_sign_up_page_is_throttled_per_address(client: Client, low_register_rate: None) -> None:
    assert _sign_up(Client(), "u1").status_code == 302
    assert _sign_up(Client(), "u2").status_code == 302

    response = _sign_up(client, "u3")

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 3600
    assert "Too many sign-ups from your address. Please try again in 60 minutes." in (
        response.content.decode()
    )
    assert not User.objects.filter(username="u3").exists()
    assert "_auth_user_id" not in client.session
    # Another address has its own allowance.
    assert _sign_up(Client(), "u3", address="10.0.0.9").status_code == 302


def test_the_sign_up_page_and_rest_sign_up_share_one_budget(
    client: Client, low_register_rate: None
) -> None:
    api = APIClient()
    assert api.post(REGISTER, {"username": "u1", "password": PASSWORD}).status_code == 201
    assert _sign_up(Client(), "u2").status_code == 302

    page = _sign_up(client, "u3")
    rest = api.post(REGISTER, {"username": "u4", "password": PASSWORD})

    assert page.status_code == rest.status_code == 429
    assert not User.objects.filter(username__in=["u3", "u4"]).exists()


def test_a_refused_sign_up_attempt_counts_too(client: Client, low_register_rate: None) -> None:
    # As REST sign-up counts every request: a bot trying names cannot probe for free.
    for _ in range(2):
        assert _sign_up(client, "alice-again" * 20).status_code == 200

    assert _sign_up(client, "u1").status_code == 429
