"""Rich replies in real Chromium: the cat's replies render a safe Markdown subset
(static/js/markdown.js), live while they stream and in the history the server renders as plain
text; nothing the model writes runs as HTML; each finished reply has a Copy button.

Real daphne server and PostgreSQL; the real mistralai SDK talks to the fake Mistral server
(catchat/testing/fake_mistral.py), which plays the scripted replies.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Page, ViewportSize, expect

from accounts.models import User
from catchat.testing.axe import assert_no_violations
from catchat.testing.fake_mistral import FakeMistral, Reply
from catchat.testing.live import LiveServer
from cats.models import Cat, Conversation, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.tests.test_browser import CHROMIUM, PHONE, _log_in, _new_page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]

SIZES: dict[str, ViewportSize] = {"desktop": {"width": 1280, "height": 800}, "phone": PHONE}
REL = "noopener noreferrer nofollow"
LONG_LINE = "print('" + "purr " * 40 + "')"
MARKDOWN = (
    "*stretches* Here is **the plan** for `sun_box`:\n"
    "\n"
    "- nap by the window\n"
    "- knock a _glass_ off the table\n"
    "\n"
    "1. eat\n"
    "2. sleep\n"
    "\n"
    "```python\n"
    f"{LONG_LINE}\n"
    "```\n"
    "\n"
    "See [the cat site](https://example.com/cats) or write to [me](mailto:cat@example.com)."
)
EVIL = (
    "Look: <script>window.__pwned = 1</script>\n"
    "\n"
    '<img src=x onerror="window.__pwned = 2; alert(2)">\n'
    "\n"
    "[click me](javascript:alert(1)) and [data](data:text/html,<script>alert(3)</script>)\n"
    "\n"
    '<a href="javascript:window.__pwned = 3">a link</a> <!-- a comment --> **still bold**'
)

# Records, on every change to the log, what the newest cat reply shows: evidence of how it was
# rendered while it streamed (elements already, hidden from screen readers, no Copy button yet).
RECORD_REPLY = """() => {
  window.__seen = [];
  const log = document.getElementById("message-log");
  new MutationObserver(() => {
    const replies = log.querySelectorAll('.message[data-role="cat"]');
    const last = replies[replies.length - 1];
    if (!last) return;
    const box = last.querySelector(".message__text");
    window.__seen.push({
      status: last.dataset.status,
      length: box.textContent.length,
      items: box.querySelectorAll("li").length,
      hidden: box.getAttribute("aria-hidden"),
      copy: Boolean(last.querySelector(".message__copy")),
    });
  }).observe(log, {childList: true, subtree: true, characterData: true, attributes: true});
}"""


@pytest.fixture
def mistral_server(
    transactional_db: None, mistral: FakeMistral, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    # The fake Mistral server runs in this process; the forked server inherits the settings
    # that point to it. The sync fixtures of an async test touch the ORM while the loop runs.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    live = LiveServer()
    try:
        yield live
    finally:
        live.stop()


@pytest_asyncio.fixture
async def page(request: pytest.FixtureRequest, mistral_server: LiveServer) -> AsyncIterator[Page]:
    """A page at the size named by the test's parameter, allowed to use the clipboard."""
    size = SIZES[request.param]
    phone = request.param == "phone"
    async for page in _new_page(
        viewport=size,
        is_mobile=phone,
        has_touch=phone,
        permissions=["clipboard-read", "clipboard-write"],
    ):
        yield page


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


async def _say(page: Page, text: str) -> None:
    await expect(page.locator("#connection-status")).to_be_hidden()
    await page.fill("#composer-input", text)
    await page.press("#composer-input", "Enter")


async def _assert_rendered(page: Page, reply: Any) -> None:
    box = reply.locator(".message__text")
    await expect(box.locator("em").first).to_have_text("stretches")
    await expect(box.locator("strong")).to_have_text("the plan")
    await expect(box.locator("p > code")).to_have_text("sun_box")
    await expect(box.locator("ul > li")).to_have_text(
        ["nap by the window", "knock a glass off the table"]
    )
    await expect(box.locator("ul > li em")).to_have_text("glass")
    await expect(box.locator("ol > li")).to_have_text(["eat", "sleep"])
    await expect(box.locator("pre > code")).to_have_text(LONG_LINE)
    links = box.locator("a")
    await expect(links).to_have_count(2)
    await expect(links.nth(0)).to_have_attribute("href", "https://example.com/cats")
    await expect(links.nth(1)).to_have_attribute("href", "mailto:cat@example.com")
    for index in range(2):
        await expect(links.nth(index)).to_have_attribute("rel", REL)
        await expect(links.nth(index)).to_have_attribute("target", "_blank")
    await expect(reply.get_by_role("link", name="the cat site")).to_have_count(1)
    shown = await box.text_content()
    assert shown is not None
    assert "**" not in shown and "```" not in shown and "](" not in shown, shown
    # The code block scrolls sideways inside the reply; the page itself does not.
    scrolls = await box.locator("pre").evaluate("pre => pre.scrollWidth > pre.clientWidth")
    assert scrolls, "a long line of code scrolls inside its block"
    page_width = await page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert page_width[0] <= page_width[1], f"the page scrolls sideways: {page_width}"
    bubble = await box.bounding_box()
    log = await page.locator("#message-log").bounding_box()
    assert bubble and log and bubble["x"] + bubble["width"] <= log["x"] + log["width"] + 1


