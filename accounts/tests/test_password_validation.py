"""Our own password rules (accounts/password_validation.py), as every way to set a password
applies them: the sign-up page, REST sign-up and a password change."""

from __future__ import annotations

import pytest
from django.contrib.auth.forms import SetPasswordForm
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

BLANK = "This password is blank: it is only spaces."
WHITESPACE = ["        ", " \t \t \t \t ", "\u00a0" * 10]


@pytest.mark.parametrize("password", WHITESPACE, ids=["spaces", "tabs", "no-break-spaces"])
def test_the_sign_up_page_refuses_a_password_of_only_spaces(client: Client, password: str) -> None:
    response = client.post(
        reverse("signup"),
        {"username": "carol", "password1": password, "password2": password},
    )

    assert response.status_code == 200
    assert BLANK in response.context["form"].errors["password2"]
    assert not User.objects.filter(username="carol").exists()


@pytest.mark.parametrize("password", WHITESPACE, ids=["spaces", "tabs", "no-break-spaces"])
def test_rest_sign_up_refuses_a_password_of_only_spaces(password: str) -> None:
    response = APIClient().post(
        reverse("accounts_api:register"), {"username": "carol", "password": password}
    )

    assert response.status_code == 400
    assert response.json() == {"password": [BLANK]}
    assert not User.objects.filter(username="carol").exists()


def test_a_password_change_refuses_a_password_of_only_spaces(alice: User) -> None:
    form = SetPasswordForm(alice, {"new_password1": " " * 12, "new_password2": " " * 12})

    assert not form.is_valid()
    assert BLANK in form.errors["new_password2"]
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_a_password_with_spaces_among_other_characters_is_fine() -> None:
    response = APIClient().post(
        reverse("accounts_api:register"),
        {"username": "carol", "password": "  purring kettle 42  "},
    )

    assert response.status_code == 201
