"""The page "what <cat> remembers" (`/cats/<id>/memories/`) and its small POST actions.

Thin: parse the request, call one selector or service, render or redirect. The human is the
actor of every change made here (history actor "user"). The page takes a fixed number of
queries whatever the number of memories: the sources come joined, the history prefetched.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from memories.forms import CorrectionForm, FilterForm, ProfileSwitchForm
from memories.models import Memory, MemoryHistory
from memories.profiles import profile_update
from memories.selectors import (
    STATUS_ALL,
    access_memory,
    access_profile,
    memories_of,
    memories_search,
    memories_with_sources,
    status_counts,
)
from memories.services import memory_edit, memory_reject, memory_restore

ACTOR = MemoryHistory.Actor.USER

# Headings of the page's sections, in the order they come (the categories' own order).
CATEGORY_HEADINGS: dict[str, str] = {
    Memory.Category.IDENTITY: "About you",
    Memory.Category.PREFERENCE: "Likes and dislikes",
    Memory.Category.PEOPLE: "People in your life",
    Memory.Category.PETS: "Pets",
    Memory.Category.WORK: "Work and studies",
    Memory.Category.PLACE: "Places",
    Memory.Category.HEALTH: "Health",
    Memory.Category.ROUTINE: "Habits and routines",
    Memory.Category.EVENT: "Dates and events",
    Memory.Category.OTHER: "Other things",
}
STATUS_LABELS: dict[str, str] = {
    Memory.Status.ACTIVE: "Remembered",
    Memory.Status.SUPERSEDED: "Replaced by newer ones",
    Memory.Status.REJECTED: "Forgotten",
    STATUS_ALL: "Everything",
}
OPERATION_LABELS: dict[str, str] = {
    MemoryHistory.Operation.ADD: "learned",
    MemoryHistory.Operation.UPDATE: "corrected",
    MemoryHistory.Operation.SUPERSEDE: "replaced",
    MemoryHistory.Operation.REJECT: "forgotten",
    MemoryHistory.Operation.RESTORE: "remembered again",
    MemoryHistory.Operation.PIN: "pinned",
    MemoryHistory.Operation.UNPIN: "unpinned",
    MemoryHistory.Operation.CHANGE: "changed",
}


def _user(request: HttpRequest) -> User:
    # login_required has run: the user is a real User, not AnonymousUser.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


@login_required
@require_GET
def memory_page(request: HttpRequest, cat_id: int) -> HttpResponse:
    profile = access_profile(_user(request), cat_id)
    cat = profile.cat
    q, status = FilterForm(request.GET).values()
    memories = (
        memories_search(profile, q=q, status=status)
        if q
        else list(memories_with_sources(memories_of(profile, status=status)))
    )
    counts = status_counts(profile)
    counts[STATUS_ALL] = sum(counts.values())
    return render(
        request,
        "memories/page.html",
        {
            "cat": cat,
            "profile": profile,
            "q": q,
            "status": status,
            "filtered": bool(q) or status != Memory.Status.ACTIVE,
            "total": len(memories),
            "groups": _by_category(cat.pk, cat.name, memories),
            "status_options": [
                {"value": value, "label": label, "count": counts[value]}
                for value, label in STATUS_LABELS.items()
            ],
        },
    )


def _by_category(cat_id: int, cat_name: str, memories: list[Memory]) -> list[dict[str, Any]]:
    """The memories under their category's heading, categories in their usual order, each kept
    in the order it came (pinned, important, newest first). Empty categories are left out."""
    groups: dict[str, list[dict[str, Any]]] = {category: [] for category in CATEGORY_HEADINGS}
    for memory in memories:
        groups.setdefault(memory.category, []).append(_shown(cat_id, cat_name, memory))
    return [
        {
            "category": category,
            "heading": CATEGORY_HEADINGS.get(category, category.capitalize()),
            "memories": items,
        }
        for category, items in groups.items()
        if items
    ]


def _shown(cat_id: int, cat_name: str, memory: Memory) -> dict[str, Any]:
    """What the template shows of a memory of that cat (annotated by `memories_with_sources`)."""
    source_url = None
    if memory.source_message_id is not None:
        conversation = memory.source_conversation_id  # type: ignore[attr-defined]
        source_url = (
            reverse("cats:chat", args=[cat_id])
            + f"?{urlencode({'conversation': conversation})}#message-{memory.source_message_id}"
        )
    actors: dict[str, str] = {
        MemoryHistory.Actor.CAT: cat_name,
        MemoryHistory.Actor.USER: "you",
        MemoryHistory.Actor.STAFF: "CatChat staff",
    }
    return {
        "memory": memory,
        "importance": "●" * memory.importance + "○" * (5 - memory.importance),
        "source_url": source_url,
        "source_at": memory.source_created_at,  # type: ignore[attr-defined]
        "history": [_history_row(row, actors) for row in memory.history.all()],
    }


def _history_row(row: MemoryHistory, actors: dict[str, str]) -> dict[str, Any]:
    """A change as the page shows it: "old → new" where the text changed, else the text."""
    changed = bool(row.old_text and row.new_text and row.old_text != row.new_text)
    return {
        "at": row.created_at,
        "operation": OPERATION_LABELS.get(row.operation, row.operation),
        "actor": actors.get(row.actor, row.actor),
        "old_text": row.old_text if changed else "",
        "new_text": row.new_text if changed else "",
        "text": "" if changed else (row.new_text or row.old_text),
        "note": row.note,
    }


@login_required
@require_POST
def memory_action(request: HttpRequest, cat_id: int, memory_id: int, action: str) -> HttpResponse:
    """`correct` (with `text`), `pin`, `unpin`, `forget` or `restore` one memory, then back to
    the page as it was (`q` and `status` come along as hidden fields)."""
    user = _user(request)
    memory = access_memory(user, memory_id)
    if memory.profile.cat_id != cat_id:
        raise Http404("No such memory.")
    if action == "correct":
        form = CorrectionForm(request.POST)
        if form.is_valid():
            memory_edit(memory=memory, actor=ACTOR, actor_user=user, text=form.cleaned_data["text"])
            messages.success(request, f"Corrected: “{memory.text}”.")
        else:
            messages.error(request, "A memory needs some text (500 characters at most).")
    elif action in ("pin", "unpin"):
        memory_edit(memory=memory, actor=ACTOR, actor_user=user, pinned=action == "pin")
        if memory.pinned:
            messages.success(request, f"Pinned: “{memory.text}” is always kept in mind.")
        else:
            messages.success(request, f"Unpinned: “{memory.text}”.")
    elif action == "forget":
        memory_reject(memory=memory, actor=ACTOR, actor_user=user)
        messages.success(request, f"Forgotten: “{memory.text}”. It stays under “Forgotten”.")
    elif action == "restore":
        memory_restore(memory=memory, actor=ACTOR, actor_user=user)
        messages.success(request, f"Remembered again: “{memory.text}”.")
    else:
        raise Http404("No such action.")
    return _back(request, cat_id, anchor=f"memory-{memory.pk}")


@login_required
@require_POST
def profile_switch(request: HttpRequest, cat_id: int) -> HttpResponse:
    """Turn memory on or off for this cat (`enabled` "1" or "0")."""
    profile = access_profile(_user(request), cat_id)
    form = ProfileSwitchForm(request.POST)
    if form.is_valid():
        profile = profile_update(profile=profile, enabled=form.cleaned_data["enabled"])
        name = profile.cat.name
        if profile.enabled:
            messages.success(request, f"Memory is on: {name} learns and remembers again.")
        else:
            messages.success(request, f"Memory is off: {name} neither learns nor recalls.")
    return _back(request, cat_id)


def _back(request: HttpRequest, cat_id: int, anchor: str = "") -> HttpResponseRedirect:
    """The page with the search and filter the form was sent from."""
    q, status = FilterForm(request.POST).values()
    params = {"q": q} if q else {}
    if status != Memory.Status.ACTIVE:
        params["status"] = status
    url = reverse("memories:page", args=[cat_id])
    if params:
        url += f"?{urlencode(params)}"
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)
