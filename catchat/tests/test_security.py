"""Production safety: `check --deploy`, https-only cookies and HSTS, the Content Security Policy,
CSRF on every HTML form, and no secret in the repository.

Settings are read once, at import, from the environment: production is checked in a subprocess
with production's environment, not by overriding settings in this (DEBUG) process.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import User
from cats.models import Cat
from cats.tests.factories import CatFactory, ConversationFactory
from memories.models import Memory
from memories.tests.factories import MemoryFactory

BASE_DIR = Path(settings.BASE_DIR)
TEMPLATES = BASE_DIR / "templates"
HOST = "chat.example.com"

EXPECTED_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "object-src": ["'none'"],
}


# --- Production settings, in a subprocess ---------------------------------------------------


def _environment(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_", "DJANGO_SETTINGS_MODULE"))
    }
    env.update(
        DEBUG="false",
        # Random each run: a real key of 50+ characters, never a literal in the repository.
        SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS=HOST,
        # Never connected to: settings only need a database that is not the embedded one.
        DATABASE_URL="postgres://x@127.0.0.1:1/unused",
        DJANGO_SETTINGS_MODULE="catchat.settings",
    )
    env.update(overrides)
    return env


def _run(args: list[str], **overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=_environment(**overrides),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# Requests through Django's test client in a process started with the given environment; no
# database is touched (the log-in page for an anonymous visitor needs none).
PROBE = """
import json
import django

django.setup()
from django.conf import settings
from django.test import Client


def seen(response):
    csrf = response.cookies.get("csrftoken")
    return {
        "status": response.status_code,
        "location": response.get("Location"),
        "hsts": response.get("Strict-Transport-Security"),
        "csrf_cookie_secure": bool(csrf and csrf["secure"]),
        "csrf_cookie_samesite": csrf["samesite"] if csrf else None,
    }


host = settings.ALLOWED_HOSTS[0]
print(json.dumps({
    "http": seen(Client(HTTP_HOST=host).get("/accounts/login/")),
    "https": seen(Client(HTTP_HOST=host).get("/accounts/login/", secure=True)),
    "proxied_https": seen(
        Client(HTTP_HOST=host, HTTP_X_FORWARDED_PROTO="https").get("/accounts/login/")
    ),
    "health_over_http": Client(HTTP_HOST=host).get("/api/v1/health/").status_code,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "session_cookie_samesite": settings.SESSION_COOKIE_SAMESITE,
    "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
}))
"""


def _probe(**overrides: str) -> dict[str, Any]:
    done = _run(["-c", PROBE], **overrides)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_check_deploy_reports_nothing_under_production_settings() -> None:
    done = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])

    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_check_deploy_fails_when_https_is_turned_off() -> None:
    # The check above can fail: without the redirect and HSTS, Django's deploy checks object.
    done = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
    )

    assert done.returncode != 0
    assert "security.W004" in done.stderr + done.stdout
    assert "security.W008" in done.stderr + done.stdout


def test_production_redirects_to_https_and_sends_hsts_and_secure_cookies() -> None:
    seen = _probe()

    assert seen["http"]["status"] == 301
    # ...but not health checks: no database in this probe, so the view answers 503 itself.
    assert seen["health_over_http"] == 503
    assert seen["http"]["location"] == f"https://{HOST}/accounts/login/"
    https = seen["https"]
    assert https["status"] == 200
    assert https["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert https["csrf_cookie_secure"] is True
    assert https["csrf_cookie_samesite"] == "Lax"
    assert seen["session_cookie_secure"] is True
    assert seen["session_cookie_samesite"] == "Lax"
    assert seen["session_cookie_httponly"] is True
    # No proxy configured: a client's X-Forwarded-Proto is not believed.
    assert seen["proxied_https"]["status"] == 301


def test_behind_a_tls_proxy_its_forwarded_proto_counts_as_https() -> None:
    seen = _probe(SECURE_PROXY_SSL_HEADER="true", SECURE_HSTS_SECONDS="600")

    assert seen["proxied_https"]["status"] == 200
    assert seen["proxied_https"]["hsts"] == "max-age=600; includeSubDomains; preload"
    assert seen["http"]["status"] == 301


def test_hsts_preload_and_the_redirect_can_be_turned_off() -> None:
    seen = _probe(SECURE_HSTS_PRELOAD="false", SECURE_SSL_REDIRECT="false")

    assert seen["http"]["status"] == 200
    assert seen["https"]["hsts"] == "max-age=31536000; includeSubDomains"


def test_debug_keeps_plain_http_working_whatever_the_environment_says() -> None:
    seen = _probe(
        DEBUG="true", SECRET_KEY="", SECURE_SSL_REDIRECT="true", SECURE_HSTS_SECONDS="600"
    )

    assert seen["http"]["status"] == 200
    assert seen["https"]["hsts"] is None
    assert seen["http"]["csrf_cookie_secure"] is False
    assert seen["session_cookie_secure"] is False


# --- Content Security Policy ----------------------------------------------------------------


def _policy(header: str) -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    for directive in header.split(";"):
        name, *sources = directive.split()
        policy[name] = sources
    return policy


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)([^>]*)>", re.IGNORECASE)


def _assert_no_inline_code(html: str, nonce: str | None = None) -> None:
    for attributes in INLINE_SCRIPT.findall(html):
        if 'type="application/json"' in attributes:  # json_script data: never executed
            continue
        assert nonce and f'nonce="{nonce}"' in attributes, f"inline <script{attributes}>"
    for attributes in re.findall(r"<style\b([^>]*)>", html, re.IGNORECASE):
        assert nonce and f'nonce="{nonce}"' in attributes, f"inline <style{attributes}>"
    assert not re.search(r"<[^>]+\sstyle=", html), "an inline style attribute"
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "an inline event handler"


@pytest.mark.django_db
def test_the_chat_page_is_served_under_the_strict_policy(
    alice_client: Client, whiskers: Cat
) -> None:
    response = alice_client.get(reverse("cats:chat", args=[whiskers.pk]))

    assert response.status_code == 200
    assert _policy(response["Content-Security-Policy"]) == EXPECTED_POLICY
    html = response.content.decode()
    assert 'id="chat-config" type="application/json"' in html
    _assert_no_inline_code(html)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["login", "signup", "cats:list"])
def test_every_page_is_served_under_the_strict_policy(
    client: Client, alice: User, name: str
) -> None:
    if name == "cats:list":
        client.force_login(alice)

    response = client.get(reverse(name))

    assert response.status_code == 200
    assert _policy(response["Content-Security-Policy"]) == EXPECTED_POLICY
    _assert_no_inline_code(response.content.decode())


@pytest.mark.django_db
def test_the_memories_page_is_served_under_the_strict_policy(
    alice_client: Client, whiskers: Cat
) -> None:
    MemoryFactory.create(profile__cat=whiskers, text="Loves sushi")

    response = alice_client.get(reverse("memories:page", args=[whiskers.pk]))

    assert response.status_code == 200
    assert "Loves sushi" in response.content.decode()
    assert _policy(response["Content-Security-Policy"]) == EXPECTED_POLICY
    _assert_no_inline_code(response.content.decode())


@pytest.mark.django_db
def test_swagger_ui_runs_its_inline_bootstrap_by_this_responses_nonce_only(
    client: Client,
) -> None:
    first = client.get("/api/v1/docs/")
    second = client.get("/api/v1/docs/")

    assert first.status_code == 200
    policy = _policy(first["Content-Security-Policy"])
    nonce_source = policy["script-src"][1]
    assert re.fullmatch(r"'nonce-[A-Za-z0-9+/=]{20,}'", nonce_source)
    nonce = nonce_source[len("'nonce-") : -1]
    # Everything else is the strict policy; only this response's nonce is added.
    assert policy == {
        **EXPECTED_POLICY,
        "script-src": ["'self'", nonce_source],
        "style-src": ["'self'", nonce_source],
    }
    html = first.content.decode()
    assert f'<script nonce="{nonce}">' in html and "SwaggerUIBundle(" in html
    _assert_no_inline_code(html, nonce=nonce)
    assert nonce not in second["Content-Security-Policy"]


def test_no_template_holds_inline_code_without_a_nonce() -> None:
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        for attributes in INLINE_SCRIPT.findall(text):
            assert "request.csp_nonce" in attributes, f"{template}: inline <script{attributes}>"
        for attributes in re.findall(r"<style\b([^>]*)>", text):
            assert "request.csp_nonce" in attributes, f"{template}: <style{attributes}>"
        assert not re.search(r"<[^>]+\sstyle=", text), f"{template}: a style attribute"
        assert not re.search(r"<[^>]+\son[a-z]+=", text), f"{template}: an event handler"


# --- CSRF on every HTML form ----------------------------------------------------------------

POST_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.IGNORECASE | re.DOTALL)


# Forms whose action is not a `{% url %}` in the template, and the URL names they post to: a
# confirmation page shared by two deletions (its view passes the action), and Django's reset
# confirmation, which posts back to its own address (it holds the one-time token).
OTHER_ACTIONS = {
    "delete.html": {"cats:delete", "cats:conversation-delete"},
    "password_reset_confirm.html": {"password_reset_confirm"},
}


def _post_forms() -> dict[str, set[str]]:
    """The URL names posted to by the templates' forms, each with the templates that do."""
    found: dict[str, set[str]] = {}
    for template in sorted(TEMPLATES.rglob("*.html")):
        for attributes, body in POST_FORM.findall(template.read_text()):
            if not re.search(r'method="post"', attributes, re.IGNORECASE):
                continue
            assert "{% csrf_token %}" in body, f"{template}: a POST form without a CSRF token"
            action = re.search(r"action=\"\{% url '([\w:-]+)'", attributes)
            names = {action.group(1)} if action else OTHER_ACTIONS.get(template.name)
            assert names, f"{template}: a POST form without an {{% url %}} action"
            for name in names:
                found.setdefault(name, set()).add(template.name)
    return found


def _form_urls(cat: Cat, memory: Memory) -> dict[str, list[str]]:
    actions = ["correct", "pin", "unpin", "forget", "restore"]
    chat = ConversationFactory.create(cat=cat)
    return {
        "logout": [reverse("logout")],
        "login": [reverse("login")],
        "signup": [reverse("signup")],
        "account-profile": [reverse("account-profile")],
        "password_change": [reverse("password_change")],
        "account-delete": [reverse("account-delete")],
        "password_reset": [reverse("password_reset")],
        "password_reset_confirm": [reverse("password_reset_confirm", args=["MQ", "set-password"])],
        "cats:list": [reverse("cats:list")],
        "cats:edit": [reverse("cats:edit", args=[cat.pk])],
        "cats:delete": [reverse("cats:delete", args=[cat.pk])],
        "cats:conversation-rename": [reverse("cats:conversation-rename", args=[cat.pk, chat.pk])],
        "cats:conversation-delete": [reverse("cats:conversation-delete", args=[cat.pk, chat.pk])],
        "memories:switch": [reverse("memories:switch", args=[cat.pk])],
        "memories:action": [
            reverse("memories:action", args=[cat.pk, memory.pk, action]) for action in actions
        ],
    }


@pytest.mark.django_db
def test_every_html_form_is_refused_without_its_csrf_token(alice: User, whiskers: Cat) -> None:
    memory = MemoryFactory.create(profile__cat=whiskers, text="Loves sushi")
    urls = _form_urls(whiskers, memory)
    # Every POST form of the templates is here (a new form must be added to this test).
    assert set(_post_forms()) == set(urls)

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    for url in [*(url for group in urls.values() for url in group), "/admin/login/"]:
        response = client.post(url, {"text": "Loves ramen", "username": "alice"})
        assert response.status_code == 403, url
        assert "CSRF verification failed" in response.content.decode(), url

    memory.refresh_from_db()
    assert memory.text == "Loves sushi" and memory.status == Memory.Status.ACTIVE
    assert Cat.objects.filter(owner=alice).count() == 1


@pytest.mark.django_db
def test_the_same_form_with_its_token_goes_through(alice: User, whiskers: Cat) -> None:
    # The 403s above are CSRF, not something else: with the token, the action happens.
    memory = MemoryFactory.create(profile__cat=whiskers, text="Loves sushi")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    client.get(reverse("memories:page", args=[whiskers.pk]))
    token = client.cookies["csrftoken"].value

    response = client.post(
        reverse("memories:action", args=[whiskers.pk, memory.pk, "forget"]),
        {"csrfmiddlewaretoken": token},
    )

    assert response.status_code == 302
    memory.refresh_from_db()
    assert memory.status == Memory.Status.REJECTED


@pytest.mark.django_db
def test_the_api_refuses_a_session_write_without_a_csrf_token(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = client.post("/api/v1/cats/", {"name": "Tom"}, content_type="application/json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def _views(
    patterns: list[URLPattern | URLResolver], prefix: str = ""
) -> list[tuple[str, Callable[..., Any]]]:
    found: list[tuple[str, Callable[..., Any]]] = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found.extend(_views(pattern.url_patterns, route))
        else:
            found.append((route, pattern.callback))
    return found


def test_no_page_is_csrf_exempt() -> None:
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE
    views = _views(get_resolver().url_patterns)
    assert any(route.startswith("accounts/") for route, _ in views)
    # DRF views are exempt from the middleware because DRF checks CSRF itself for session
    # logins (the test above); nothing outside the API may be.
    exempt = [
        route
        for route, view in views
        if getattr(view, "csrf_exempt", False) and not route.startswith("api/")
    ]
    assert exempt == []


# --- No secret in the repository ------------------------------------------------------------

# Split so that this file never matches its own patterns.
PRIVATE_KEY = "-----BEGIN" + r" (?:[A-Z]+ )*PRIVATE KEY-----"
SECRET_PATTERNS = {
    "a private key": re.compile(PRIVATE_KEY),
    "an AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "an AWS secret key": re.compile(
        r"aws_secret_access_key\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}", re.IGNORECASE
    ),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
    "a Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "a Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    "an sk- API key": re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}"),
    # A literal of 20+ characters given to a secret-looking name in code; the dev-only
    # fallback is marked the way Django marks insecure keys.
    "a hard-coded secret": re.compile(
        r"(?:SECRET_KEY|API_KEY|_TOKEN|PASSWORD)\s*[:=]\s*[\"'](?!django-insecure-)"
        r"[^\"'\s]{20,}[\"']",
        re.IGNORECASE,
    ),
    # A NAME=value line of an environment file or a shell script, the value key-like (16+
    # characters, not a $(command) or ${VARIABLE}): documented names carry none (.env.example).
    "a secret in an environment file": re.compile(
        r"^\s*(?:export\s+)?[A-Z_]*(?:SECRET|API_KEY|TOKEN|PASSWORD)[A-Z_]*="
        r"[\"']?[A-Za-z0-9_+/=.-]{16,}[\"']?[ \t]*$",
        re.MULTILINE,
    ),
}


def _secrets_in(text: str) -> list[str]:
    return [name for name, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


def _repository_files() -> list[Path]:
    listed = subprocess.run(
        # Committed files and new ones not ignored (about to be committed).
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],  # noqa: S607
        cwd=BASE_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [BASE_DIR / name for name in sorted(set(listed.split("\0"))) if name]


def test_the_secret_patterns_catch_secrets_and_spare_fixtures() -> None:
    key = "".join(secrets.choice("abcdefghijklmnop0123456789") for _ in range(50))
    planted = {
        f'SECRET_KEY = "{key}"': ["a hard-coded secret"],
        f"MISTRAL_API_KEY={key[:32]}": ["a secret in an environment file"],
        f'api_key="{key[:32]}"': ["a hard-coded secret"],
        "-----BEGIN" + " RSA PRIVATE KEY-----": ["a private key"],
        "-----BEGIN" + " PRIVATE KEY-----": ["a private key"],
        "AKIA" + "IOSFODNN7EXAMPLE": ["an AWS access key id"],
        f"export DJANGO_SECRET_KEY='{key}'": [
            "a hard-coded secret",
            "a secret in an environment file",
        ],
    }
    for text, expected in planted.items():
        assert _secrets_in(text) == expected, text
    spared = [
        'settings.MISTRAL_API_KEY = "test-key"',
        '_DEV_SECRET = "django-insecure-catchat-dev-only-never-in-production"',
        'SECRET_KEY = env.str("SECRET_KEY", default="")',
        "# MISTRAL_API_KEY=",
        "MISTRAL_API_KEY=",
        "SECRET_KEY=$(openssl rand -base64 48)",
        'PASSWORD = "pw-catchat-123"',
        "THROTTLE_TOKEN=20/min",
        "    SECRET_KEY=secrets.token_urlsafe(48),",
    ]
    for text in spared:
        assert _secrets_in(text) == [], text


def test_no_secret_is_in_the_repository() -> None:
    files = _repository_files()
    assert BASE_DIR / "catchat" / "settings.py" in files
    found = []
    for path in files:
        if not path.is_file():
            continue  # deleted in the working tree
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary
        found += [f"{path.relative_to(BASE_DIR)}: {name}" for name in _secrets_in(text)]
    assert found == []


def test_the_example_environment_leaves_every_secret_unset() -> None:
    example = (BASE_DIR / ".env.example").read_text()
    for name in ("SECRET_KEY", "MISTRAL_API_KEY"):
        lines = [line for line in example.splitlines() if re.match(rf"#?\s*{name}=", line)]
        assert lines == [f"# {name}="], name
