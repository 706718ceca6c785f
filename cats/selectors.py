"""Reads that carry permission rules: each fetches and authorizes in one step.

Someone else's cat or conversation is indistinguishable from one that does not exist
(`Http404` / `None`), never a 403 that would confirm it exists.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from cats.models import Cat, Conversation, Message


def cats_for(user: User) -> QuerySet[Cat]:
    return Cat.objects.filter(owner=user)


def find_cat(user: User, cat_id: int) -> Cat | None:
    if not user.is_authenticated:
        return None
    cat = Cat.objects.filter(owner=user, pk=cat_id).select_related("memory_profile").first()
    if cat is not None:
        cat.owner = user  # known already: spares a query wherever cat.owner is read
    return cat


def access_cat(user: User, cat_id: int) -> Cat:
    cat = find_cat(user, cat_id)
    if cat is None:
        raise Http404("No such cat.")
    return cat


def find_conversation(cat: Cat, conversation_id: int) -> Conversation | None:
    """The cat's conversation with that id; the cat is already authorized."""
    return Conversation.objects.filter(cat=cat, pk=conversation_id).first()


def conversations_for(cat: Cat) -> QuerySet[Conversation]:
    return Conversation.objects.filter(cat=cat)


def find_user_conversation(user: User, conversation_id: int) -> Conversation | None:
    """The conversation with that id if it is with one of the user's cats (one query, the cat
    joined in)."""
    if not user.is_authenticated:
        return None
    conversation = (
        Conversation.objects.filter(cat__owner=user, pk=conversation_id)
        .select_related("cat")
        .first()
    )
    if conversation is not None:
        conversation.cat.owner = user  # known already: spares a query wherever it is read
    return conversation


def access_conversation(user: User, conversation_id: int) -> Conversation:
    conversation = find_user_conversation(user, conversation_id)
    if conversation is None:
        raise Http404("No such conversation.")
    return conversation


def messages_of(conversation: Conversation) -> QuerySet[Message]:
    """The conversation's messages (the caller orders and pages them)."""
    return Message.objects.filter(conversation=conversation)


def recent_messages(
    conversation: Conversation, limit: int, *, kept_only: bool = False
) -> list[Message]:
    """The newest `limit` messages of a conversation, oldest first.

    `kept_only`: of the replies to each user message (a regenerated turn keeps the earlier ones
    as alternatives), only the kept one: what the page shows and the model is shown again.
    """
    messages = conversation.messages.all()
    if kept_only:
        messages = messages.filter(kept=True)
    newest = list(messages.order_by("-created_at", "-id")[:limit])
    newest.reverse()
    return newest


def reply_alternatives(
    conversation: Conversation, shown: list[Message]
) -> dict[int, list[Message]]:
    """Every reply (kept or not) to the user messages that the cat replies in `shown` answer,
    oldest first, by the id of the user message they answer. One query; none when `shown`
    holds no reply."""
    answered = {m.reply_to_id for m in shown if m.role == Message.Role.CAT and m.reply_to_id}
    if not answered:
        return {}
    alternatives: dict[int, list[Message]] = {}
    replies = Message.objects.filter(
        conversation=conversation, role=Message.Role.CAT, reply_to_id__in=answered
    ).order_by("created_at", "id")
    for reply in replies:
        assert reply.reply_to_id is not None  # noqa: S101 - filtered on it
        alternatives.setdefault(reply.reply_to_id, []).append(reply)
    return alternatives


def find_cat_message(cat: Cat, message_id: int) -> Message | None:
    """The message with that id in one of `cat`'s conversations (the cat is authorized), its
    conversation joined in."""
    return (
        Message.objects.filter(pk=message_id, conversation__cat=cat)
        .select_related("conversation")
        .first()
    )


def access_message(user: User, message_id: int) -> Message:
    """The message with that id if it is in a conversation with one of the user's cats (one
    query, its conversation and cat joined in); Http404 otherwise."""
    message = (
        Message.objects.filter(pk=message_id, conversation__cat__owner=user)
        .select_related("conversation__cat")
        .first()
        if user.is_authenticated
        else None
    )
    if message is None:
        raise Http404("No such message.")
    message.conversation.cat.owner = user  # known already: spares a query wherever it is read
    return message
