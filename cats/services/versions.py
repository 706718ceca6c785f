"""Editing a sent message: versions of a user message, each with its branch.

An edit does not change the message: the new text is a new user message, a version of the
first one (`edit_of`), and it is answered like any message. The version it replaces is hidden
(`kept=False`), and so is every message that followed it on the conversation's shown path,
each marked as that version's branch (`branch_of`). Showing a version again (`version_show`)
hides the shown one and its branch the same way and shows the version's own branch as it was
left, nested edits and the reply kept of each turn included. So the shown path is always the
conversation's kept messages in the order they were written, and whatever reads it (the page,
the prompt's history, regenerate) needs nothing more.

Learning follows the shown text: the facts learned from a version that is hidden are
superseded (not forgotten: their history says why) and its episode goes; a version shown again
is learned again.
"""

from __future__ import annotations

from django.db.models import Q

from cats.models import Cat, Message
from cats.selectors import find_cat_message
from cats.services.cats import memory_profile
from cats.services.errors import ChatInputError
from memories.forgetting import message_withdraw
from memories.learning import job_requeue

NOT_SHOWN = "That version is no longer shown: it was edited or switched meanwhile."


def after(message: Message) -> Q:
    """The messages written after `message` (the conversation's order: created_at, id)."""
    return Q(created_at__gt=message.created_at) | Q(
        created_at=message.created_at, pk__gt=message.pk
    )


def hide(version: Message) -> bool:
    """Hide `version`, and the messages shown after it as its branch (two UPDATEs); False, and
    nothing changed, when it was not shown. In a transaction that holds the conversation's or
    the versions' rows."""
    if not Message.objects.filter(pk=version.pk, kept=True).update(kept=False):
        return False
    Message.objects.filter(
        after(version), conversation_id=version.conversation_id, kept=True
    ).update(kept=False, branch_of=version)
    return True


def show(version: Message) -> None:
    """Show `version` and its branch as it was left (two UPDATEs): the messages hidden with it
    come back, and the turns of the branch that were edited or switched stay as they were."""
    Message.objects.filter(conversation_id=version.conversation_id, branch_of=version).update(
        kept=True, branch_of=None
    )
    Message.objects.filter(pk=version.pk).update(kept=True)
    version.kept = True


def edit_target(*, cat: Cat, message_id: object, conversation_id: int | None) -> Message:
    """The user message an edit replaces: one of `cat`'s, shown. Raises ChatInputError:
    `bad_frame` for an id that is not one or not of a message the human wrote, `not_found` for
    one that is not in `cat`'s conversations (or not in `conversation_id`, when given),
    `conflict` for a version no longer shown."""
    if not isinstance(message_id, int) or isinstance(message_id, bool) or message_id <= 0:
        raise ChatInputError("bad_frame", "`edit_of` must be a message id.")
    message = find_cat_message(cat, message_id)
    if message is None or conversation_id not in (None, message.conversation_id):
        raise ChatInputError("not_found", "No such message.")
    if message.role != Message.Role.USER:
        raise ChatInputError("bad_frame", "Only a message you wrote can be edited.")
    if not message.kept:
        raise ChatInputError("conflict", NOT_SHOWN)
    return message


def edit_apply(*, cat: Cat, target: Message) -> None:
    """In the edit's transaction, the conversation's row locked (`message_accept`): hide
    `target` and its branch, and unlearn what was learned from it. Raises
    ChatInputError(`conflict`) when another edit or switch hid it after `edit_target` read it."""
    if not hide(target):
        raise ChatInputError("conflict", NOT_SHOWN)
    message_withdraw(
        profile=memory_profile(cat), message_id=target.pk, actor_user=cat.owner, why="edited"
    )


def switch(*, cat: Cat, shown: Message, chosen: Message) -> None:
    """Show the version `chosen` in place of `shown` (both of one turn, their rows locked)
    and learn from it instead."""
    if not hide(shown):
        raise ChatInputError("conflict", NOT_SHOWN)
    show(chosen)
    profile = memory_profile(cat)
    message_withdraw(profile=profile, message_id=shown.pk, actor_user=cat.owner, why="switched")
    job_requeue(profile=profile, message_id=chosen.pk)


def versions_of(shown: list[Message]) -> dict[int, list[Message]]:
    """Every version (shown or not) of the user messages in `shown` that have several, oldest
    first, by the id of their first version. One query; none when `shown` holds no message of
    the human."""
    users = [m for m in shown if m.role == Message.Role.USER]
    if not users:
        return {}
    roots = {m.edit_of_id or m.pk for m in users}
    versions: dict[int, list[Message]] = {}
    found = Message.objects.filter(
        Q(pk__in=roots) | Q(edit_of_id__in=roots), conversation_id=users[0].conversation_id
    ).order_by("created_at", "pk")
    for version in found:
        versions.setdefault(version.edit_of_id or version.pk, []).append(version)
    return {root: group for root, group in versions.items() if len(group) > 1}