async def _assert_accessible(page: Page) -> None:
    # The log with the rendered replies (the rest of the page is checked by test_browser_a11y).
    await assert_no_violations(page, "the replies", include="#message-log")


async def _copy_with_the_keyboard(page: Page, reply: Any, expected: str) -> None:
    await page.evaluate("() => navigator.clipboard.writeText('something else')")
    copy = reply.get_by_role("button", name="Copy reply")
    await expect(copy).to_be_visible()
    await copy.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#copy-status")).to_have_text("Copied")
    await expect(page.locator("#copy-status")).to_have_attribute("role", "status")
    shown = reply.locator(".message__copy")
    await expect(shown).to_have_accessible_name("Copied")
    assert await page.evaluate("() => navigator.clipboard.readText()") == expected
    await expect(shown).to_have_accessible_name("Copy reply")  # ready to copy again
    await expect(page.locator("#copy-status")).to_have_text("")


@pytest.mark.parametrize("page", ["desktop", "phone"], indirect=True)
async def test_a_markdown_reply_streams_in_as_elements_with_safe_links_and_copies_its_source(
    page: Page, mistral_server: LiveServer, mistral: FakeMistral, whiskers: Cat
) -> None:
    mistral.script(Reply(MARKDOWN, delay=0.03))
    await _log_in(page, mistral_server.url, "alice", f"/cats/{whiskers.pk}/")
    await page.evaluate(RECORD_REPLY)
    await _say(page, "What is the plan today?")

    mine = page.locator('#message-log .message[data-role="user"]')
    await expect(mine.locator(".message__text")).to_have_text("What is the plan today?")
    reply = page.locator('#message-log .message[data-role="cat"]')
    await expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    await _assert_rendered(page, reply)
    # Final text: visible to screen readers, in the log, announced once.
    await expect(reply.locator(".message__text")).not_to_have_attribute("aria-hidden", "true")

    seen: list[dict[str, Any]] = await page.evaluate("window.__seen")
    streaming = [s for s in seen if s["status"] == "streaming" and s["length"] > 0]
    assert len({s["length"] for s in streaming}) >= 2, f"rendered in steps: {streaming}"
    assert any(s["items"] for s in streaming), "the list showed as a list while streaming"
    assert all(s["hidden"] == "true" for s in streaming), "the partial reply is not re-read"
    assert not any(s["copy"] for s in streaming), "Copy comes once the reply is complete"

    await _assert_accessible(page)
    await _copy_with_the_keyboard(page, reply, MARKDOWN)


@pytest.mark.parametrize("page", ["desktop"], indirect=True)
async def test_html_and_script_in_a_reply_never_run_and_show_as_text(
    page: Page, mistral_server: LiveServer, mistral: FakeMistral, whiskers: Cat
) -> None:
    dialogs: list[str] = []

    async def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    mistral.script(Reply(EVIL, delay=0.02))
    await _log_in(page, mistral_server.url, "alice", f"/cats/{whiskers.pk}/")
    await _say(page, "Show me some HTML")
    reply = page.locator('#message-log .message[data-role="cat"]')
    await expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)

    for when in ("live", "from the server"):
        box = reply.locator(".message__text")
        await expect(box).to_contain_text("still bold")
        for text in (
            "<script>window.__pwned = 1</script>",
            '<img src=x onerror="window.__pwned = 2; alert(2)">',
            "[click me](javascript:alert(1))",
            "[data](data:text/html,<script>alert(3)</script>)",
            '<a href="javascript:window.__pwned = 3">a link</a>',
            "<!-- a comment -->",
        ):
            await expect(box).to_contain_text(text)
        assert await box.locator("script, img, a, iframe").count() == 0, when
        assert await page.locator("#message-log img, #message-log script").count() == 0, when
        await page.wait_for_timeout(300)  # an onerror would have fired by now
        assert await page.evaluate("() => window.__pwned") is None, when
        assert dialogs == [], when
        await expect(box.locator("strong")).to_have_text("still bold")  # and Markdown is on
        await page.reload()
        await expect(page.locator("#connection-status")).to_be_hidden()


