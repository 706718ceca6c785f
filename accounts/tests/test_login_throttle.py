"""The log-in lockout: 5 failures per username or 20 per address in 15 minutes, counted together
at the log-in page, the admin's log-in page and the token API (accounts/login_throttle.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

THROTTLED = "Too many failed log-in attempts"


def _log_in(client: Client, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def _fail(client: Client, username: str, times: int, address: str = "127.0.0.1") -> None:
    for _ in range(times):
        response = _log_in(client, username, "wrong password", address)
        assert response.status_code == 200
        assert THROTTLED not in response.content.decode()


def test_five_wrong_passwords_lock_the_username_even_for_the_right_one(
    client: Client, alice: User
) -> None:
    _fail(client, "alice", 5)

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    assert response.status_code == 429
    assert THROTTLED in response.content.decode()
    assert "try again in 15 minutes" in response.content.decode()
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert "_auth_user_id" not in client.session


def test_four_wrong_passwords_still_let_the_right_one_in(client: Client, alice: User) -> None:
    _fail(client, "alice", 4)

    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_a_success_wipes_the_usernames_earlier_failures(client: Client, alice: User) -> None:
    _fail(client, "alice", 4)
    assert _log_in(client, "alice", PASSWORD).status_code == 302
    client.logout()

    _fail(client, "alice", 4)  # a fresh budget of five

    assert _log_in(client, "alice", PASSWORD).status_code == 302


def test_another_user_is_unaffected_by_a_locked_username(
    client: Client, alice: User, bob: User
) -> None:
    _fail(client, "alice", 5)
    assert _log_in(client, "alice", PASSWORD).status_code == 429

    response = _log_in(Client(), "bob", PASSWORD)

    assert response.status_code == 302


def test_the_lock_ends_when_the_window_passes(
    client: Client, alice: User, settings: SettingsWrapper
) -> None:
    # Time travel moves this process's clock, not Redis's: the window is tested on the local
    # cache, whose expiry reads the process clock (Redis keeps its TTLs itself).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    _fail(client, "alice", 5)
    assert _log_in(client, "alice", PASSWORD).status_code == 429

    with time_machine.travel(timezone.now() + timedelta(minutes=14), tick=False):
        assert _log_in(client, "alice", PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=16), tick=False):
        response = _log_in(client, "alice", PASSWORD)

    assert response.status_code == 302


def test_twenty_failures_from_one_address_lock_that_address_only(client: Client) -> None:
    carol = UserFactory.create(username="carol")
    for n in range(20):  # 20 usernames, 1 failure each: no username reaches its limit
        _fail(client, f"guess{n}", 1, address="203.0.113.7")

    refused = _log_in(client, "carol", PASSWORD, address="203.0.113.7")
    elsewhere = _log_in(Client(), "carol", PASSWORD, address="198.51.100.2")

    assert refused.status_code == 429
    assert THROTTLED in refused.content.decode()
    assert elsewhere.status_code == 302
    assert carol.is_active


def test_a_username_is_throttled_whatever_its_case(client: Client, alice: User) -> None:
    _fail(client, "Alice", 3)
    _fail(client, "ALICE", 2)

    assert _log_in(client, "alice", PASSWORD).status_code == 429


def test_an_attempt_without_a_password_is_not_counted(client: Client, alice: User) -> None:
    for _ in range(6):
        response = client.post(reverse("login"), {"username": "alice", "password": ""})
        assert response.status_code == 200

    assert _log_in(client, "alice", PASSWORD).status_code == 302


# --- one lockout for every log-in: the page, the admin's page, the token API -----------------

TOKEN = reverse("accounts_api:token")
ADMIN_LOGIN = reverse("admin:login")


def _token(username: str, password: str, address: str = "127.0.0.1") -> Any:
    return Client().post(
        TOKEN,
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
    )


def _admin_log_in(client: Client, username: str, password: str, address: str = "127.0.0.1") -> Any:
    return client.post(
        ADMIN_LOGIN,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
    )


@pytest.fixture
def root(db: None) -> User:
    return UserFactory.create(username="root", is_staff=True, is_superuser=True)


def test_failures_at_the_log_in_page_lock_the_token_api_too(client: Client, alice: User) -> None:
    _fail(client, "alice", 5)

    response = _token("alice", PASSWORD, address="198.51.100.2")

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert response.json() == {
        "detail": "Too many failed log-in attempts. Please try again in 15 minutes."
    }


def test_failures_at_the_token_api_lock_the_username_from_any_address(
    client: Client, alice: User
) -> None:
    for n in range(5):  # each guess from another address: the username still counts them all
        assert _token("alice", "wrong password", address=f"203.0.113.{n}").status_code == 401

    page = _log_in(client, "alice", PASSWORD, address="198.51.100.2")
    api = _token("alice", PASSWORD, address="198.51.100.3")

    assert page.status_code == 429
    assert THROTTLED in page.content.decode()
    assert api.status_code == 429
    assert "_auth_user_id" not in client.session


def test_failures_at_every_log_in_count_together(client: Client, root: User) -> None:
    _fail(client, "root", 2, address="203.0.113.1")
    for _ in range(2):
        assert _token("root", "wrong password", address="203.0.113.2").status_code == 401
    assert _admin_log_in(Client(), "root", "wrong password", "203.0.113.3").status_code == 200

    response = _admin_log_in(client, "root", PASSWORD, address="198.51.100.2")

    assert THROTTLED in response.content.decode()
    assert "try again in 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_five_wrong_passwords_at_the_admin_lock_it_and_the_token_api(
    client: Client, root: User
) -> None:
    for _ in range(5):
        response = _admin_log_in(client, "root", "wrong password")
        assert response.status_code == 200
        assert THROTTLED not in response.content.decode()

    refused = _admin_log_in(client, "root", PASSWORD)

    assert THROTTLED in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert _token("root", PASSWORD, address="198.51.100.2").status_code == 429


def test_the_admin_still_lets_staff_in_and_keeps_others_out(
    client: Client, root: User, alice: User
) -> None:
    response = _admin_log_in(client, "root", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(root.pk)
    assert client.get("/admin/accounts/user/").status_code == 200
    # A person who is not staff is refused, but the right password is no failed guess.
    for _ in range(5):
        assert _admin_log_in(Client(), "alice", PASSWORD).status_code == 200
    assert _log_in(Client(), "alice", PASSWORD).status_code == 302


def test_a_token_granted_wipes_the_usernames_earlier_failures(alice: User) -> None:
    for _ in range(4):
        assert _token("alice", "wrong password").status_code == 401
    assert _token("alice", PASSWORD).status_code == 200

    for _ in range(4):  # a fresh budget of five
        assert _token("alice", "wrong password").status_code == 401

    assert _token("alice", PASSWORD).status_code == 200


def test_a_token_request_without_a_password_is_not_counted(alice: User) -> None:
    for _ in range(6):
        response = Client().post(TOKEN, {"username": "alice"}, content_type="application/json")
        assert response.status_code == 400

    assert _token("alice", PASSWORD).status_code == 200


def test_the_lockout_limits_come_from_the_settings(
    client: Client, alice: User, settings: SettingsWrapper
) -> None:
    settings.LOGIN_LOCKOUT_FAILURES = 2
    settings.LOGIN_LOCKOUT_MINUTES = 1
    _fail(client, "alice", 2)

    response = _token("alice", PASSWORD)

    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["detail"].endswith("try again in 1 minute.")
