"""Writes for the cats app, split by noun: the cat itself (`cats`), conversations
(`conversations`), messages (`messages`), importing past conversations (`imports`)."""

from __future__ import annotations

from cats.services.cats import (
    CareResult,
    cat_act,
    cat_chatted,
    cat_create,
    cat_delete,
    cat_reset_vitals,
    cat_state,
    cat_update,
)
from cats.services.conversations import (
    conversation_create,
    conversation_delete,
    conversation_rename,
)
from cats.services.imports import (
    ImportInvalid,
    ImportResult,
    ImportSession,
    ImportTurn,
    conversations_import,
)
from cats.services.messages import (
    Accepted,
    ChatInputError,
    clean_text,
    message_accept,
    regenerate_target,
    replies_interrupt_expired,
    replies_streaming,
    reply_begin,
    reply_finish,
    reply_keep,
    reply_renew_lease,
    reply_save_partial,
)

__all__ = [
    "Accepted",
    "CareResult",
    "ChatInputError",
    "ImportInvalid",
    "ImportResult",
    "ImportSession",
    "ImportTurn",
    "cat_act",
    "cat_chatted",
    "cat_create",
    "cat_delete",
    "cat_reset_vitals",
    "cat_state",
    "cat_update",
    "clean_text",
    "conversation_create",
    "conversation_delete",
    "conversation_rename",
    "conversations_import",
    "message_accept",
    "regenerate_target",
    "replies_interrupt_expired",
    "replies_streaming",
    "reply_begin",
    "reply_finish",
    "reply_keep",
    "reply_renew_lease",
    "reply_save_partial",
]
