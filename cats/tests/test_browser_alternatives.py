"""Regenerated replies in real Chromium: the page keeps the earlier reply as an alternative and
flips between them with the "‹ 1 / 2 ›" switcher; the kept one survives a reload.

Real daphne server, real PostgreSQL, the offline brain (as cats/tests/test_browser.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from accounts.models import User
from cats.models import Cat
from cats.tests.factories import CatFactory
from cats.tests.test_browser import (  # noqa: F401 - fixtures
    CHROMIUM,
    _log_in,
    desktop_page,
    server,
    server_url,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


async def test_regenerate_then_flip_back_to_the_first_reply_and_it_stays_after_a_reload(
    server_url: str,  # noqa: F811
    desktop_page: Page,  # noqa: F811
    whiskers: Cat,
) -> None:
    # No ORM in here (see test_browser.py): the page shows what was saved.
    page = desktop_page
    await _log_in(page, server_url, "alice", f"/cats/{whiskers.pk}/")
    await expect(page.locator("#connection-status")).to_be_hidden()

    await page.fill("#composer-input", "Tell me about your day")
    await page.press("#composer-input", "Enter")
    reply = page.locator('#message-log .message[data-role="cat"]')
    await expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    first_id = await reply.get_attribute("data-message-id")
    first_text = await reply.locator(".message__text").text_content()
    assert first_id and first_text
    await expect(reply.locator(".message__switcher")).to_have_count(0)  # one reply: no switcher

    await reply.get_by_role("button", name="Regenerate").click()
    # The new reply streams in place of the old one: one reply shown, a new id.
    await expect(reply).not_to_have_attribute("data-message-id", first_id)
    await expect(reply).to_have_count(1)
    await expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    second_id = await reply.get_attribute("data-message-id")
    second_text = await reply.locator(".message__text").text_content()
    switcher = reply.locator(".message__switcher")
    await expect(switcher.locator(".message__switcher-count")).to_have_text("2 / 2")
    previous = reply.get_by_role("button", name="Previous reply")
    following = reply.get_by_role("button", name="Next reply")
    await expect(following).to_be_disabled()

    await previous.click()
    await expect(reply).to_have_attribute("data-message-id", first_id)
    await expect(switcher.locator(".message__switcher-count")).to_have_text("1 / 2")
    await expect(reply.locator(".message__text")).to_have_text(first_text)
    await expect(previous).to_be_disabled()
    await expect(following).to_be_enabled()
    await expect(reply).to_have_count(1)

    await page.reload()
    await expect(page.locator("#connection-status")).to_be_hidden()
    await expect(reply).to_have_count(1)
    await expect(reply).to_have_attribute("data-message-id", first_id)
    await expect(reply.locator(".message__text")).to_have_text(first_text)
    await expect(switcher.locator(".message__switcher-count")).to_have_text("1 / 2")

    # After the reload the page knows the other reply too (rendered with it), and flips to it.
    await reply.get_by_role("button", name="Next reply").click()
    await expect(reply).to_have_attribute("data-message-id", str(second_id))
    await expect(reply.locator(".message__text")).to_have_text(str(second_text))
    await expect(switcher.locator(".message__switcher-count")).to_have_text("2 / 2")
