"""The chat page in real Chromium against a real daphne server (HTTP + WebSocket), real
PostgreSQL and the offline brain. Skipped, with the reason, where Chromium is not installed.

The server is `daphne.testing.DaphneProcess` (pytest-django's live_server is WSGI, without
WebSockets). It is forked while the test database is set up, so it inherits the test database's
settings; the test's connections are closed first so the child never shares their sockets.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from django.utils import timezone
from playwright.async_api import Locator, Page, ViewportSize, async_playwright, expect

from accounts.models import User
from accounts.tests.factories import PASSWORD
from catchat.testing.live import LiveServer
from cats.models import Cat, Message
from cats.services.cats import memory_profile
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from memories.episodes import Context, episode
from memories.models import Memory
from memories.services import memory_create

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
XSS = "<img src=x onerror=alert(1)>"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
    ),
]


class FlakyNetwork:
    """A TCP relay between the browser and the server that can cut the line and restore it.

    Only the network is faked: the page, its WebSocket and the server are the real ones.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.down = False
        self.writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    def cut(self) -> None:
        self.down = True
        for writer in list(self.writers):
            writer.close()
        self.writers.clear()

    def restore(self) -> None:
        self.down = False

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.down:
            client_w.close()
            return
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers.update((client_w, server_w))
        await asyncio.gather(
            self._pipe(client_r, server_w), self._pipe(server_r, client_w), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            self.writers.discard(writer)
            writer.close()


@pytest.fixture
def server(
    transactional_db: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    # The sync fixtures of an async test touch the ORM while pytest-asyncio's loop exists.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.MISTRAL_API_KEY = ""  # the offline brain
    # Slow enough that a reply arrives in several deltas (the root conftest sets 0 for speed).
    settings.OFFLINE_WORD_DELAY_MS = 60
    live = LiveServer()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def server_url(server: LiveServer) -> str:
    return server.url


async def _new_page(**context_options: Any) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(**context_options)
            yield await context.new_page()
        finally:
            await browser.close()


@pytest_asyncio.fixture
async def phone_page(server: LiveServer) -> AsyncIterator[Page]:
    async for page in _new_page(viewport=PHONE, is_mobile=True, has_touch=True):
        yield page


@pytest_asyncio.fixture
async def desktop_page(server: LiveServer) -> AsyncIterator[Page]:
    async for page in _new_page(viewport={"width": 1280, "height": 800}):
        yield page


# Records, on every change to the log, the length and status of the newest cat reply and whether
# the Stop button shows: evidence that the reply grew in steps, not in one piece.
RECORD_REPLY = """() => {
  window.__reply = [];
  const log = document.getElementById("message-log");
  const stop = document.getElementById("stop-button");
  new MutationObserver(() => {
    const replies = log.querySelectorAll('.message[data-role="cat"]');
    const last = replies[replies.length - 1];
    if (!last) return;
    window.__reply.push({
      length: last.querySelector(".message__text").textContent.length,
      status: last.dataset.status,
      stop: !stop.hidden,
    });
  }).observe(log, {childList: true, subtree: true, characterData: true, attributes: true});
}"""


async def _log_in(page: Page, base: str, username: str, next_path: str) -> None:
    await page.goto(f"{base}/accounts/login/?next={next_path}")
    await page.fill("#id_username", username)
    await page.fill("#id_password", PASSWORD)
    await page.click("main form button[type=submit]")
    await page.wait_for_url(f"{base}{next_path}")


async def tab_to(page: Page, target: str | Locator, limit: int = 60) -> None:
    """Press Tab until `target` (a selector or a locator) has the focus, at most `limit` times."""
    if isinstance(target, str):
        target = page.locator(target)
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await target.evaluate("(node) => node === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {target}")


async def test_sign_up_adopt_a_cat_and_watch_its_reply_stream_in(
    server_url: str, phone_page: Page
) -> None:
    page = phone_page
    await page.goto(f"{server_url}/accounts/signup/")
    await page.fill("#id_username", "dana")
    await page.fill("#id_password1", PASSWORD)
    await page.fill("#id_password2", PASSWORD)
    await page.click("main form button[type=submit]")
    await page.wait_for_url(f"{server_url}/cats/")

    await page.fill("#id_name", "Whiskers")
    await page.fill("#id_coat", "ginger")
    await page.click("#adopt-form button[type=submit]")
    await page.wait_for_url(re.compile(r"/cats/\d+/$"))
    await expect(page.locator("#offline-banner")).to_be_visible()
    await expect(page.locator("#offline-banner")).to_contain_text(
        "Whiskers is running on its offline brain"
    )
    await expect(page.locator("#connection-status")).to_be_hidden()  # hello arrived

    await page.evaluate(RECORD_REPLY)
    said = "Hello Whiskers! My sister is called Mia.\nShe loves cats too."
    await page.fill("#composer-input", said)
    await page.press("#composer-input", "Enter")

    mine = page.locator('#message-log .message[data-role="user"]')
    await expect(mine).to_have_count(1)
    await expect(mine).to_have_attribute("data-status", "complete")  # chat.accepted
    await expect(mine.locator(".message__text")).to_have_text(said)
    reply = page.locator('#message-log .message[data-role="cat"]')
    await expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    reply_text = await reply.locator(".message__text").text_content()
    assert reply_text and reply_text.strip()
    await expect(page.locator("#stop-button")).to_be_hidden()
    await expect(page.locator("#composer-input")).to_have_value("")

    seen: list[dict[str, Any]] = await page.evaluate("window.__reply")
    streaming = [s["length"] for s in seen if s["status"] == "streaming"]
    assert streaming == sorted(streaming), "the reply's text only grows while streaming"
    steps = sorted({length for length in streaming if 0 < length < len(reply_text)})
    assert len(steps) >= 2, f"expected the reply to arrive in steps, saw lengths {streaming}"
    assert any(s["stop"] for s in seen if s["status"] == "streaming"), "Stop shows while replying"

    # The new conversation got an address and a place in the sidebar.
    assert re.search(r"\?conversation=\d+$", page.url)
    conversation_id = page.url.rsplit("=", 1)[1]
    await expect(page.locator(f'[data-conversation-id="{conversation_id}"]')).to_have_count(1)

    await page.reload()
    await expect(
        page.locator('#message-log .message[data-role="user"] .message__text')
    ).to_have_text(said)
    restored = page.locator('#message-log .message[data-role="cat"]')
    await expect(restored).to_have_attribute("data-status", "complete")
    await expect(restored.locator(".message__text")).to_have_text(reply_text)
    await expect(page.locator(f'[data-conversation-id="{conversation_id}"] > a')).to_have_attribute(
        "aria-current", "page"
    )


@pytest.fixture
def alice_with_history(alice: User) -> Cat:
    cat = CatFactory.create(owner=alice, name="Whiskers")
    conversation = ConversationFactory.create(cat=cat, title="Old chat")
    MessageFactory.create(conversation=conversation, text=XSS)
    MessageFactory.create(conversation=conversation, role=Message.Role.CAT, text=f"You said {XSS}?")
    return cat


async def test_markup_in_messages_is_shown_as_text_never_run(
    server_url: str, desktop_page: Page, alice_with_history: Cat
) -> None:
    page = desktop_page
    dialogs: list[str] = []

    async def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    chat_path = f"/cats/{alice_with_history.pk}/"
    await _log_in(page, server_url, "alice", chat_path)

    # Server-rendered history (Django escaping).
    history = page.locator("#message-log .message .message__text")
    await expect(history.nth(0)).to_have_text(XSS)
    await expect(history.nth(1)).to_have_text(f"You said {XSS}?")

    # Live messages (textContent), in a new conversation titled by that text in the sidebar.
    await page.goto(f"{server_url}{chat_path}?new=1")
    await expect(page.locator("#connection-status")).to_be_hidden()
    await page.fill("#composer-input", XSS)
    await page.press("#composer-input", "Enter")
    mine = page.locator('#message-log .message[data-role="user"]')
    await expect(mine).to_have_attribute("data-status", "complete")
    await expect(mine.locator(".message__text")).to_have_text(XSS)
    await expect(page.locator("#conversation-list .conversation-list__item").first).to_contain_text(
        XSS
    )
    await expect(page.locator('#message-log .message[data-role="cat"]')).to_have_attribute(
        "data-status", "complete", timeout=20_000
    )

    await page.reload()
    await expect(
        page.locator('#message-log .message[data-role="user"] .message__text')
    ).to_have_text(XSS)
    await expect(page.locator("#conversation-list .conversation-list__item").first).to_contain_text(
        XSS
    )
    assert await page.locator("img").count() == 0
    assert dialogs == []


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


async def test_a_message_typed_while_disconnected_is_sent_after_reconnecting(
    server: LiveServer, desktop_page: Page, whiskers: Cat
) -> None:
    # No ORM in here: an async test's queries open connections (one per async context) that
    # the test database's teardown cannot close. The page itself shows what was saved.
    page = desktop_page
    cat = whiskers
    network = FlakyNetwork(server.port)
    await network.start()
    try:
        await _log_in(page, network.url, "alice", f"/cats/{cat.pk}/")
        await expect(page.locator("#connection-status")).to_be_hidden()

        network.cut()
        await expect(page.locator("#connection-status")).to_contain_text("reconnecting")
        await page.fill("#composer-input", "Are you still there?")
        await page.press("#composer-input", "Enter")
        mine = page.locator('#message-log .message[data-role="user"]')
        await expect(mine).to_have_attribute("data-status", "sending")
        await expect(mine.locator(".message__note")).to_have_text("sending…")

        network.restore()  # the page's backoff finds the server again
        await expect(mine).to_have_attribute("data-status", "complete", timeout=20_000)
        await expect(mine.locator(".message__note")).to_have_text("")
        await expect(page.locator('#message-log .message[data-role="cat"]')).to_have_attribute(
            "data-status", "complete", timeout=20_000
        )
        await expect(page.locator("#connection-status")).to_be_hidden()

        # Saved exactly once, and the reply with it.
        await page.reload()
        await expect(mine).to_have_count(1)
        await expect(mine.locator(".message__text")).to_have_text("Are you still there?")
        await expect(page.locator('#message-log .message[data-role="cat"]')).to_have_count(1)
    finally:
        await network.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go, to look at how the page looks: SCREENSHOT_DIR, else a tmp dir."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _screenshot(page: Page, folder: Path, name: str) -> None:
    # Transitions finished, so the picture shows where the page settles.
    await page.screenshot(path=folder / f"{name}.png", animations="disabled")


@pytest.fixture
def hungry_whiskers(alice: User) -> Cat:
    # Set before the server forks (this fixture is asked for before `server`): the page then
    # opens on exactly these vitals.
    return CatFactory.create(
        owner=alice,
        name="Whiskers",
        coat="ginger",
        hunger=85,
        energy=70,
        affection=60,
        fun=60,
        vitals_at=timezone.now(),
        mood="hungry",
    )


async def test_feeding_a_hungry_cat_changes_its_meter_and_its_look_until_it_refuses(
    hungry_whiskers: Cat, server_url: str, desktop_page: Page, shots: Path
) -> None:
    page = desktop_page
    chat_path = f"/cats/{hungry_whiskers.pk}/"
    await _log_in(page, server_url, "alice", chat_path)
    await expect(page.locator("#connection-status")).to_be_hidden()  # hello arrived

    hunger = page.get_by_role("meter", name=re.compile(r"^Hunger \d+ of 100"))
    figure = page.locator("#cat-figure")
    await expect(hunger).to_have_attribute("value", re.compile(r"^8[4-6]$"))
    await expect(hunger).to_have_accessible_name(re.compile(r"^Hunger 8[4-6] of 100, .*starving"))
    await expect(figure).to_have_attribute("data-mood", "hungry")
    await expect(figure).to_have_accessible_name("Whiskers looks hungry")
    await expect(page.locator("#mood-text")).to_have_text("Whiskers is hungry")
    await _screenshot(page, shots, "vitals-desktop-hungry")

    feed = page.get_by_role("button", name="Feed Whiskers")
    status = page.get_by_role("status").and_(page.locator("#care-status"))
    await feed.click()
    # 40 points of food: hunger ~45, and the mood moves on from hungry at once.
    await expect(hunger).to_have_attribute("value", re.compile(r"^4[4-6]$"))
    await expect(hunger).to_have_accessible_name(re.compile(r"^Hunger 4[4-6] of 100"))
    await expect(figure).not_to_have_attribute("data-mood", "hungry")
    await expect(figure).to_have_attribute("data-mood", "content")
    await expect(page.locator("#mood-text")).to_have_text("Whiskers is content")
    await expect(status).to_have_attribute("data-accepted", "true")
    await expect(status).to_contain_text("Whiskers:")

    # Each feed counts for less, and a full cat refuses.
    for _ in range(8):
        await feed.click()  # waits until the last answer has unlocked the buttons
        await expect(feed).to_be_enabled()  # this one's answer arrived
        if await status.get_attribute("data-accepted") == "false":
            break
    await expect(status).to_have_attribute("data-accepted", "false")
    await expect(status).to_contain_text(re.compile(r"not hungry", re.IGNORECASE))
    assert int(await hunger.get_attribute("value") or "-1") < 20
    await _screenshot(page, shots, "vitals-desktop")

    # The same page on a phone: the details start folded (the chat gets the room), the mood
    # and the care buttons stay; unfolded, everything fits on screen above the log.
    await page.set_viewport_size(PHONE)
    await page.reload()
    await expect(page.locator("#connection-status")).to_be_hidden()
    toggle = page.get_by_role("button", name="Whiskers's vitals")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(page.locator("#meter-hunger")).to_be_hidden()
    await feed.click()
    await expect(status).to_have_attribute("data-accepted", "false")
    for button in await page.locator(".care__button").all():
        await expect(button).to_be_in_viewport()
        await expect(button).to_be_enabled()
    folded = await page.locator("#message-log").bounding_box()
    await _screenshot(page, shots, "vitals-phone-folded")

    await toggle.click()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    parts = ("#cat-figure", "#mood-text", "#meter-hunger", "#care-status", "#composer-input")
    for part in parts:
        box = await page.locator(part).bounding_box()
        assert box is not None, part
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], part
        assert box["y"] + box["height"] <= PHONE["height"], part
    log = await page.locator("#message-log").bounding_box()
    assert log is not None and log["height"] >= 250, "the log keeps room to chat"
    assert folded is not None and folded["height"] > log["height"]
    await _screenshot(page, shots, "vitals-phone")


@pytest.fixture
def whiskers_who_knows_sushi(alice: User) -> tuple[Cat, int]:
    cat = CatFactory.create(owner=alice, name="Whiskers")
    memory = memory_create(
        profile=memory_profile(cat), text="Loves sushi", category=Memory.Category.PREFERENCE
    )
    return cat, memory.pk


async def test_a_reply_shows_what_the_cat_remembered_and_forgetting_takes_it_away(
    server_url: str, desktop_page: Page, whiskers_who_knows_sushi: tuple[Cat, int]
) -> None:
    page = desktop_page
    cat, sushi = whiskers_who_knows_sushi
    chat_path = f"/cats/{cat.pk}/"
    await _log_in(page, server_url, "alice", chat_path)
    await expect(page.locator("#connection-status")).to_be_hidden()  # hello arrived

    await page.fill("#composer-input", "What should I cook tonight?")
    await page.press("#composer-input", "Enter")
    replies = page.locator('#message-log .message[data-role="cat"]')
    await expect(replies.nth(0)).to_have_attribute("data-status", "complete", timeout=20_000)
    receipt = replies.nth(0).locator(".memory-receipt")  # drawn from the live frames
    await expect(receipt).to_have_text("Loves sushi")
    await expect(replies.nth(0).locator(".message__memories")).to_contain_text("Remembered")

    # The receipt leads to the memory on "what Whiskers remembers".
    await receipt.click()
    await page.wait_for_url(re.compile(rf"/cats/{cat.pk}/memories/\?status=all#memory-{sushi}$"))
    await expect(page.locator(f"#memory-{sushi}")).to_contain_text("Loves sushi")
    await page.go_back()
    await expect(page.locator("#connection-status")).to_be_hidden()
    await expect(replies.nth(0).locator(".memory-receipt")).to_have_text("Loves sushi")  # rendered

    # Asked to forget it, the cat does, and the receipt leaves the earlier reply at once.
    await page.fill("#composer-input", "Please forget that I love sushi")
    await page.press("#composer-input", "Enter")
    await expect(replies).to_have_count(2)
    await expect(replies.nth(1)).to_have_attribute("data-status", "complete", timeout=20_000)
    await expect(page.locator(".memory-receipt")).to_have_count(0)
    await page.reload()
    await expect(replies).to_have_count(2)
    await expect(page.locator(".memory-receipt")).to_have_count(0)


@pytest.fixture
def whiskers_who_heard_of_the_choir(alice: User) -> tuple[Cat, int, int]:
    """A cat, and an earlier conversation in which alice told it about her choir (an episode)."""
    cat = CatFactory.create(owner=alice, name="Whiskers")
    earlier = ConversationFactory.create(cat=cat, title="Back in May")
    said = MessageFactory.create(conversation=earlier, text=CHOIR)
    Message.objects.filter(pk=said.pk).update(created_at=CHOIR_AT)
    said.refresh_from_db()
    episode(memory_profile(cat), Context(said), None, "").save()
    # ... and enough after it that the page opens scrolled away from it.
    for i in range(30):
        MessageFactory.create(conversation=earlier, text=f"Later chatter {i}")
    return cat, earlier.pk, said.pk


CHOIR = (
    "I joined the <b>harbour</b> choir rehearsal on Tuesday evenings, tenor section, "
    "and I was so nervous"
)
CHOIR_AT = datetime(2023, 5, 8, 12, 0, tzinfo=UTC)


async def test_a_reply_shows_the_earlier_words_it_remembered_linked_to_where_they_were_said(
    server_url: str, whiskers_who_heard_of_the_choir: tuple[Cat, int, int]
) -> None:
    cat, earlier, said = whiskers_who_heard_of_the_choir
    chat_path = f"/cats/{cat.pk}/"
    # A browser far from the server's UTC: the day is still written as the server writes it.
    options = {"viewport": {"width": 1280, "height": 800}, "timezone_id": "Asia/Tokyo"}
    async for page in _new_page(**options):
        await _log_in(page, server_url, "alice", f"{chat_path}?new=1")
        await expect(page.locator("#connection-status")).to_be_hidden()  # hello arrived

        await page.fill("#composer-input", "How did the choir rehearsal go, remember?")
        await page.press("#composer-input", "Enter")
        reply = page.locator('#message-log .message[data-role="cat"]')
        await expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
        receipt = reply.locator(".episode-receipt")  # drawn from the live frames
        quoted = "I joined the <b>harbour</b> choir rehearsal on Tuesday…"  # as text
        await expect(receipt).to_have_text(f"You said on 8 May 2023: “{quoted}”")
        await expect(receipt.locator("time")).to_be_visible()
        await expect(receipt).to_have_attribute("title", CHOIR)
        await expect(reply.locator(".message__memories")).to_contain_text("Remembered")
        link = page.get_by_role("link", name=f"You said on 8 May 2023: “{quoted}”")
        await expect(link).to_have_count(1)
        live = await receipt.evaluate("node => node.outerHTML")

        # A regenerated reply has its own receipts; switching back shows the first one's.
        await reply.get_by_role("button", name="Regenerate").click()
        await expect(reply.locator(".message__switcher-count")).to_have_text(
            "2 / 2", timeout=20_000
        )
        await expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
        await expect(receipt).to_have_count(1)  # the same words, recalled again
        await reply.get_by_role("button", name="Previous reply").click()
        await expect(reply.locator(".message__switcher-count")).to_have_text("1 / 2")
        await expect(receipt).to_have_text(f"You said on 8 May 2023: “{quoted}”")
        assert await receipt.evaluate("node => node.outerHTML") == live

        # Rendered by the server after a reload, it reads the same.
        await page.reload()
        await expect(page.locator("#connection-status")).to_be_hidden()
        assert await receipt.evaluate("node => node.outerHTML") == live

        # It leads to what was said, in its conversation, scrolled into view.
        await receipt.click()
        await page.wait_for_url(
            re.compile(rf"/cats/{cat.pk}/\?conversation={earlier}#message-{said}$")
        )
        target = page.locator(f"#message-{said}")
        await expect(target.locator(".message__text")).to_have_text(CHOIR)
        await expect(target).to_be_in_viewport()
