"""Throttling of the HTML log-in form: 5 failures per username or 20 per address in 15 minutes."""

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
