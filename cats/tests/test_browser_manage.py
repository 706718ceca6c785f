"""Managing conversations and cats in real Chromium at 1280×800 and 390×844 (issue 16): the list
grouped by day, rename and delete a conversation (a <dialog> to confirm), search, switch cat
from the chat header, edit a cat. axe runs on each state visited when it is installed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from django.utils import timezone
from playwright.async_api import Page, expect

from accounts.models import User
from catchat.testing.axe import assert_no_violations
from catchat.testing.live import LiveServer
from cats.models import Cat, Conversation
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.tests.test_browser import (  # noqa: F401 (fixtures)
    PHONE,
    _log_in,
    _new_page,
    server,
)
from cats.tests.test_browser import pytestmark as browser_marks

pytestmark = browser_marks

SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True},
}


@pytest_asyncio.fixture(params=["desktop", "phone"])
async def page(request: pytest.FixtureRequest, server: LiveServer) -> AsyncIterator[Page]:  # noqa: F811
    async for new_page in _new_page(**SIZES[request.param]):
        yield new_page


async def assert_accessible(page: Page, what: str) -> None:
    await assert_no_violations(page, what)


async def open_drawer(page: Page) -> None:
    """On a phone the conversation list is a drawer behind ☰."""
    toggle = page.locator("#sidebar-toggle")
    if await toggle.is_visible() and await toggle.get_attribute("aria-expanded") != "true":
        await toggle.click()
    await expect(page.locator("#conversation-list")).to_be_visible()


async def test_rename_delete_search_switch_and_edit(
    server: LiveServer,  # noqa: F811
    page: Page,
    alice: User,
) -> None:
    server_url = server.url
    whiskers = CatFactory.create(owner=alice, name="Whiskers", coat="ginger")
    tom = CatFactory.create(owner=alice, name="Tom", personality="lazy")
    mia = ConversationFactory.create(cat=whiskers, title="About Mia")
    MessageFactory.create(conversation=mia, text="My sister Mia likes cats.")
    old = ConversationFactory.create(cat=whiskers, title="Old chat")
    MessageFactory.create(conversation=old, text="Rainy day.")
    Conversation.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=10))

    await _log_in(page, server_url, "alice", f"/cats/{whiskers.pk}/?conversation={mia.pk}")
    await open_drawer(page)

    # Grouped by day, with clock times.
    days = page.locator("#conversation-list .conversation-list__day-title")
    await expect(days.first).to_have_text("Today")
    await expect(days).to_have_count(2)
    mia_item = page.locator(f'#conversation-list [data-conversation-id="{mia.pk}"]')
    await expect(mia_item.locator(".conversation-list__time")).to_have_text(
        re.compile(r"^\d\d:\d\d$")
    )
    await assert_accessible(page, "the chat page")

    # Rename, by keyboard in its menu.
    old_item = page.locator(f'#conversation-list [data-conversation-id="{old.pk}"]')
    await old_item.locator(".conversation-menu__toggle").click()
    await assert_accessible(page, "a conversation's menu")
    field = page.locator(f"#rename-{old.pk}")
    await field.fill("Rain and tea")
    await field.press("Enter")
    await expect(old_item.locator(".conversation-list__title")).to_have_text("Rain and tea")
    await expect(page.locator("#conversation-list-status")).to_have_text(
        "Renamed to “Rain and tea”."
    )
    old.refresh_from_db()
    assert old.title == "Rain and tea"
    # ... a rename is activity: now first, under today.
    await expect(days).to_have_count(1)

    # Delete, confirmed in a dialog (Cancel first keeps it).
    await old_item.locator(".conversation-menu__toggle").click()
    await old_item.locator(".conversation-menu__delete").click()
    dialog = page.locator("#conversation-delete-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Rain and tea")
    await assert_accessible(page, "the delete dialog")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    assert Conversation.objects.filter(pk=old.pk).exists()
    await old_item.locator(".conversation-menu__toggle").click()
    await old_item.locator(".conversation-menu__delete").click()
    await dialog.locator("#conversation-delete-confirm").click()
    await expect(old_item).to_have_count(0)
    await expect(page.locator("#conversation-list-status")).to_have_text("Deleted “Rain and tea”.")
    assert not Conversation.objects.filter(pk=old.pk).exists()

    # Search.
    await page.fill("#conversation-search-input", "Mia")
    await page.press("#conversation-search-input", "Enter")
    results = page.locator("#conversation-results-list li")
    await expect(results).to_have_count(1)
    await expect(results.first).to_contain_text("About Mia")
    await assert_accessible(page, "search results")
    await page.click("#conversation-results-clear")
    await expect(page.locator("#conversation-results")).to_be_hidden()

    # Switch cat from the header.
    await page.goto(f"{server_url}/cats/{whiskers.pk}/")
    await page.locator(".cat-menu__toggle").click()
    await page.get_by_role("link", name="Chat with Tom").click()
    await page.wait_for_url(f"{server_url}/cats/{tom.pk}/")
    await expect(page.locator("#chat-title")).to_have_text("Tom")

    # Edit that cat, from the same menu.
    await page.locator(".cat-menu__toggle").click()
    await page.get_by_role("link", name="Edit Tom").click()
    await page.wait_for_url(f"{server_url}/cats/{tom.pk}/edit/")
    await assert_accessible(page, "the edit page")
    await page.fill("#id_name", "")
    await page.click("#cat-edit-form button[type=submit]")
    await expect(page.locator(".field__errors")).to_contain_text("This field is required.")
    await page.fill("#id_name", "Thomas")
    await page.fill("#id_coat", "grey tabby")
    await page.click("#cat-edit-form button[type=submit]")
    await page.wait_for_url(f"{server_url}/cats/{tom.pk}/")
    await expect(page.locator("#chat-title")).to_have_text("Thomas")
    tom.refresh_from_db()
    assert (tom.name, tom.coat) == ("Thomas", "grey tabby")


async def test_deleting_a_cat_asks_first(
    server: LiveServer,  # noqa: F811
    page: Page,
    alice: User,
) -> None:
    server_url = server.url
    cat: Cat = CatFactory.create(owner=alice, name="Biscuit")

    await _log_in(page, server_url, "alice", "/cats/")
    await page.get_by_role("link", name="Delete Biscuit").click()
    await page.wait_for_url(f"{server_url}/cats/{cat.pk}/delete/")
    await assert_accessible(page, "the delete page")
    await page.click("#delete-form button[type=submit]")
    await page.wait_for_url(f"{server_url}/cats/")
    await expect(page.get_by_text("Biscuit has gone to a new home")).to_be_visible()
    assert not Cat.objects.filter(pk=cat.pk).exists()
