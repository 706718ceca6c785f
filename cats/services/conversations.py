"""Writes for conversations as such: start one, rename it, delete it. (A conversation started
by the first message of a chat is `messages.message_accept`'s.)"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from cats.models import Cat, Conversation


def conversation_create(*, cat: Cat, title: str = "") -> Conversation:
    """Start an empty conversation with the cat (one INSERT)."""
    return Conversation.objects.create(cat=cat, title=title.strip())


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    """Give the conversation a new title; `updated_at` moves too (one UPDATE)."""
    conversation.title = title.strip()
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    """Remove the conversation and its messages (by cascade, with their pending extraction
    jobs). Memories the cat learned from them stay, without their source message: they are
    facts about the human, curated on their own."""
    with transaction.atomic():
        conversation.delete()
