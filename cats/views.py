"""Server-rendered pages for cats. Thin: parse the request, call a selector or service, render.

The chat itself runs over the WebSocket (`cats.consumers`); these views render the page and the
history it starts from, with a fixed number of queries whatever the history's length.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from itertools import chain
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from catchat.llm import llm_mode
from cats import looks
from cats.forms import AdoptForm, CatEditForm, ConversationRenameForm
from cats.models import Cat, Conversation, Message
from cats.selectors import (
    ConversationHit,
    access_cat,
    cats_for,
    conversations_for,
    conversations_search,
    find_conversation,
    recent_messages,
    reply_alternatives,
)
from cats.services import (
    cat_create,
    cat_delete,
    cat_state,
    cat_update,
    conversation_delete,
    conversation_rename,
)
from cats.services.versions import versions_of
from memories.selectors import episode_snippets, memory_texts

SIDEBAR_CONVERSATIONS = 50
HISTORY_MESSAGES = 200
# An episode's receipt quotes this many characters at most of what the human said, cut at a
# word (static/js/chat.js `snippet` cuts the same way).
SNIPPET_CHARS = 60


class EpisodeReceipt(NamedTuple):
    """One of the human's earlier messages a reply was given, as its receipt shows it."""

    id: int  # the message's
    text: str  # all of it (the receipt's title)
    snippet: str
    said_at: datetime
    conversation: int


def _user(request: HttpRequest) -> User:
    # login_required has run: the user is a real User, not AnonymousUser.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


