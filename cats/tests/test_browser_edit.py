"""Editing a sent message in real Chromium: the edited text is a new version with a new reply,
the earlier version and the turns after it are kept and come back with the "‹ 1 / 2 ›" version
switcher, in every tab, by mouse or keyboard, at phone and desktop sizes, with 0 axe violations.

Real daphne server, real PostgreSQL, the offline brain (as cats/tests/test_browser.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from playwright.async_api import Locator, Page, expect

from accounts.models import User
from catchat.testing.axe import assert_no_violations
from catchat.testing.live import LiveServer
from cats.models import Cat, Conversation, Message
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.tests.test_browser import (  # noqa: F401 - fixtures
    PHONE,
    XSS,
    _log_in,
    _new_page,
    desktop_page,
    server,
    server_url,
    tab_to,
)
from cats.tests.test_browser import pytestmark as browser_marks

pytestmark = browser_marks

SIZES: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True},
}
REPLY_TIMEOUT = 20_000


@pytest_asyncio.fixture(params=list(SIZES))
async def page(request: pytest.FixtureRequest, server: LiveServer) -> AsyncIterator[Page]:  # noqa: F811
    async for new_page in _new_page(**SIZES[request.param]):
        yield new_page


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


@pytest.fixture
def three_turns(alice: User) -> tuple[Cat, int]:
    """Whiskers and a conversation of three turns (question n, answer n), saved before the
    server starts."""
    cat = CatFactory.create(owner=alice, name="Whiskers")
    conversation = ConversationFactory.create(cat=cat, title="Three turns")
    for n in range(1, 4):
        asked = MessageFactory.create(conversation=conversation, text=f"question {n}")
        MessageFactory.create(
            conversation=conversation, role=Message.Role.CAT, reply_to=asked, text=f"answer {n}"
        )
    return cat, conversation.pk


def _mine(page: Page) -> Locator:
    return page.locator('#message-log .message[data-role="user"]')


def _replies(page: Page) -> Locator:
    return page.locator('#message-log .message[data-role="cat"]')


async def _open(page: Page, base: str, path: str) -> None:
    await _log_in(page, base, "alice", path)
    await expect(page.locator("#connection-status")).to_be_hidden()  # hello arrived


async def _send(page: Page, text: str) -> None:
    await page.fill("#composer-input", text)
    await page.press("#composer-input", "Enter")
    await expect(_mine(page).last.locator(".message__text")).to_have_text(text)
    await expect(_replies(page).last).to_have_attribute(
        "data-status", "complete", timeout=REPLY_TIMEOUT
    )


async def _edit(message: Locator, text: str) -> None:
    """Edit `message` to `text` and wait until the edit is accepted (the edited version left)."""
    edited = await message.get_attribute("data-message-id")
    await message.get_by_role("button", name="Edit message").click()
    box = message.get_by_role("textbox", name="Edit your message")
    await expect(box).to_be_focused()
    await box.fill(text)
    await message.get_by_role("button", name="Save & send").click()
    await expect(message.page.locator(f"#message-{edited}")).to_have_count(0)


async def _new_reply(page: Page, count: int) -> None:
    """Wait for the reply to an edit, the `count`th reply on screen, to finish (the replies
    before it are complete already: waiting for "the last" one to be would not wait)."""
    await expect(_replies(page)).to_have_count(count, timeout=REPLY_TIMEOUT)
    await expect(_replies(page).last).to_have_attribute(
        "data-status", "complete", timeout=REPLY_TIMEOUT
    )


def _count(message: Locator) -> Locator:
    return message.locator(".message__switcher--versions .message__switcher-count")


async def test_edit_a_message_then_flip_between_its_versions(
    server_url: str,  # noqa: F811
    page: Page,
    whiskers: Cat,
) -> None:
    await _open(page, server_url, f"/cats/{whiskers.pk}/")
    await _send(page, "I like tuna")
    mine, reply = _mine(page), _replies(page)
    first_id = await mine.get_attribute("data-message-id")
    old_reply_id = await reply.get_attribute("data-message-id")
    old_reply_text = await reply.locator(".message__text").text_content()
    assert first_id and old_reply_id and old_reply_text
    await expect(mine.locator(".message__switcher")).to_have_count(0)  # one version: none

    # The editor: the current text, nothing to save until it changes.
    await mine.get_by_role("button", name="Edit message").click()
    box = mine.get_by_role("textbox", name="Edit your message")
    await expect(box).to_have_value("I like tuna")
    await expect(box).to_be_focused()
    save = mine.get_by_role("button", name="Save & send")
    await expect(save).to_be_disabled()
    await box.fill("   ")
    await expect(save).to_be_disabled()
    await box.fill("I like salmon")
    await expect(save).to_be_enabled()
    await assert_no_violations(page, "the chat with the editor open")
    await save.click()

    # A new version, answered anew; the old reply is gone from view.
    await expect(mine).to_have_count(1)
    await expect(mine).not_to_have_attribute("data-message-id", first_id)
    await expect(mine.locator(".message__text")).to_have_text("I like salmon")
    await expect(reply).to_have_count(1)
    await expect(reply).not_to_have_attribute("data-message-id", old_reply_id)
    await expect(reply).to_have_attribute("data-status", "complete", timeout=REPLY_TIMEOUT)
    await expect(page.locator(f"#message-{old_reply_id}")).to_have_count(0)
    new_id = await mine.get_attribute("data-message-id")
    new_reply_id = await reply.get_attribute("data-message-id")
    await expect(_count(mine)).to_have_text("2 / 2")
    await expect(mine.get_by_role("button", name="Next version")).to_be_disabled()
    await assert_no_violations(page, "the chat after an edit")

    # Back to the first version: its reply comes back with it.
    await mine.get_by_role("button", name="Previous version").click()
    await expect(mine).to_have_attribute("data-message-id", first_id)
    await expect(mine.locator(".message__text")).to_have_text("I like tuna")
    await expect(_count(mine)).to_have_text("1 / 2")
    await expect(reply).to_have_count(1)
    await expect(reply).to_have_attribute("data-message-id", old_reply_id)
    await expect(reply.locator(".message__text")).to_have_text(old_reply_text)
    await expect(mine.get_by_role("button", name="Previous version")).to_be_disabled()
    # the switcher keeps the keyboard's place: focus moved to the button still usable
    await expect(mine.get_by_role("button", name="Next version")).to_be_focused()

    # And forward again; a reload shows the same.
    await mine.get_by_role("button", name="Next version").click()
    await expect(mine).to_have_attribute("data-message-id", str(new_id))
    await expect(mine.locator(".message__text")).to_have_text("I like salmon")
    await expect(reply).to_have_attribute("data-message-id", str(new_reply_id))
    await expect(_count(mine)).to_have_text("2 / 2")
    await page.reload()
    await expect(page.locator("#connection-status")).to_be_hidden()
    await expect(mine).to_have_attribute("data-message-id", str(new_id))
    await expect(_count(mine)).to_have_text("2 / 2")
    await expect(reply).to_have_attribute("data-message-id", str(new_reply_id))


async def test_a_second_tab_sees_the_edit_and_the_switch(
    server_url: str,  # noqa: F811
    page: Page,
    whiskers: Cat,
) -> None:
    await _open(page, server_url, f"/cats/{whiskers.pk}/")
    await _send(page, "Good morning")
    first_id = await _mine(page).get_attribute("data-message-id")
    old_reply_id = await _replies(page).get_attribute("data-message-id")
    other = await page.context.new_page()  # same user, same session
    await other.goto(page.url)
    await expect(other.locator("#connection-status")).to_be_hidden()
    await expect(_mine(other)).to_have_attribute("data-message-id", str(first_id))

    await _edit(_mine(page), "Good evening")

    await expect(_mine(other)).to_have_count(1)
    await expect(_mine(other).locator(".message__text")).to_have_text("Good evening")
    await expect(other.locator(f"#message-{old_reply_id}")).to_have_count(0)
    await expect(_replies(other)).to_have_attribute(
        "data-status", "complete", timeout=REPLY_TIMEOUT
    )
    await expect(_count(_mine(other))).to_have_text("2 / 2")
    await expect(_replies(page)).to_have_attribute("data-status", "complete", timeout=REPLY_TIMEOUT)

    # Flipped in the second tab: the first shows it too.
    await _mine(other).get_by_role("button", name="Previous version").click()
    for tab in (other, page):
        await expect(_mine(tab)).to_have_attribute("data-message-id", str(first_id))
        await expect(_mine(tab).locator(".message__text")).to_have_text("Good morning")
        await expect(_replies(tab)).to_have_attribute("data-message-id", str(old_reply_id))
        await expect(_count(_mine(tab))).to_have_text("1 / 2")


async def test_edit_by_keyboard_alone(
    server_url: str,  # noqa: F811
    page: Page,
    three_turns: tuple[Cat, int],
) -> None:
    cat, conversation = three_turns
    await _open(page, server_url, f"/cats/{cat.pk}/?conversation={conversation}")
    last = _mine(page).last
    edit = last.get_by_role("button", name="Edit message")
    await expect(edit).to_be_enabled()
    await page.locator("body").focus()

    # Escape cancels, and focus goes back to Edit.
    await tab_to(page, edit, limit=80)
    await page.keyboard.press("Enter")
    box = last.get_by_role("textbox", name="Edit your message")
    await expect(box).to_be_focused()
    await page.keyboard.type(" and more")
    await page.keyboard.press("Escape")
    await expect(box).to_have_count(0)
    await expect(last.locator(".message__text")).to_have_text("question 3")
    await expect(edit).to_be_focused()

    # Enter opens it, Shift+Enter is a new line, Enter saves.
    await page.keyboard.press("Enter")
    await expect(box).to_be_focused()
    await page.keyboard.type(", edited")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("on two lines")
    edited = await last.get_attribute("data-message-id")
    await page.keyboard.press("Enter")
    await expect(page.locator(f"#message-{edited}")).to_have_count(0)  # accepted
    await expect(_mine(page)).to_have_count(3)
    await expect(last.locator(".message__text")).to_have_text("question 3, edited\non two lines")
    await expect(_count(last)).to_have_text("2 / 2")
    await expect(page.locator("#message-log")).not_to_contain_text("answer 3")
    await _new_reply(page, 3)

    # The switcher by keyboard too.
    previous = last.get_by_role("button", name="Previous version")
    await expect(previous).to_be_enabled()
    await previous.focus()
    await page.keyboard.press("Enter")
    await expect(last.locator(".message__text")).to_have_text("question 3")
    await expect(_replies(page).last.locator(".message__text")).to_have_text("answer 3")


async def test_editing_an_earlier_message_hides_the_later_turns_until_flipped_back(
    server_url: str,  # noqa: F811
    page: Page,
    three_turns: tuple[Cat, int],
) -> None:
    cat, conversation = three_turns
    await _open(page, server_url, f"/cats/{cat.pk}/?conversation={conversation}")
    await expect(_mine(page)).to_have_count(3)

    await _edit(_mine(page).first, "question 1, asked again")

    await expect(_mine(page)).to_have_count(1)
    await expect(_mine(page).locator(".message__text")).to_have_text("question 1, asked again")
    await expect(_replies(page)).to_have_attribute("data-status", "complete", timeout=REPLY_TIMEOUT)
    log = page.locator("#message-log")
    for gone in ("question 2", "question 3", "answer 1", "answer 2", "answer 3"):
        await expect(log).not_to_contain_text(gone)

    await _mine(page).get_by_role("button", name="Previous version").click()
    await expect(_mine(page).locator(".message__text")).to_have_text(
        ["question 1", "question 2", "question 3"]
    )
    await expect(_replies(page).locator(".message__text")).to_have_text(
        ["answer 1", "answer 2", "answer 3"]
    )
    await expect(_count(_mine(page).first)).to_have_text("1 / 2")

    await _mine(page).first.get_by_role("button", name="Next version").click()
    await expect(_mine(page).locator(".message__text")).to_have_text(["question 1, asked again"])
    await expect(_replies(page)).to_have_count(1)


async def test_markup_in_an_edited_message_is_shown_as_text(
    server_url: str,  # noqa: F811
    page: Page,
    three_turns: tuple[Cat, int],
) -> None:
    dialogs: list[str] = []

    async def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", dismiss)
    cat, conversation = three_turns
    await _open(page, server_url, f"/cats/{cat.pk}/?conversation={conversation}")

    await _edit(_mine(page).last, XSS)

    last = _mine(page).last
    await expect(last.locator(".message__text")).to_have_text(XSS)
    await _new_reply(page, 3)
    # Flipped away and back: the log is read again from the server-rendered page.
    await last.get_by_role("button", name="Previous version").click()
    await expect(last.locator(".message__text")).to_have_text("question 3")
    await last.get_by_role("button", name="Next version").click()
    await expect(last.locator(".message__text")).to_have_text(XSS)
    # The editor holds it as text too.
    await last.get_by_role("button", name="Edit message").click()
    await expect(last.get_by_role("textbox", name="Edit your message")).to_have_value(XSS)
    assert await page.locator("#message-log img").count() == 0
    assert dialogs == []


async def test_a_refused_edit_shows_the_message_as_it_was_and_keeps_the_edited_text(
    server_url: str,  # noqa: F811
    page: Page,
    three_turns: tuple[Cat, int],
) -> None:
    cat, conversation = three_turns
    await _open(page, server_url, f"/cats/{cat.pk}/?conversation={conversation}")
    # The conversation goes (another device deleted it): the server refuses the edit.
    await sync_to_async(Conversation.objects.filter(pk=conversation).delete)()
    last = _mine(page).last

    await last.get_by_role("button", name="Edit message").click()
    await last.get_by_role("textbox", name="Edit your message").fill("question 3, too late")
    await last.get_by_role("button", name="Save & send").click()

    await expect(page.locator("#composer-notice")).to_have_text("No such message.")
    await expect(last).to_have_attribute("data-status", "complete")
    await expect(last.locator(".message__text")).to_have_text("question 3")
    await expect(last.locator(".message__text")).to_be_hidden()  # the editor is open again...
    box = last.get_by_role("textbox", name="Edit your message")
    await expect(box).to_have_value("question 3, too late")  # ... with what was typed
    await expect(box).to_be_focused()
    await last.get_by_role("button", name="Cancel").click()
    await expect(last.locator(".message__text")).to_be_visible()
    await expect(last.get_by_role("button", name="Edit message")).to_be_focused()


# --- a resend of a hidden message (from the attack review) ------------------------------------


@pytest.fixture
def edited_turn(alice: Any) -> tuple[Cat, int, str]:
    """Whiskers and a conversation where "one" (its client_id returned) was edited into "uno":
    "one" and its reply are hidden, "uno" and its reply shown. Saved before the server starts."""
    cat = CatFactory.create(owner=alice, name="Whiskers")
    conversation = ConversationFactory.create(cat=cat, title="uno")
    one = MessageFactory.create(
        conversation=conversation, text="one", kept=False, client_id=uuid.uuid4()
    )
    MessageFactory.create(
        conversation=conversation,
        role=Message.Role.CAT,
        reply_to=one,
        text="re one",
        kept=False,
        branch_of=one,
    )
    uno = MessageFactory.create(conversation=conversation, text="uno", edit_of=one)
    MessageFactory.create(
        conversation=conversation, role=Message.Role.CAT, reply_to=uno, text="re uno"
    )
    return cat, conversation.pk, str(one.client_id)


async def test_a_resent_hidden_message_is_not_shown_in_open_tabs(
    edited_turn: tuple[Cat, int, str],
    server: LiveServer,  # noqa: F811
    desktop_page: Page,  # noqa: F811
) -> None:
    """Was a defect (page): A REST client retries a message it had sent ("one", same client_id:
    its first request timed out); meanwhile the human edited "one" into "uno" in a tab. The
    server answers the retry with the saved "one" and pushes `chat.accepted` of it (now hidden,
    `kept: false`) to every tab, and the open tab draws "one" again as if it had
    just been said (above "uno", in id order: "one" / "uno" / "re uno"), though the
    conversation no longer shows it (a reload drops it again).
    Edit and the version switchers are also disabled for 8 s, waiting for a reply that never
    comes. The same happens for an edit resent after another tab flipped back."""
    import httpx

    from accounts.tests.factories import PASSWORD

    cat, conversation, client_id = edited_turn
    page = desktop_page
    await _log_in(page, server.url, "alice", f"/cats/{cat.pk}/?conversation={conversation}")
    await expect(page.locator("#connection-status")).to_be_hidden()
    texts = page.locator('#message-log .message[data-role="user"] .message__text')
    await expect(texts).to_have_text(["uno"])

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        token = await client.post(
            "/api/v1/auth/token/", json={"username": "alice", "password": PASSWORD}
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access']}"}
        retried = await client.post(
            "/api/v1/chat/",
            json={
                "cat": cat.pk,
                "conversation": conversation,
                "message": "one",
                "client_id": client_id,
            },
            headers=headers,
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["message"]["kept"] is False

    await page.wait_for_timeout(1000)
    await expect(texts).to_have_text(["uno"])
