"""The pages under their Content Security Policy in real Chromium (catchat/settings.py): the chat
page and Swagger UI load and work with no violation reported. Skipped where Chromium is not
installed; the server is the real daphne (HTTP + WebSocket), as in test_browser.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import ConsoleMessage, Page, async_playwright, expect

from accounts.models import User
from accounts.tests.factories import PASSWORD
from catchat.testing.live import LiveServer
from cats.models import Cat
from cats.tests.factories import CatFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]

# Runs before the page's own scripts (injected by the browser, outside the page's policy).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


class Violations:
    """CSP violations a page reported, in its console and as events."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", self._on_console)

    def _on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    async def events(self) -> list[str]:
        found: list[str] = await self.page.evaluate("window.__violations")
        return found


@pytest.fixture
def server(transactional_db: None, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.MISTRAL_API_KEY = ""  # the offline brain
    live = LiveServer()
    try:
        yield live.url
    finally:
        live.stop()


@pytest_asyncio.fixture
async def page(server: str) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            await context.add_init_script(RECORD_VIOLATIONS)
            yield await context.new_page()
        finally:
            await browser.close()


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


async def test_the_chat_works_under_the_policy_with_no_violation(
    server: str, page: Page, whiskers: Cat
) -> None:
    violations = Violations(page)
    chat_path = f"/cats/{whiskers.pk}/"
    await page.goto(f"{server}/accounts/login/?next={chat_path}")
    await page.fill("#id_username", "alice")
    await page.fill("#id_password", PASSWORD)
    await page.click("main form button[type=submit]")  # form-action 'self'
    await page.wait_for_url(f"{server}{chat_path}")

    response = await page.reload()
    assert response is not None
    assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]
    await expect(page.locator("#connection-status")).to_be_hidden()  # the WebSocket is up
    await page.fill("#composer-input", "Hello Whiskers!")
    await page.press("#composer-input", "Enter")
    await expect(page.locator('#message-log .message[data-role="user"]')).to_have_attribute(
        "data-status", "complete"
    )
    reply = page.locator('#message-log .message[data-role="cat"]')
    await expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    assert (await reply.locator(".message__text").text_content() or "").strip()
    # The composer grows with its text (CSSOM from chat.js, which style-src does not block).
    await page.fill("#composer-input", "one\ntwo\nthree\nfour")
    assert await page.eval_on_selector("#composer-input", "el => el.style.height") != ""

    assert violations.console == []
    assert await violations.events() == []

    # And the listeners do see a violation: an inline script is refused and reported.
    await page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__ran = true";
          document.body.append(script);
        }"""
    )
    await page.wait_for_function("window.__violations.length === 1")
    assert await page.evaluate("window.__ran") is None
    assert any("script-src" in text for text in violations.console)


async def test_swagger_ui_renders_under_the_policy_with_no_violation(
    server: str, page: Page
) -> None:
    violations = Violations(page)

    response = await page.goto(f"{server}/api/v1/docs/")

    assert response is not None and response.status == 200
    assert "'nonce-" in (await response.all_headers())["content-security-policy"]
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("CatChat API")
    # The schema was fetched (connect-src) and drawn: operations are listed.
    await expect(page.locator(".opblock").first).to_be_visible()
    await page.locator(".opblock-summary").first.click()
    await expect(page.locator(".opblock-body").first).to_be_visible()
    assert violations.console == []
    assert await violations.events() == []
