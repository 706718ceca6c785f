"""The account page in real Chromium at 1280×800 and 390×844: reach it from the top bar,
download the export, change the password, then delete the account and land on log-in with a
goodbye. axe-core (catchat/testing/axe.py) checks every state of the page when it is installed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from accounts.models import User
from accounts.tests.factories import PASSWORD
from accounts.views import GOODBYE
from catchat.testing.axe import assert_no_violations
from catchat.testing.live import LiveServer
from cats.models import Cat
from cats.tests.factories import CatFactory
from cats.tests.test_browser import (
    PHONE,
    _log_in,
    _new_page,
    server,  # noqa: F401 (a fixture)
    server_url,  # noqa: F401 (a fixture)
)
from cats.tests.test_browser import pytestmark as browser_marks

pytestmark = browser_marks

NEW_PASSWORD = "a-brand-new-purr-42"  # noqa: S105 - a test fixture
SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True},
}


@pytest_asyncio.fixture(params=list(SIZES))
async def page(request: pytest.FixtureRequest, server: LiveServer) -> AsyncIterator[Page]:  # noqa: F811
    async for new_page in _new_page(accept_downloads=True, **SIZES[request.param]):
        yield new_page


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers", coat="ginger")


async def _accessible(page: Page, what: str) -> None:
    await page.wait_for_load_state("load")
    await assert_no_violations(page, what)


async def test_account_page_export_change_password_then_delete(
    server_url: str,  # noqa: F811
    page: Page,
    whiskers: Cat,
    tmp_path: Path,
) -> None:
    await _log_in(page, server_url, "alice", "/cats/")
    await page.get_by_role("link", name="Account", exact=True).click()
    await page.wait_for_url(f"{server_url}/account/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    await _accessible(page, "the account page")

    # Export: a download of alice's own data.
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Download my data").click()
    download = await info.value
    assert download.suggested_filename == "catchat-export-alice.json"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    document = json.loads(saved.read_text())
    assert [cat["name"] for cat in document["cats"]] == ["Whiskers"]

    # Password: a wrong old password is shown beside its field, then the change goes through.
    await page.get_by_label("Old password").fill("not my password")
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Change password").click()
    old = page.locator("#id_old_password")
    await expect(old).to_have_attribute("aria-invalid", "true")
    await expect(old).to_be_focused()
    await expect(page.locator("#password")).to_contain_text("entered incorrectly")
    await _accessible(page, "the account page with a password error")
    await page.get_by_label("Old password").fill(PASSWORD)
    await page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Change password").click()
    await page.wait_for_url(f"{server_url}/account/")
    await expect(page.get_by_role("status")).to_contain_text("Your password was changed.")
    # Still logged in.
    await expect(page.locator(".topbar__user")).to_have_text("alice")

    # Delete: refused until the username is typed exactly.
    confirmation = page.get_by_label("Type your username to confirm")
    await confirmation.fill("Alice")
    await page.get_by_role("button", name="Delete my account").click()
    await expect(page.locator("#id_confirmation")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#id_confirmation")).to_be_focused()
    await expect(page.locator("#delete")).to_contain_text("That is not your username")
    assert await User.objects.filter(username="alice").aexists()
    await _accessible(page, "the account page with a refused deletion")
    await page.get_by_label("Type your username to confirm").fill("alice")
    await page.get_by_role("button", name="Delete my account").click()
    await page.wait_for_url(f"{server_url}/accounts/login/")
    await expect(page.get_by_role("status")).to_contain_text(GOODBYE)
    await _accessible(page, "the log-in page after deletion")
    assert not await User.objects.filter(username="alice").aexists()
    assert not await Cat.objects.filter(pk=whiskers.pk).aexists()

    # The new password of a deleted account opens nothing.
    await page.fill("#id_username", "alice")
    await page.fill("#id_password", NEW_PASSWORD)
    await page.click("main form button[type=submit]")
    await expect(page.locator(".form-errors")).to_be_visible()
    await page.goto(f"{server_url}/account/")
    await page.wait_for_url(f"{server_url}/accounts/login/?next=/account/")


async def test_forgot_password_pages(server_url: str, page: Page, whiskers: Cat) -> None:  # noqa: F811
    await page.goto(f"{server_url}/accounts/login/")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.wait_for_url(f"{server_url}/accounts/password-reset/")
    await _accessible(page, "the password reset form")
    await page.get_by_label("Email").fill("nobody@example.com")
    await page.get_by_role("button", name="Send the link").click()
    await page.wait_for_url(f"{server_url}/accounts/password-reset/sent/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your e-mail")
    await _accessible(page, "the password reset sent page")