@login_required
@require_http_methods(["GET", "POST"])
def cat_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = AdoptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        cat = cat_create(owner=user, **form.cleaned_data)
        # A new cat has nothing to show but a conversation to start.
        return redirect("cats:chat", cat_id=cat.pk)
    return render(request, "cats/list.html", {"cats": cats_for(user), "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def cat_edit(request: HttpRequest, cat_id: int) -> HttpResponse:
    cat = access_cat(_user(request), cat_id)
    initial = {"name": cat.name, "personality": cat.personality, "coat": cat.coat}
    form = CatEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        cat = cat_update(cat=cat, **form.cleaned_data)
        messages.success(request, f"Saved: {cat.name}.")
        return redirect("cats:chat", cat_id=cat.pk)
    return render(request, "cats/edit.html", {"cat": cat, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def cat_remove(request: HttpRequest, cat_id: int) -> HttpResponse:
    """GET: what giving the cat up removes, and a form to confirm; POST: remove it."""
    cat = access_cat(_user(request), cat_id)
    if request.method == "POST":
        name = cat.name
        cat_delete(cat=cat)
        messages.success(request, f"{name} has gone to a new home, with everything of it.")
        return redirect("cats:list")
    return render(
        request,
        "cats/delete.html",
        {
            "cat": cat,
            "what": "cat",
            "title": f"Give up {cat.name}?",
            "action": reverse("cats:delete", args=[cat.pk]),
            "back": reverse("cats:chat", args=[cat.pk]),
        },
    )


@login_required
@require_POST
def conversation_rename_page(
    request: HttpRequest, cat_id: int, conversation_id: int
) -> HttpResponse:
    """The no-JavaScript rename (chat.js uses `PATCH /api/v1/conversations/{id}/`)."""
    conversation = _access_conversation(request, cat_id, conversation_id)
    form = ConversationRenameForm(request.POST)
    if form.is_valid():
        conversation_rename(conversation=conversation, title=form.cleaned_data["title"])
        messages.success(request, "Conversation renamed.")
    else:
        messages.error(request, "A title needs 1 to 120 characters.")
    return redirect(_chat_url(cat_id, conversation.pk))


@login_required
@require_http_methods(["GET", "POST"])
def conversation_remove(request: HttpRequest, cat_id: int, conversation_id: int) -> HttpResponse:
    """GET: a confirmation (the no-JavaScript way; chat.js confirms in a dialog and calls
    `DELETE /api/v1/conversations/{id}/`); POST: delete it."""
    conversation = _access_conversation(request, cat_id, conversation_id)
    if request.method == "POST":
        conversation_delete(conversation=conversation)
        messages.success(request, "Conversation deleted.")
        return redirect("cats:chat", cat_id=cat_id)
    return render(
        request,
        "cats/delete.html",
        {
            "cat": conversation.cat,
            "conversation": conversation,
            "what": "conversation",
            "title": f"Delete “{conversation}”?",
            "action": reverse("cats:conversation-delete", args=[cat_id, conversation.pk]),
            "back": _chat_url(cat_id, conversation.pk),
        },
    )


def _access_conversation(request: HttpRequest, cat_id: int, conversation_id: int) -> Conversation:
    cat = access_cat(_user(request), cat_id)
    conversation = find_conversation(cat, conversation_id)
    if conversation is None:
        raise Http404("No such conversation.")
    conversation.cat = cat
    return conversation


def _chat_url(cat_id: int, conversation_id: int) -> str:
    return f"{reverse('cats:chat', args=[cat_id])}?conversation={conversation_id}"


def day_label(when: datetime, now: datetime) -> str:
    """The heading of `when`'s day in a list of conversations, seen at `now` (both aware, in
    the same zone): "Today", "Yesterday", a weekday within the week, then a date (with its year
    when not this one). Same as static/js/chat.js `dayLabel`."""
    days = (now.date() - when.date()).days
    if days <= 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    if days < 7:  # noqa: PLR2004
        return f"{when:%A}"
    if when.year == now.year:
        return f"{when.day} {when:%B}"
    return f"{when.day} {when:%B} {when.year}"


def _by_day(conversations: list[Conversation]) -> list[tuple[Conversation, str]]:
    """Each conversation with the heading of its day when it starts one ("" otherwise)."""
    now = timezone.localtime()
    rows, last = [], None
    for conversation in conversations:
        label = day_label(timezone.localtime(conversation.updated_at), now)
        rows.append((conversation, label if label != last else ""))
        last = label
    return rows


@login_required
@require_GET
def chat_page(request: HttpRequest, cat_id: int) -> HttpResponse:
    user = _user(request)
    cat = access_cat(user, cat_id)
    conversations = list(conversations_for(cat)[:SIDEBAR_CONVERSATIONS])
    q = request.GET.get("q", "").strip()[:200]
    hits: list[ConversationHit] = conversations_search(cat, q=q) if q else []
    conversation = _selected_conversation(request, cat, conversations)
    # Of a regenerated turn, the reply the human kept; the others come with it (one query),
    # for its "‹ 2 / 3 ›" switcher.
    history = (
        recent_messages(conversation, HISTORY_MESSAGES, kept_only=True) if conversation else []
    )
    alternatives = reply_alternatives(conversation, history) if conversation else {}
    # Of an edited message of the human's, every version (one query), for its own switcher.
    versions = versions_of(history)
    # The "remembered" receipts under each reply: the texts of the memories it was given.
    replies = [*history, *chain(*alternatives.values())]
    remembered = memory_texts(cat.pk, (pk for reply in replies for pk in reply.memories_used))
    # ... and the human's earlier messages it was given (episodes), in one more query.
    episodes = {
        pk: EpisodeReceipt(pk, text, _snippet(text), said_at, conversation_id)
        for pk, (text, said_at, conversation_id) in episode_snippets(
            cat.pk, (pk for reply in replies for pk in reply.episodes_used)
        ).items()
    }
    log = [
        (
            message,
            _receipts(message, remembered),
            _episode_receipts(message, episodes),
            _version_switcher(message, versions.get(message.edit_of_id or message.pk, []))
            if message.role == Message.Role.USER
            else _switcher(
                message, alternatives.get(message.reply_to_id or 0, []), remembered, episodes
            ),
        )
        for message in history
    ]
    mode = llm_mode()
    state = cat_state(cat)  # computed from the cat's row: no query
    coat_colour, coat_pattern = looks.coat_look(cat.coat)
    return render(
        request,
        "cats/chat.html",
        {
            "cat": cat,
            "other_cats": list(cats_for(user).exclude(pk=cat.pk).only("pk", "name")),
            "conversations": conversations,
            # the same, each with the heading of its day when it starts one
            "sidebar": _by_day(conversations),
            "q": q,
            "hits": hits,
            "conversation": conversation,
            "history": history,  # not "messages": that name belongs to django.contrib.messages
            # each message with its receipts [(memory id, text)], its episodes' receipts
            # [EpisodeReceipt] and its switcher (or None): between the alternatives of a
            # reply, or between the versions of an edited message of the human's
            "log": log,
            "llm_mode": mode,
            "state": state,
            "meters": looks.meters(state),
            "mood_look": looks.mood_look(state),
            "mood_hint": looks.mood_hint(state),
            "coat_colour": coat_colour,
            "coat_pattern": coat_pattern,
            # Read by static/js/chat.js through json_script (escaped for a <script> block).
            "chat_config": {
                "cat": {"id": cat.pk, "name": cat.name},
                "conversation": conversation.pk if conversation else None,
                "llm": mode,
                "wsPath": f"/ws/cats/{cat.pk}/",
                "memoriesUrl": reverse("memories:page", args=[cat.pk]),
                # conversation management (chat.js "the sidebar"): REST for rename, delete and
                # search; this page's address for the no-JS forms it builds
                "pageUrl": reverse("cats:chat", args=[cat.pk]),
                "conversationsApi": reverse("cats_api:conversation-list", args=[cat.pk]),
                "conversationApi": reverse("cats_api:conversation-detail", args=[0]),
                "maxChars": settings.CHAT_MAX_MESSAGE_CHARS,
                # the log holds at most this many messages (chat.js `dropUnlisted`)
                "historyMessages": HISTORY_MESSAGES,
                "loginUrl": reverse("login"),
                "state": state,
                "moods": looks.MOOD_HINTS,
            },
        },
    )


def _receipts(message: Message, remembered: dict[int, str]) -> list[tuple[int, str]]:
    return [(pk, remembered[pk]) for pk in message.memories_used if pk in remembered]


def _episode_receipts(
    message: Message, episodes: dict[int, EpisodeReceipt]
) -> list[EpisodeReceipt]:
    return [episodes[pk] for pk in message.episodes_used if pk in episodes]


def _snippet(text: str) -> str:
    """`text` on one line, at most `SNIPPET_CHARS` characters: cut at the last word that fits
    (or mid-word, when a first word is very long), ending in "…". Same as chat.js `snippet`."""
    line = " ".join(text.split())
    if len(line) <= SNIPPET_CHARS:
        return line
    cut = line[: SNIPPET_CHARS - 1]
    space = cut.rfind(" ")
    if space >= SNIPPET_CHARS // 2:
        cut = cut[:space]
    return re.sub(r"[\s.,;:!?…-]+$", "", cut) + "…"


def _switcher(
    message: Message,
    alternatives: list[Message],
    remembered: dict[int, str],
    episodes: dict[int, EpisodeReceipt],
) -> dict[str, Any] | None:
    """The "‹ 2 / 3 ›" switcher of a kept reply that has alternatives: where it stands, and
    every alternative as static/js/chat.js shows it (JSON, escaped into an attribute)."""
    ids = [reply.pk for reply in alternatives]
    if len(ids) < 2 or message.pk not in ids:
        return None
    data = [
        {
            "id": reply.pk,
            "conversation": reply.conversation_id,
            "role": reply.role,
            "reply_to": reply.reply_to_id,
            "text": reply.text,
            "status": reply.status,
            "created_at": reply.created_at.isoformat(),
            "memories_used": list(reply.memories_used),
            "receipts": _receipts(reply, remembered),
            "episodes_used": list(reply.episodes_used),
            # as chat.started.remembered gives them: {id, text, at, conversation}
            "episodes": [
                {
                    "id": e.id,
                    "text": e.text,
                    "at": e.said_at.isoformat(),
                    "conversation": e.conversation,
                }
                for e in _episode_receipts(reply, episodes)
            ],
        }
        for reply in alternatives
    ]
    return _switch(ids.index(message.pk) + 1, data, versions=False)


def _version_switcher(message: Message, versions: list[Message]) -> dict[str, Any] | None:
    """The "‹ 2 / 3 ›" switcher of an edited message of the human's: where the shown version
    stands among every version of it (oldest first), and each version's id and text as
    static/js/chat.js reads them (JSON, escaped into an attribute)."""
    ids = [version.pk for version in versions]
    if len(ids) < 2 or message.pk not in ids:
        return None
    data = [
        {"id": version.pk, "text": version.text, "created_at": version.created_at.isoformat()}
        for version in versions
    ]
    return _switch(ids.index(message.pk) + 1, data, versions=True)


def _switch(position: int, data: list[dict[str, Any]], *, versions: bool) -> dict[str, Any]:
    """What templates/cats/_message.html draws of a switcher: between a reply's alternatives
    (data-alternatives), or between the versions of an edited message (data-versions)."""
    return {
        "position": position,
        "count": len(data),
        "data": json.dumps(data, ensure_ascii=False),
        "attribute": "versions" if versions else "alternatives",
        "label": "Versions of your message" if versions else "Replies to your message",
        "unit": "version" if versions else "reply",
    }


def _selected_conversation(
    request: HttpRequest, cat: Cat, conversations: list[Conversation]
) -> Conversation | None:
    """`?conversation=<id>` (someone else's or unknown: 404), `?new=1` (none), else the newest."""
    if request.GET.get("new"):
        return None
    raw = request.GET.get("conversation")
    if raw is None:
        return conversations[0] if conversations else None
    try:
        conversation_id = int(raw)
    except ValueError:
        raise Http404("No such conversation.") from None
    conversation = find_conversation(cat, conversation_id)
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation
