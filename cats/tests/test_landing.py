"""The landing page at `/`: visitors learn what CatChat is; logged-in users go to their cats."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertContains, assertTemplateUsed

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_a_visitor_sees_what_catchat_is_and_how_to_join(client: Client) -> None:
    response = client.get(reverse("home"))

    assert response.status_code == 200
    assertTemplateUsed(response, "landing.html")
    assertContains(response, f'<a class="button button--primary" href="{reverse("signup")}">')
    assertContains(response, f'<a class="button" href="{reverse("login")}">Log in</a>', html=True)
    for feature in ("Adopt", "Chat", "It remembers", "Moods"):
        assertContains(response, f"<h2>{feature}</h2>", html=True)
    assertContains(response, '<link rel="icon"')


def test_a_logged_in_user_goes_on_to_their_cats(client: Client, alice: User) -> None:
    client.force_login(alice)

    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"] == reverse("cats:list")


def test_the_favicon_is_served(client: Client) -> None:
    from django.contrib.staticfiles import finders

    assert finders.find("favicon.svg")
