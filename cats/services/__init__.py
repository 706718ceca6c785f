"""Writes for the cats app, split by noun: the cat itself (`cats`), messages (`messages`)."""

from __future__ import annotations

from cats.services.cats import (
    CareResult,
    cat_act,
    cat_chatted,
    cat_create,
    cat_reset_vitals,
    cat_state,
)
from cats.services.messages import (
    Accepted,
    ChatInputError,
    clean_text,
    message_accept,
    regenerate_target,
    reply_begin,
    reply_finish,
    reply_save_partial,
)

__all__ = [
    "Accepted",
    "CareResult",
    "ChatInputError",
    "cat_act",
    "cat_chatted",
    "cat_create",
    "cat_reset_vitals",
    "cat_state",
    "clean_text",
    "message_accept",
    "regenerate_target",
    "reply_begin",
    "reply_finish",
    "reply_save_partial",
]
