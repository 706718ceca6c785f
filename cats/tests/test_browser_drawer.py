"""The phone's conversation drawer in real Chromium is modal: while it is open, Tab and Shift+Tab
wrap round inside it, the page around it is inert, and closing it gives everything back.

Real daphne server and PostgreSQL (the fixtures of cats/tests/test_browser.py), the offline brain.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from accounts.models import User
from catchat.testing.axe import assert_no_violations
from cats.models import Cat, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.tests.test_browser import _log_in, phone_page, server, server_url  # noqa: F401 (fixtures)
from cats.tests.test_browser import pytestmark as browser_marks

pytestmark = browser_marks

# Where focus is, as something to compare and to read in a failure.
FOCUSED = """() => {
  const node = document.activeElement;
  return {
    inDrawer: Boolean(node && node.closest("#conversation-panel")),
    what: node ? node.outerHTML.slice(0, 120) : null,
  };
}"""
# The last element of the drawer a Tab can reach, as the browser shows it now.
MARK_LAST = """() => {
  const all = Array.from(document.querySelectorAll(
    "#conversation-panel :is(a[href], button, input, textarea, summary, [tabindex])"
  )).filter((n) => n.tabIndex >= 0 && !n.disabled && n.checkVisibility());
  all[all.length - 1].dataset.testLast = "1";
}"""


@pytest.fixture
def whiskers(alice: User) -> Cat:
    cat = CatFactory.create(owner=alice, name="Whiskers")
    for title in ("Naps", "Birds", "Boxes"):
        conversation = ConversationFactory.create(cat=cat, title=title)
        MessageFactory.create(conversation=conversation, text=f"Tell me about {title.lower()}")
        MessageFactory.create(conversation=conversation, role=Message.Role.CAT, text="Mrrp.")
    return cat


async def _open(page: Page) -> None:
    await page.locator("#sidebar-toggle").click()
    await expect(page.locator("#conversation-panel")).to_be_visible()
    await expect(page.locator("#sidebar-toggle")).to_have_attribute("aria-expanded", "true")


async def _assert_focus_in_drawer(page: Page, after: str) -> None:
    focused = await page.evaluate(FOCUSED)
    assert focused["inDrawer"], f"focus left the drawer after {after}: {focused['what']}"


async def test_tab_and_shift_tab_wrap_round_inside_the_open_drawer_on_a_phone(
    server_url: str,  # noqa: F811
    phone_page: Page,  # noqa: F811
    whiskers: Cat,
) -> None:
    page = phone_page
    await _log_in(page, server_url, "alice", f"/cats/{whiskers.pk}/?new=1")
    await expect(page.locator("#connection-status")).to_be_empty()
    await _open(page)
    close = page.locator("#sidebar-close")
    await page.evaluate(MARK_LAST)
    last = page.locator("[data-test-last]")

    # Far more presses than the drawer has stops (close, new, search ×2, 3 × (link, ⋯)): it
    # goes round several times, and the wrap is from its last stop straight to its first.
    await close.focus()
    wrapped = 0
    for n in range(40):
        at_last = await last.evaluate("(node) => node === document.activeElement")
        await page.keyboard.press("Tab")
        await _assert_focus_in_drawer(page, f"Tab #{n + 1}")
        if at_last:
            await expect(close).to_be_focused()
            wrapped += 1
    assert wrapped >= 3, f"went round {wrapped} times in 40 presses"

    await page.keyboard.press("Shift+Tab")
    await expect(last).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(close).to_be_focused()
    for n in range(40):
        await page.keyboard.press("Shift+Tab")
        await _assert_focus_in_drawer(page, f"Shift+Tab #{n + 1}")

    # A conversation's ⋯ menu opened in the drawer: its fields join the round, the last one
    # ("Delete…") now wraps to the close button.
    menu = page.locator(".conversation-menu__toggle").last
    await menu.focus()
    await page.keyboard.press("Enter")
    delete = page.locator(".conversation-menu__delete").last
    await expect(delete).to_be_visible()
    await delete.focus()
    await page.keyboard.press("Tab")
    await expect(close).to_be_focused()
    await page.keyboard.press("Shift+Tab")
    await expect(delete).to_be_focused()
    await page.keyboard.press("Escape")  # closes the menu, not the drawer
    await expect(menu).to_be_focused()
    await expect(page.locator("#conversation-panel")).to_be_visible()

    # What is behind the drawer is out of reach: not focusable, not clickable.
    for behind in (".chat__main", ".topbar", ".skip-link"):
        assert await page.locator(behind).evaluate("(node) => node.inert"), behind
    await page.locator("#composer-input").focus()
    await _assert_focus_in_drawer(page, "focusing the composer behind it")

    await assert_no_violations(page, "the page with the drawer open")

    # Escape closes it, focus goes back to ☰ and the page is whole again.
    await page.keyboard.press("Escape")
    await expect(page.locator("#conversation-panel")).to_be_hidden()
    await expect(page.locator("#sidebar-toggle")).to_be_focused()
    await expect(page.locator("#sidebar-toggle")).to_have_attribute("aria-expanded", "false")
    for behind in (".chat__main", ".topbar", ".skip-link"):
        assert not await page.locator(behind).evaluate("(node) => node.inert"), behind
    await page.keyboard.press("Tab")
    assert not (await page.evaluate(FOCUSED))["inDrawer"]
    await page.locator("#composer-input").focus()
    await expect(page.locator("#composer-input")).to_be_focused()


async def test_the_dimmed_top_bar_closes_the_drawer_and_a_wider_screen_ends_it(
    server_url: str,  # noqa: F811
    phone_page: Page,  # noqa: F811
    whiskers: Cat,
) -> None:
    page = phone_page
    await _log_in(page, server_url, "alice", f"/cats/{whiskers.pk}/")
    await _open(page)
    # A tap on "My cats" in the dimmed top bar lands on the backdrop: it closes the drawer.
    await page.locator(".topbar").get_by_role("link", name="My cats").click(force=True)
    await expect(page.locator("#conversation-panel")).to_be_hidden()
    assert page.url.endswith(f"/cats/{whiskers.pk}/"), page.url

    # Turned to landscape on a tablet while open: the sidebar is a column of the page again
    # and nothing stays inert.
    await _open(page)
    await page.set_viewport_size({"width": 1024, "height": 768})
    await expect(page.locator("#sidebar-toggle")).to_have_attribute("aria-expanded", "false")
    assert not await page.locator(".chat__main").evaluate("(node) => node.inert")
    await page.locator("#composer-input").focus()
    await expect(page.locator("#composer-input")).to_be_focused()
