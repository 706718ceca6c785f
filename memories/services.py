"""Writes for memories. Every change leaves a MemoryHistory row naming its actor (cat, user or
staff), and pushes `memory.changed` to the owner's open tabs after the commit.

Nothing here erases a memory: a newer fact supersedes an older one (kept, linked), "forget"
rejects it. Sync functions (they may embed text: call them off the event loop).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from catchat import embeddings
from catchat.llm import LLMError
from catchat.realtime import group_name, push_on_commit
from memories.models import Memory, MemoryHistory, MemoryProfile

if TYPE_CHECKING:  # the contract only (no import at run time: memories does not use cats)
    from cats.frames import MemoryChanged

logger = logging.getLogger(__name__)

Actor = str  # MemoryHistory.Actor: "cat", "user" or "staff"
MemoryOp = Literal["added", "updated", "removed"]  # memory.changed's `op`


def memory_payload(memory: Memory) -> dict[str, Any]:
    """The memory's JSON shape, shared by REST and WebSocket (PRODUCT.md, "Shapes")."""
    source = None
    if memory.source_message_id is not None:
        source = {"message": memory.source_message_id, "quote": memory.source_quote}
    return {
        "id": memory.pk,
        "text": memory.text,
        "category": memory.category,
        "importance": memory.importance,
        "pinned": memory.pinned,
        "status": memory.status,
        "source": source,
        "valid_from": memory.valid_from.isoformat(),
        "superseded_by": memory.superseded_by_id,
        "created_at": memory.created_at.isoformat(),
        "updated_at": memory.updated_at.isoformat(),
    }