@pytest.fixture
def history(whiskers: Cat) -> Conversation:
    conversation = ConversationFactory.create(cat=whiskers, title="Plans")
    said = MessageFactory.create(conversation=conversation, text="Use **stars** and `ticks`?")
    MessageFactory.create(
        conversation=conversation, role=Message.Role.CAT, text=MARKDOWN, reply_to=said
    )
    return conversation


@pytest.mark.parametrize("page", ["phone"], indirect=True)
async def test_history_from_the_server_renders_as_markdown_and_the_human_s_words_stay_plain(
    page: Page, mistral_server: LiveServer, whiskers: Cat, history: Conversation
) -> None:
    path = f"/cats/{whiskers.pk}/?conversation={history.pk}"
    await _log_in(page, mistral_server.url, "alice", path)

    # Without JavaScript the page shows the reply's plain text (escaped by Django).
    html = await (await page.request.get(mistral_server.url + path)).text()
    assert "*stretches* Here is **the plan**" in html and "<em>" not in html

    reply = page.locator('#message-log .message[data-role="cat"]')
    await _assert_rendered(page, reply)
    mine = page.locator('#message-log .message[data-role="user"] .message__text')
    await expect(mine).to_have_text("Use **stars** and `ticks`?")
    assert await mine.locator("strong, code").count() == 0

    await _assert_accessible(page)
    await _copy_with_the_keyboard(page, reply, MARKDOWN)
    if os.environ.get("SCREENSHOT_DIR"):
        await page.screenshot(path=f"{os.environ['SCREENSHOT_DIR']}/markdown-phone.png")


NESTED = (
    "Today:\n"
    "\n"
    "- morning\n"
    "  - nap\n"
    "    - in the sun\n"
    "    - on the <b>keyboard</b>\n"
    "  - breakfast\n"
    "- evening\n"
    "\n"
    "1. hunt\n"
    "   - the red dot\n"
    "   - a <script>window.__pwned = 1</script> moth\n"
    "     1. stalk\n"
    "     2. pounce **hard**\n"
    "2. sleep"
)
# The lists of a reply as an outline: each item's own text (without its nested lists), indented
# by how deep it is and named by the kind of list it is in.
OUTLINE = """(box) => {
  const isList = (node) => node.nodeName === "UL" || node.nodeName === "OL";
  const walk = (list, depth) => Array.from(list.children).flatMap((li) => {
    const own = Array.from(li.childNodes).filter((n) => !isList(n)).map((n) => n.textContent);
    return [
      `${"  ".repeat(depth)}${list.nodeName}: ${own.join("").trim()}`,
      ...Array.from(li.children).filter(isList).flatMap((inner) => walk(inner, depth + 1)),
    ];
  });
  return Array.from(box.children).filter(isList).flatMap((list) => walk(list, 0));
}"""


@pytest.mark.parametrize("page", ["phone"], indirect=True)
async def test_nested_lists_nest_three_levels_deep_of_either_kind_and_html_in_them_stays_text(
    page: Page, mistral_server: LiveServer, mistral: FakeMistral, whiskers: Cat
) -> None:
    mistral.script(Reply(NESTED, delay=0.02))
    await _log_in(page, mistral_server.url, "alice", f"/cats/{whiskers.pk}/")
    await _say(page, "What is the plan today?")
    reply = page.locator('#message-log .message[data-role="cat"]')
    await expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)

    for when in ("live", "from the server"):
        box = reply.locator(".message__text")
        assert await box.evaluate(OUTLINE) == [
            "UL: morning",
            "  UL: nap",
            "    UL: in the sun",
            "    UL: on the <b>keyboard</b>",
            "  UL: breakfast",
            "UL: evening",
            "OL: hunt",
            "  UL: the red dot",
            "  UL: a <script>window.__pwned = 1</script> moth",
            "    OL: stalk",
            "    OL: pounce hard",
            "OL: sleep",
        ], when
        # Each nested list is inside its item, not beside it; Markdown still works in there.
        await expect(box.locator(":scope > ul > li > ul > li > ul > li")).to_have_count(2)
        await expect(box.locator(":scope > ol > li > ul > li > ol > li strong")).to_have_text(
            "hard"
        )
        assert await box.locator("b, script, img").count() == 0, when
        assert await page.evaluate("() => window.__pwned") is None, when
        shown = await box.text_content()
        assert shown is not None and "**" not in shown and "- " not in shown, shown
        await _assert_accessible(page)
        await page.reload()
        await expect(page.locator("#connection-status")).to_be_hidden()
