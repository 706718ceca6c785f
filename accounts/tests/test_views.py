"""Sign-up, log-in and log-out through the real pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


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