def normalized(text: str) -> str:
    """A fact's text for duplicate checks: case, accents' forms, spacing and punctuation aside."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\W_]+", " ", text).strip()


def _push(profile: MemoryProfile, op: MemoryOp, memory: Memory) -> None:
    frame: MemoryChanged = {"type": "memory.changed", "op": op, "memory": memory_payload(memory)}
    push_on_commit(group_name(profile.user_id, profile.cat_id), frame)


def _record(
    memory: Memory,
    operation: str,
    *,
    actor: Actor,
    actor_user: User | None = None,
    old_text: str = "",
    new_text: str = "",
    note: str = "",
) -> None:
    MemoryHistory.objects.create(
        memory=memory,
        operation=operation,
        actor=actor,
        actor_user=actor_user,
        old_text=old_text,
        new_text=new_text,
        note=note[:200],
    )


# A fact's vector and the model that made it (None and "" when the embedder was down).
Embedded = tuple[list[float] | None, str]


def _embed(text: str) -> Embedded:
    # A memory is worth keeping even when the embedder is down: full text still finds it, and
    # `manage.py reembed_memories` fills the vector in later.
    try:
        return embeddings.embed_passages_sync([text])[0], embeddings.model_name()
    except (LLMError, OSError) as exc:
        logger.warning("Memory saved without an embedding: %s", exc)
        return None, ""


def profile_for(*, user: User, cat: Any) -> MemoryProfile:
    profile, _ = MemoryProfile.objects.get_or_create(cat=cat, defaults={"user": user})
    return profile


def memory_create(
    *,
    profile: MemoryProfile,
    text: str,
    category: str = Memory.Category.OTHER,
    importance: int = 3,
    pinned: bool = False,
    slot: str = "",
    source_message_id: int | None = None,
    quote: str = "",
    actor: Actor = MemoryHistory.Actor.CAT,
    actor_user: User | None = None,
    valid_from: datetime | None = None,
    embedded: Embedded | None = None,
) -> Memory:
    """A new active memory. `valid_from`: since when it is true (default now; a fact learned
    from an imported message is true since that message). `embedded`: the text's vector and
    its model, computed beforehand (as learning does) so that no lock is held while embedding; the
    text is embedded here otherwise."""
    text = text.strip()[:500]
    embedding, model = embedded if embedded is not None else _embed(text)
    with transaction.atomic():
        memory = Memory.objects.create(
            profile=profile,
            text=text,
            category=category if category in Memory.Category.values else Memory.Category.OTHER,
            importance=min(5, max(1, importance)),
            pinned=pinned,
            slot=slot[:80],
            source_message_id=source_message_id,
            source_quote=quote[:300],
            embedding=embedding,
            embedding_model=model,
            valid_from=valid_from or timezone.now(),
        )
        _record(
            memory, MemoryHistory.Operation.ADD, actor=actor, actor_user=actor_user, new_text=text
        )
        _push(profile, "added", memory)
    return memory


def memory_supersede(
    *,
    old: Memory,
    text: str,
    category: str | None = None,
    importance: int | None = None,
    slot: str | None = None,
    source_message_id: int | None = None,
    quote: str = "",
    actor: Actor = MemoryHistory.Actor.CAT,
    valid_from: datetime | None = None,
    embedded: Embedded | None = None,
) -> Memory:
    """A newer fact replaces `old`, which stays (status superseded) and points at the new one.
    `valid_from` and `embedded` as for `memory_create`."""
    with transaction.atomic():
        new = memory_create(
            profile=old.profile,
            text=text,
            category=category or old.category,
            importance=importance or old.importance,
            pinned=old.pinned,
            slot=old.slot if slot is None else slot,
            source_message_id=source_message_id,
            quote=quote,
            actor=actor,
            valid_from=valid_from,
            embedded=embedded,
        )
        old.status = Memory.Status.SUPERSEDED
        old.superseded_by = new
        old.save(update_fields=["status", "superseded_by", "updated_at"])
        _record(
            old,
            MemoryHistory.Operation.SUPERSEDE,
            actor=actor,
            old_text=old.text,
            new_text=new.text,
        )
        _push(old.profile, "updated", old)
    return new


def memory_edit(
    *,
    memory: Memory,
    actor: Actor,
    actor_user: User | None = None,
    text: str | None = None,
    category: str | None = None,
    importance: int | None = None,
    pinned: bool | None = None,
) -> Memory:
    """A correction by the human or staff: changed in place, each change in the history."""
    fields: list[str] = []
    with transaction.atomic():
        if text is not None and text.strip() and text.strip() != memory.text:
            old_text, memory.text = memory.text, text.strip()[:500]
            memory.embedding, memory.embedding_model = _embed(memory.text)
            fields += ["text", "embedding", "embedding_model"]
            _record(
                memory,
                MemoryHistory.Operation.UPDATE,
                actor=actor,
                actor_user=actor_user,
                old_text=old_text,
                new_text=memory.text,
            )
        if pinned is not None and pinned != memory.pinned:
            memory.pinned = pinned
            fields.append("pinned")
            operation = MemoryHistory.Operation.PIN if pinned else MemoryHistory.Operation.UNPIN
            _record(memory, operation, actor=actor, actor_user=actor_user, new_text=memory.text)
        changes = []
        if category is not None and category != memory.category:
            changes.append(f"category {memory.category} → {category}")
            memory.category = category
            fields.append("category")
        if importance is not None and importance != memory.importance:
            changes.append(f"importance {memory.importance} → {importance}")
            memory.importance = min(5, max(1, importance))
            fields.append("importance")
        if changes:
            _record(
                memory,
                MemoryHistory.Operation.CHANGE,
                actor=actor,
                actor_user=actor_user,
                new_text=memory.text,
                note="; ".join(changes),
            )
        if fields:
            memory.save(update_fields=[*fields, "updated_at"])
            _push(memory.profile, "updated", memory)
    return memory


def memory_reject(
    *, memory: Memory, actor: Actor, actor_user: User | None = None, note: str = ""
) -> Memory:
    """Forget: the memory is no longer recalled; its history stays."""
    if memory.status == Memory.Status.REJECTED:
        return memory
    with transaction.atomic():
        memory.status = Memory.Status.REJECTED
        memory.pinned = False
        memory.save(update_fields=["status", "pinned", "updated_at"])
        _record(
            memory,
            MemoryHistory.Operation.REJECT,
            actor=actor,
            actor_user=actor_user,
            old_text=memory.text,
            note=note,
        )
        _push(memory.profile, "removed", memory)
    return memory


def memory_withdraw(
    *, memory: Memory, actor: Actor, actor_user: User | None = None, note: str = ""
) -> Memory:
    """The message a fact came from was taken back (edited): the fact is superseded, by
    nothing, no longer recalled as true; its history says why."""
    if memory.status != Memory.Status.ACTIVE:
        return memory
    with transaction.atomic():
        memory.status = Memory.Status.SUPERSEDED
        memory.save(update_fields=["status", "updated_at"])
        _record(
            memory,
            MemoryHistory.Operation.SUPERSEDE,
            actor=actor,
            actor_user=actor_user,
            old_text=memory.text,
            note=note,
        )
        _push(memory.profile, "updated", memory)
    return memory


def memory_restore(
    *, memory: Memory, actor: Actor, actor_user: User | None = None, note: str = ""
) -> Memory:
    if memory.status == Memory.Status.ACTIVE:
        return memory
    with transaction.atomic():
        memory.status = Memory.Status.ACTIVE
        memory.superseded_by = None
        memory.valid_from = timezone.now()
        memory.save(update_fields=["status", "superseded_by", "valid_from", "updated_at"])
        _record(
            memory,
            MemoryHistory.Operation.RESTORE,
            actor=actor,
            actor_user=actor_user,
            new_text=memory.text,
            note=note,
        )
        _push(memory.profile, "added", memory)
    return memory
