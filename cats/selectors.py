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


def recent_messages(conversation: Conversation, limit: int) -> list[Message]:
    """The newest `limit` messages of a conversation, oldest first."""
    newest = list(conversation.messages.order_by("-created_at", "-id")[:limit])
    newest.reverse()
    return newest
