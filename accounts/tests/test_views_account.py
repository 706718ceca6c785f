"""The account page (`/account/`: profile, password, export, delete) and the password reset by
e-mail, through the real pages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import PASSWORD
from accounts.views import GOODBYE
from cats.models import Cat, Conversation, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.models import Memory
from memories.services import memory_create

pytestmark = pytest.mark.django_db

ACCOUNT = reverse("account")
PROFILE = reverse("account-profile")
PASSWORD_CHANGE = reverse("password_change")
EXPORT = reverse("account-export")
DELETE = reverse("account-delete")
RESET = reverse("password_reset")
NEW_PASSWORD = "a-brand-new-purr-42"  # noqa: S105 - a test fixture


def _flash(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _cat_with_talk(owner: User, *, said: str) -> Cat:
    cat = CatFactory.create(owner=owner, name=f"{owner.username}-cat")
    conversation = ConversationFactory.create(cat=cat, title=f"{owner.username} chat")
    MessageFactory.create(conversation=conversation, text=said)
    memory_create(profile=cat.memory_profile, text=f"{owner.username} remembers: {said}")
    return cat


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


@pytest.fixture
def csrf_client(alice: User) -> Client:
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(alice)
    return csrf


# --- getting there ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", ACCOUNT),
        ("post", PROFILE),
        ("post", PASSWORD_CHANGE),
        ("get", EXPORT),
        ("post", DELETE),
    ],
)
def test_every_account_route_sends_a_stranger_to_log_in(
    client: Client, method: str, url: str
) -> None:
    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("path", ["/accounts/", "/settings/"])
def test_the_usual_addresses_lead_to_the_account_page(alice_client: Client, path: str) -> None:
    response = alice_client.get(path)

    assert response.status_code == 302
    assert response["Location"] == ACCOUNT


def test_the_account_page_shows_every_section_and_the_top_bar_links_to_it(
    alice_client: Client,
) -> None:
    response = alice_client.get(ACCOUNT)

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r"<h1>Your account</h1>", html)
    headings = re.findall(r"<h(\d)", html)
    assert headings[0] == "1" and set(headings[1:]) == {"2"}, "headings in order"
    for title in ("Profile", "Password", "Export your data", "Delete your account"):
        assert f">{title}</h2>" in html
    assert f'href="{ACCOUNT}">Account</a>' in html
    assert 'value="alice@example.com"' in html
    # Every field has its label.
    for field in ("username", "email", "old_password", "new_password1", "confirmation"):
        assert f'<label for="id_{field}">' in html
    assert "<script>" not in html and "style=" not in html
    # Nothing grabs the focus on a plain visit (Django's password form would).
    assert "autofocus" not in html


@pytest.mark.parametrize(
    ("url", "data"),
    [
        (PROFILE, {"username": "alice", "email": "a@example.com"}),
        (
            PASSWORD_CHANGE,
            {
                "old_password": PASSWORD,
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
        ),
        (DELETE, {"confirmation": "alice"}),
    ],
)
def test_every_account_form_refuses_a_post_without_the_csrf_token(
    csrf_client: Client, alice: User, url: str, data: dict[str, str]
) -> None:
    response = csrf_client.post(url, data)

    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"
    assert alice.check_password(PASSWORD)


def test_the_account_forms_work_with_the_page_csrf_token(csrf_client: Client, alice: User) -> None:
    page = csrf_client.get(ACCOUNT)
    token = page.context["csrf_token"]

    response = csrf_client.post(
        PROFILE, {"username": "alice", "email": "new@example.com", "csrfmiddlewaretoken": token}
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.email == "new@example.com"


def test_the_reset_form_refuses_a_post_without_the_csrf_token(alice: User) -> None:
    response = Client(enforce_csrf_checks=True).post(RESET, {"email": alice.email})

    assert response.status_code == 403
    assert mail.outbox == []


# --- profile ---------------------------------------------------------------------------------


def test_profile_saves_username_and_email(alice_client: Client, alice: User) -> None:
    response = alice_client.post(PROFILE, {"username": "alice2", "email": "Al@Example.COM"})

    assert response.status_code == 302
    assert response["Location"] == ACCOUNT
    alice.refresh_from_db()
    assert (alice.username, alice.email) == ("alice2", "Al@example.com")
    assert _flash(alice_client.get(ACCOUNT)) == ["Your profile was saved."]


def test_profile_refuses_a_bad_email_beside_the_field(alice_client: Client, alice: User) -> None:
    response = alice_client.post(PROFILE, {"username": "alice", "email": "not an address"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "Enter a valid email address." in html
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="id_email"', html)
    assert re.search(r'id="id_email_errors?"', html), "the error has an id to be described by"
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_profile_refuses_a_username_taken_whatever_its_case(
    alice_client: Client, alice: User, bob: User
) -> None:
    response = alice_client.post(PROFILE, {"username": "BOB", "email": "alice@example.com"})

    assert response.status_code == 200
    assert "A user with that username already exists." in response.content.decode()
    alice.refresh_from_db()
    assert alice.username == "alice"
    # The top bar shows who is logged in, not the name that was refused.
    assert '<span class="topbar__user" title="Logged in">alice</span>' in response.content.decode()


def test_profile_refuses_a_username_with_spaces(alice_client: Client, alice: User) -> None:
    response = alice_client.post(PROFILE, {"username": "al ice", "email": ""})

    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.username == "alice"


# --- password --------------------------------------------------------------------------------


def test_password_change_keeps_this_session_and_the_new_password_works(
    alice_client: Client, alice: User
) -> None:
    response = alice_client.post(
        PASSWORD_CHANGE,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response["Location"] == ACCOUNT
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    # Still logged in: the session's hash was updated with the password.
    page = alice_client.get(ACCOUNT)
    assert page.status_code == 200
    assert _flash(page) == ["Your password was changed."]
    assert Client().login(username="alice", password=NEW_PASSWORD)


def test_password_change_ends_the_other_sessions(alice: User) -> None:
    here, elsewhere = Client(), Client()
    here.force_login(alice)
    elsewhere.force_login(alice)

    here.post(
        PASSWORD_CHANGE,
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert here.get(ACCOUNT).status_code == 200
    assert elsewhere.get(ACCOUNT).status_code == 302


def test_password_change_refuses_a_wrong_old_password(alice_client: Client, alice: User) -> None:
    response = alice_client.post(
        PASSWORD_CHANGE,
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Your old password was entered incorrectly" in html
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="id_old_password"', html)
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_password_change_refuses_a_weak_new_password(alice_client: Client, alice: User) -> None:
    response = alice_client.post(
        PASSWORD_CHANGE, {"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"}
    )

    assert response.status_code == 200
    assert "This password is too short." in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_password_change_by_get_shows_the_account_page(alice_client: Client) -> None:
    response = alice_client.get(PASSWORD_CHANGE)

    assert response.status_code == 302
    assert response["Location"] == f"{ACCOUNT}#password"


# --- export ----------------------------------------------------------------------------------


def test_export_downloads_alices_data_and_nothing_of_bobs(
    alice_client: Client, alice: User, bob: User
) -> None:
    whiskers = _cat_with_talk(alice, said="My sister is called Mia")
    _cat_with_talk(bob, said="Bob's secret is a blue door")

    response = alice_client.get(EXPORT)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="catchat-export-alice.json"'
    assert "no-store" in response["Cache-Control"]
    document = json.loads(response.content)
    assert document["format"] == "catchat-export"
    assert document["user"]["username"] == "alice"
    assert [cat["id"] for cat in document["cats"]] == [whiskers.pk]
    (conversation,) = document["cats"][0]["conversations"]
    assert [m["text"] for m in conversation["messages"]] == ["My sister is called Mia"]
    memories = document["cats"][0]["memory_profile"]["memories"]
    assert [m["text"] for m in memories] == ["alice remembers: My sister is called Mia"]
    raw = response.content.decode()
    assert "bob" not in raw.lower()
    assert "blue door" not in raw


def test_export_is_the_same_document_as_the_rest_route(alice_client: Client, alice: User) -> None:
    _cat_with_talk(alice, said="I'm scared of thunderstorms")

    page = json.loads(alice_client.get(EXPORT).content)
    api = alice_client.get(reverse("accounts_api:me-export")).json()

    for document in (page, api):
        document.pop("exported_at")
        for cat in document["cats"]:
            cat["state"].pop("updated_at", None)
    assert page == api


# --- delete ----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["", "Alice", "alic", "bob"])
def test_delete_refuses_without_the_exact_username(
    alice_client: Client, alice: User, typed: str
) -> None:
    _cat_with_talk(alice, said="hello")

    response = alice_client.post(DELETE, {"confirmation": typed})

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="id_confirmation"', html)
    # The focus lands on the field to correct, and only there.
    assert re.search(r'<input[^>]*autofocus[^>]*id="id_confirmation"', html)
    assert html.count("autofocus") == 1
    assert User.objects.filter(pk=alice.pk).exists()
    assert Cat.objects.filter(owner=alice).count() == 1
    assert alice_client.get(ACCOUNT).status_code == 200


def test_delete_with_the_username_removes_everything_and_says_goodbye(
    alice_client: Client, alice: User, bob: User
) -> None:
    cat = _cat_with_talk(alice, said="hello")
    bobs = _cat_with_talk(bob, said="hi")

    response = alice_client.post(DELETE, {"confirmation": "alice"}, follow=True)

    assert response.redirect_chain == [(reverse("login"), 302)]
    assert GOODBYE in response.content.decode()
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not Cat.objects.filter(pk=cat.pk).exists()
    assert not Conversation.objects.filter(cat_id=cat.pk).exists()
    assert not Memory.objects.filter(profile__cat_id=cat.pk).exists()
    # Bob's are untouched.
    assert Cat.objects.filter(pk=bobs.pk).exists()
    assert Message.objects.filter(conversation__cat=bobs).count() == 1
    # Logged out: the account page sends to log in.
    assert alice_client.get(ACCOUNT).status_code == 302


def test_delete_by_get_is_refused(alice_client: Client, alice: User) -> None:
    response = alice_client.get(DELETE)

    assert response.status_code == 405
    assert User.objects.filter(pk=alice.pk).exists()


# --- password reset by e-mail ----------------------------------------------------------------


def test_the_log_in_page_links_to_the_password_reset(client: Client) -> None:
    html = client.get(reverse("login")).content.decode()

    assert f'<a href="{RESET}">Forgot your password?</a>' in html


def test_password_reset_by_email_end_to_end(client: Client, alice: User) -> None:
    assert client.get(RESET).status_code == 200

    response = client.post(RESET, {"email": "ALICE@example.com"})

    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    (sent,) = mail.outbox
    assert sent.to == ["alice@example.com"]
    assert sent.subject == "Reset your CatChat password"
    body = str(sent.body)
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", body)
    assert link, body
    # The link swaps its token for the session and shows the form at a token-less address.
    form_page = client.get(link.group(1), follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    set_password_url = form_page.redirect_chain[-1][0]

    done = client.post(
        set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert done.status_code == 302
    assert done["Location"] == reverse("password_reset_complete")
    assert client.get(done["Location"]).status_code == 200
    logged_in = client.post(reverse("login"), {"username": "alice", "password": NEW_PASSWORD})
    assert logged_in.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)
    # The link works once.
    again = client.get(link.group(1), follow=True)
    assert "This link no longer works" in again.content.decode()


def test_password_reset_for_an_unknown_address_looks_the_same_and_sends_nothing(
    client: Client, alice: User
) -> None:
    known = client.post(RESET, {"email": "alice@example.com"}, follow=True)
    unknown = client.post(RESET, {"email": "nobody@example.com"}, follow=True)

    assert len(mail.outbox) == 1
    assert unknown.redirect_chain == known.redirect_chain
    assert unknown.status_code == known.status_code == 200

    def page(response: Any) -> str:
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())

    assert page(unknown) == page(known)


def test_password_reset_with_a_bad_token_says_the_link_no_longer_works(
    client: Client, alice: User
) -> None:
    response = client.get(reverse("password_reset_confirm", args=["MQ", "bad-token"]))

    assert response.status_code == 200
    assert "This link no longer works" in response.content.decode()


def test_password_reset_sends_one_address_only_so_many_mails_and_looks_the_same_after(
    client: Client, alice: User, settings: Any
) -> None:
    settings.PASSWORD_RESET_EMAILS_PER_HOUR = 2
    pages = [client.post(RESET, {"email": "alice@example.com"}) for _ in range(3)]

    assert len(mail.outbox) == 2
    assert [page.status_code for page in pages] == [302, 302, 302]
    assert {page["Location"] for page in pages} == {reverse("password_reset_done")}


def test_password_reset_refuses_too_many_requests_from_one_client_whatever_the_address(
    client: Client, alice: User, settings: Any
) -> None:
    settings.PASSWORD_RESET_ADDRESS_PER_HOUR = 2
    for email in ("nobody@example.com", "someone@example.com"):
        assert client.post(RESET, {"email": email}).status_code == 302

    refused = client.post(RESET, {"email": "alice@example.com"})
    unknown = client.post(RESET, {"email": "nobody-else@example.com"})

    assert refused.status_code == unknown.status_code == 429
    assert refused["Retry-After"] == "3600"
    assert "Too many password reset requests" in refused.content.decode()
    assert mail.outbox == []
    # Another client is not held up by this one.
    other = Client(REMOTE_ADDR="10.0.0.9").post(RESET, {"email": "alice@example.com"})
    assert other.status_code == 302
    assert len(mail.outbox) == 1
