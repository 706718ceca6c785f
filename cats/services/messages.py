"""Writes for conversations and messages: the saving half of a chat turn.

Sync functions: async callers wrap them in `database_sync_to_async`. Each keeps its queries
few and fixed, whatever the conversation's length.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from catchat import embeddings
from catchat.llm import ChatRequest, Persona, model_name
from catchat.offline import Remembered
from catchat.realtime import group_name, push_on_commit
from cats import frames, prompts
from cats.models import Cat, Conversation, Message
from cats.selectors import find_cat_message, recent_messages
from cats.services import versions
from cats.services.cats import AlreadyReplying, cat_chatted, cat_lock, memory_profile
from cats.services.errors import BUSY, ChatInputError
from memories.forgetting import embed_request, forget_asked, forget_request
from memories.learning import job_enqueue, job_keep_query
from memories.recall import EPISODE, FACT, Recalled, recall

TITLE_CHARS = 60
# Replies the model gets to see again: what the cat actually said (a stopped reply counts).
_CONTEXT_STATUSES = (Message.Status.COMPLETE, Message.Status.STOPPED)


@dataclass(frozen=True)
class Accepted:
    message: Message
    created: bool  # False when this client_id was already saved (a resend)
    needs_reply: bool  # False when a reply to it exists already


# C0 and C1 control characters (and DEL) except tab and newline: invisible, and some break
# terminals and logs. NUL is refused instead (PostgreSQL cannot store it), as are surrogates.
_CONTROLS = re.compile("[\x01-\x08\x0b-\x1f\x7f-\x9f]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clean_text(text: object) -> str:
    """The user's message as it will be saved: control characters removed, outer whitespace
    stripped. Raises ChatInputError: `bad_frame` for a non-string or for text PostgreSQL cannot
    store (NUL, a lone surrogate), `empty`, `too_long` (counted after cleaning)."""
    if not isinstance(text, str):
        raise ChatInputError("bad_frame", "`text` must be a string.")
    if _UNSTORABLE.search(text):
        raise ChatInputError(
            "bad_frame", "`text` must not contain NUL characters or lone surrogates."
        )
    cleaned = _CONTROLS.sub("", text).strip()
    if not cleaned:
        raise ChatInputError("empty", "Say something first: the message is empty.")
    if len(cleaned) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatInputError(
            "too_long",
            f"That message is {len(cleaned)} characters; the limit is "
            f"{settings.CHAT_MAX_MESSAGE_CHARS}.",
        )
    return cleaned


def message_accept(
    *,
    cat: Cat,
    text: str,
    client_id: uuid.UUID,
    conversation_id: int | None,
    busy: Callable[[int], bool] | None = None,
    edit_of: object = None,
) -> Accepted:
    """Save the user's message before anything else happens; idempotent per `client_id`.

    Creates the conversation when `conversation_id` is None, and otherwise moves its
    `updated_at` (the human wrote in it). Raises ChatInputError: `busy` for a new message while
    the conversation has a reply in flight, in any process (a streaming reply with a live
    lease, asked in the conversation's UPDATE; `busy(conversation_id)` is this process's own
    fast answer), refused before saving, so the text stays with the user; `not_found` for a
    conversation that is not this cat's, and `conflict` for a client_id that belongs to someone
    else's message. A resend is never busy. Every tab of the (user, cat) gets `chat.accepted`
    once the message is committed (a resend's too: the sender waits for it).

    `edit_of`: the id of a user message shown in the conversation, which this one edits: the new
    text is a new version of it (`cats.services.versions`), which hides it and the turns after
    it; the tabs hear `chat.accepted` with `replaces`. Raises ChatInputError as
    `versions.edit_target` does (`conflict` for a version no longer shown, unless this is a
    resend of the edit).

    Three statements for a new message (conversation, message, extraction job): a resend is
    rare, so the message is inserted first and the unique client_id tells it apart.
    """
    try:
        target = None
        if edit_of is not None:
            target = versions.edit_target(
                cat=cat, message_id=edit_of, conversation_id=conversation_id
            )
            conversation_id = target.conversation_id
        if busy is not None and conversation_id is not None and busy(conversation_id):
            raise _Busy
        with transaction.atomic():
            if target is not None:
                # The cat's row first, as a reply's start takes it (`reply_begin`): one that
                # began first is seen streaming just below; one that waits reads the path after.
                cat_lock(cat=cat)
            if conversation_id is None:
                conversation = Conversation.objects.create(cat=cat, title=_title(text))
            else:
                conversation = _touch_conversation(cat, conversation_id)
            if target is not None:  # under the conversation's row lock
                versions.edit_apply(cat=cat, target=target)
                _retitle(conversation.pk, target.text, text)
            message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.USER,
                text=text,
                status=Message.Status.COMPLETE,
                client_id=client_id,
                edit_of_id=(target.edit_of_id or target.pk) if target is not None else None,
            )
            # Queued with the message itself: a crash before the cat learns from it loses
            # nothing (memories.learning picks pending jobs up later).
            job_enqueue(profile=memory_profile(cat), message_id=message.pk)
            _push_accepted(cat, message, replaces=target.pk if target is not None else None)
    except ChatInputError as exc:
        # An edit's resend finds its version hidden already, by itself: the same message.
        existing = _by_client_id(client_id) if exc.code == "conflict" else None
        if existing is None:
            raise
        return _resend(existing, cat)
    except _Busy:
        existing = _by_client_id(client_id)
        if existing is not None:
            return _resend(existing, cat)
        raise ChatInputError("busy", BUSY) from None
    except IntegrityError:
        # This client_id was saved already: a resend, or two tabs racing with it.
        existing = _by_client_id(client_id)
        if existing is None:
            raise
        return _resend(existing, cat)
    return Accepted(message=message, created=True, needs_reply=True)


class _Busy(Exception):
    """The conversation has a reply in flight (rolls the touch of the conversation back)."""


def _push_accepted(cat: Cat, message: Message, *, replaces: int | None = None) -> None:
    accepted: frames.Accepted = {
        "type": "chat.accepted",
        "client_id": str(message.client_id),
        "message": frames.message_payload(message),
    }
    if replaces is not None:
        accepted["replaces"] = replaces
    push_on_commit(group_name(cat.owner_id, cat.pk), accepted)


def _replying(conversation: str) -> str:
    """SQL: whether the conversation (a column reference) has a reply being written."""
    table = Message._meta.db_table
    return (
        f"EXISTS (SELECT 1 FROM {table} AS m WHERE m.conversation_id = {conversation}"  # noqa: S608
        f" AND m.status = '{Message.Status.STREAMING}' AND m.lease_until > %s)"
    )


def _touch_conversation(cat: Cat, conversation_id: int) -> Conversation:
    """The cat's conversation, its `updated_at` moved to now: one UPDATE ... RETURNING, which
    finds, checks the owner, touches, and tells whether a reply is being written in it (in any
    process) at once. Raises ChatInputError(`not_found`), or _Busy (roll the touch back)."""
    table = Conversation._meta.db_table
    now = timezone.now()
    found = list(
        Conversation.objects.raw(
            f"UPDATE {table} SET updated_at = %s WHERE id = %s AND cat_id = %s"  # noqa: S608 - the table name is ours
            f" RETURNING *, {_replying(table + '.id')} AS replying",
            [now, conversation_id, cat.pk, now],
        )
    )
    if not found:
        raise ChatInputError("not_found", "No such conversation.")
    conversation = found[0]
    if getattr(conversation, "replying", False):  # the RETURNING's extra column
        raise _Busy
    conversation.cat = cat
    return conversation


def _by_client_id(client_id: uuid.UUID) -> Message | None:
    return (
        Message.objects.filter(client_id=client_id)
        .select_related("conversation")
        .annotate(has_reply=Exists(Message.objects.filter(reply_to=OuterRef("pk"))))
        .first()
    )


def _resend(existing: Message, cat: Cat) -> Accepted:
    if existing.conversation.cat_id != cat.pk:
        raise ChatInputError("conflict", "That client_id was already used for another message.")
    _push_accepted(cat, existing)
    return Accepted(
        message=existing, created=False, needs_reply=not getattr(existing, "has_reply", False)
    )


def latest_reply(user_message: Message) -> Message | None:
    """The newest cat reply to `user_message` (a regenerated turn has several)."""
    return (
        Message.objects.filter(reply_to=user_message, role=Message.Role.CAT)
        .order_by("-created_at", "-id")
        .first()
    )


def _retitle(conversation_id: int, was: str, now: str) -> None:
    """A title made from the text of the message `was` (the first one's) follows it when
    another version of it, `now`, is shown. One UPDATE; a title the human chose stays."""
    Conversation.objects.filter(pk=conversation_id, title=_title(was)).update(title=_title(now))


def _title(text: str) -> str:
    first_line = text.splitlines()[0] if text else ""
    return first_line if len(first_line) <= TITLE_CHARS else first_line[: TITLE_CHARS - 1] + "…"


def regenerate_target(*, cat: Cat, conversation_id: object) -> Message:
    """The user message a regenerated reply answers: the newest one of the conversation.
    Raises ChatInputError `busy` while a reply is being written there in any process (asked in
    the same query)."""
    if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
        raise ChatInputError("bad_frame", "`conversation` must be a conversation id.")
    message = (
        Message.objects.filter(
            conversation_id=conversation_id,
            conversation__cat=cat,
            role=Message.Role.USER,
            kept=True,  # of an edited turn, the version shown
        )
        .select_related("conversation")
        .annotate(replying=Exists(_streaming(conversation_id=OuterRef("conversation_id"))))
        .order_by("-created_at", "-id")
        .first()
    )
    if message is None:
        raise ChatInputError("not_found", "No such conversation, or nothing to answer in it.")
    if message.replying:
        raise ChatInputError("busy", BUSY)
    return message


def _streaming(**where: object) -> QuerySet[Message]:
    """Replies being written (streaming, with a live lease: a reply whose lease ran out is no
    longer written by anyone, whatever its status says)."""
    return Message.objects.filter(
        status=Message.Status.STREAMING, lease_until__gt=timezone.now(), **where
    )


def replies_streaming(*, cat: Cat) -> list[Message]:
    """The replies being written for `cat` in any process, oldest first (one query)."""
    return list(_streaming(conversation__cat=cat).order_by("created_at", "pk"))


def reply_begin(
    *, cat: Cat, user_message: Message, query_vector: list[float] | None = None
) -> tuple[Message, ChatRequest, list[Recalled]]:
    """Create the cat's reply (status `streaming`) and assemble its prompt; returns the reply,
    the request for the model and what was recalled for it (in the prompt's order).

    The chat moves the cat's vitals, `query_vector` (the message embedded for recall) is kept
    for learning (which also makes the message an episode once the reply is out), and the reply
    records the mood it is written in and what it was given: facts (`memories_used`) and the
    human's earlier messages (`episodes_used`). A "forget that ..." is carried out here, so the
    reply can confirm it, or say it knew nothing of the kind. The new reply is the kept one: a
    regenerated turn's earlier replies stay as alternatives with `kept=False`, and the prompt's
    history holds only kept replies.
    Queries stay fixed whatever the conversation's length: lock the cat, the newest turns,
    update the cat, recall, keep the query vector, (when regenerating) unkeep the earlier reply,
    insert the reply.

    Raises ChatInputError(`busy`), creating and changing nothing (the user's message stays),
    when another reply of the conversation is being written (streaming, live lease): a second
    process accepted a message into it between this one's accept and this call. The cat's
    row lock orders the two, and the same query that takes it asks. Raises
    ChatInputError(`conflict`) the same way when `user_message` is not the human's last message
    on the shown path: another version of it, or of a message before it, was shown since it
    was saved, or the conversation went on without it.
    """
    conversation = user_message.conversation
    model = embeddings.model_name()
    asked = forget_request(user_message.text)
    # Embedded before the cat's row is locked (a bare request needs no vector).
    forget_vector = embed_request(asked) if asked else None
    with transaction.atomic():
        try:
            # Under the cat's row lock: another process that accepted a message into this
            # conversation meanwhile, and began its reply first, makes this one wait its turn.
            locked = cat_lock(cat=cat, conversation_id=user_message.conversation_id)
        except AlreadyReplying:
            raise ChatInputError("busy", BUSY) from None
        # Read under the lock, which an edit and a switch of versions take too: the shown path
        # as they left it. Only kept replies: of a regenerated turn the model sees the
        # alternative the human kept.
        recent = recent_messages(conversation, settings.CHAT_HISTORY_TURNS, kept_only=True)
        if not _last_on_path(user_message, recent):
            # Another version of it (or of a message before it) was shown since it was saved,
            # or the conversation went on without it (a late resend of an unanswered
            # message): a reply now would land on the shown path after the human's next words.
            raise ChatInputError("conflict", versions.NOT_SHOWN)
        history = [
            prompts.HistoryItem(m.role, m.text)
            for m in recent
            if m.role == Message.Role.USER or m.status in _CONTEXT_STATUSES
            if (m.created_at, m.pk) <= (user_message.created_at, user_message.pk)
        ]
        user_turns = sum(1 for item in history if item.role == Message.Role.USER)
        mood, needs = cat_chatted(locked=locked, user_turns=user_turns)
        # What the prompt shows anyway is not recalled again; the message before is what a
        # bare "forget it" means.
        shown = [m.pk for m in recent if m.role == Message.Role.USER]
        previous = max(
            (m for m in recent if m.role == Message.Role.USER and m.pk != user_message.pk),
            key=lambda m: (m.created_at, m.pk),
            default=None,
        )
        # A regenerated reply becomes the kept one. Whether an earlier reply is kept is known
        # from the newest messages when they reach back to `user_message` (the usual case: no
        # query for a first reply); otherwise the UPDATE runs anyway.
        unkeep_earlier = any(m.reply_to_id == user_message.pk for m in recent) or not any(
            m.pk == user_message.pk for m in recent
        )
        profile = memory_profile(cat)  # as fresh as the cat's row, just read
        forgetting = (
            forget_asked(
                profile=profile,
                what=asked,
                message_id=user_message.pk,
                previous_message_id=previous.pk if previous else None,
                actor_user=cat.owner,
                query_vector=forget_vector,
            )
            if asked is not None
            else None
        )
        recalled = (
            recall(
                profile=profile,
                query_text=user_message.text,
                query_vector=query_vector,
                model=model,
                limit=settings.MEMORY_RECALL_LIMIT,
                token_budget=settings.MEMORY_RECALL_TOKENS,
                exclude_messages=[*shown, user_message.pk],
            )
            if profile.enabled
            else []
        )
        if profile.enabled:
            # Learning reuses it (and, once the reply is out, makes the message an episode).
            job_keep_query(message_id=user_message.pk, vector=query_vector, model=model)
        if unkeep_earlier:
            Message.objects.filter(reply_to=user_message, kept=True).update(kept=False)
        reply = Message.objects.create(
            conversation=conversation,
            role=Message.Role.CAT,
            status=Message.Status.STREAMING,
            reply_to=user_message,
            kept=True,
            model=model_name(),
            mood=mood,
            memories_used=[r.id for r in recalled if r.kind == FACT],
            episodes_used=[r.id for r in recalled if r.kind == EPISODE],
            lease_until=_lease_from(timezone.now()),
        )
    turns = prompts.history_turns(history, token_budget=settings.CHAT_HISTORY_TOKENS)
    memories = tuple(prompts.remembered_line(r.kind, r.snippet(), r.at) for r in recalled)
    forgot = unknown = None
    if forgetting is not None:
        if forgetting.forgot_anything or not forgetting.what:
            forgot = "; ".join(forgetting.facts) or forgetting.what
        else:
            unknown = forgetting.what
    request = ChatRequest(
        system=prompts.system_prompt(
            name=cat.name,
            personality=cat.personality,
            coat=cat.coat,
            mood=mood,
            needs=needs,
            memories=memories,
            forgot=forgot,
            unknown=unknown,
        ),
        turns=turns,
        persona=Persona(
            name=cat.name,
            personality=cat.personality,
            coat=cat.coat,
            mood=mood,
            memories=memories,
            forgot=forgot,
            unknown=unknown,
            recalled=tuple(
                Remembered(kind=r.kind, text=r.text, category=r.category, at=r.at) for r in recalled
            ),
            needs=tuple(needs),
            hour=timezone.localtime().hour,
        ),
        max_tokens=settings.CHAT_REPLY_MAX_TOKENS,
    )
    return reply, request, recalled


def _last_on_path(user_message: Message, recent: list[Message]) -> bool:
    """Whether `user_message` is on the shown path with no message of the human's after it
    (replies may follow: its own, or an earlier message's written late), from the newest kept
    messages (`recent`); asked of the database only when they do not reach back to it (a
    history window shorter than a turn)."""
    key = (user_message.created_at, user_message.pk)
    if any(m.pk == user_message.pk for m in recent):
        return not any(m.role == Message.Role.USER for m in recent if (m.created_at, m.pk) > key)
    later = Message.objects.filter(
        versions.after(user_message),
        conversation_id=user_message.conversation_id,
        kept=True,
        role=Message.Role.USER,
    )
    return Message.objects.filter(pk=user_message.pk, kept=True).exists() and not later.exists()


def reply_keep(
    *, cat: Cat, message_id: object, busy: Callable[[int], bool] | None = None
) -> Message:
    """Make the cat reply `message_id` the kept one of its alternatives (the replies to the same
    user message), or show `message_id`, a version of an edited user message, with the turns
    that followed it (`versions`): what the page shows and what the model is shown in the turns
    after.

    `cat` is authorized; a message that is not in its conversations is `not_found`. Raises
    ChatInputError: `bad_frame` for an id that is not a cat reply nor a version of an edited
    message, `busy` while a reply streams in that conversation (`busy(conversation_id)` says so
    for this process, a live lease in the database for any), `conflict` for a version in a
    branch that is not shown. Pushes `chat.kept` (a reply) or `chat.branched` (a version) to
    the (user, cat) tabs once committed. Three queries for a reply: find, check, update.
    """
    if not isinstance(message_id, int) or isinstance(message_id, bool) or message_id <= 0:
        raise ChatInputError("bad_frame", "`message_id` must be a message id.")
    message = find_cat_message(cat, message_id)
    if message is None:
        raise ChatInputError("not_found", "No such message.")
    if message.role == Message.Role.CAT and message.reply_to_id is None:
        raise ChatInputError("bad_frame", "Only a reply of the cat can be kept.")
    if busy is not None and busy(message.conversation_id):
        raise ChatInputError("busy", BUSY)
    if message.role == Message.Role.USER:
        return _version_show(cat, message)
    if _streaming(conversation_id=message.conversation_id).exists():
        raise ChatInputError("busy", BUSY)
    reply_to = message.reply_to_id
    assert reply_to is not None  # noqa: S101 - a cat message without one was refused above
    with transaction.atomic():
        cat_lock(cat=cat)  # after an edit or a switch that was committing: the path they left
        # One UPDATE: exactly one alternative is kept, whatever was kept before; none when the
        # turn is in a branch that is not shown (an earlier message was edited).
        changed = Message.objects.filter(
            reply_to_id=reply_to, role=Message.Role.CAT, reply_to__kept=True
        ).update(kept=Case(When(pk=message.pk, then=Value(True)), default=Value(False)))
        if not changed:
            raise ChatInputError(
                "conflict", "That reply is in a branch that is not shown: show that first."
            )
        message.kept = True
        kept: frames.Kept = {
            "type": "chat.kept",
            "conversation": message.conversation_id,
            "reply_to": reply_to,
            "message_id": message.pk,
            "message": frames.message_payload(message),
        }
        push_on_commit(group_name(cat.owner_id, cat.pk), kept)
    return message


def _version_show(cat: Cat, message: Message) -> Message:
    """`reply_keep` of a user message: show this version of it (the one shown already: nothing
    changes, and the tabs are told all the same)."""
    root = message.edit_of_id or message.pk
    with transaction.atomic():
        # The cat's row, as a reply's start and an edit take it, then the conversation's, as a
        # new message takes it (`_touch_conversation`): a reply or a message saved meanwhile is
        # either seen below or comes after, on the path as the switch leaves it.
        cat_lock(cat=cat)
        Conversation.objects.select_for_update().filter(pk=message.conversation_id).exists()
        if _streaming(conversation_id=message.conversation_id).exists():
            raise ChatInputError("busy", BUSY)
        turn = list(
            Message.objects.filter(
                Q(pk=root) | Q(edit_of_id=root), conversation_id=message.conversation_id
            )
            .select_for_update()
            .order_by("created_at", "pk")
        )
        if len(turn) < 2:
            raise ChatInputError("bad_frame", "That message has no other version to show.")
        chosen = next(v for v in turn if v.pk == message.pk)
        shown = next((v for v in turn if v.kept), None)
        if shown is None:
            raise ChatInputError(
                "conflict", "That version is in a branch that is not shown: show that first."
            )
        if shown.pk != chosen.pk:
            versions.switch(cat=cat, shown=shown, chosen=chosen)
            _retitle(message.conversation_id, shown.text, chosen.text)
        chosen.kept = True
        branched: frames.Branched = {
            "type": "chat.branched",
            "conversation": chosen.conversation_id,
            "message_id": chosen.pk,
            "message": frames.message_payload(chosen),
        }
        push_on_commit(group_name(cat.owner_id, cat.pk), branched)
    return chosen


def reply_save_partial(*, reply_id: int, text: str, seq: int) -> None:
    """Persist the text streamed so far (one UPDATE), so a reload or another process sees it;
    the reply's lease is renewed with it."""
    now = timezone.now()
    Message.objects.filter(pk=reply_id, status=Message.Status.STREAMING).update(
        text=text, stream_seq=seq, updated_at=now, lease_until=_lease_from(now)
    )


def reply_renew_lease(*, reply_id: int) -> None:
    """The writing process is alive: push the reply's lease on (one UPDATE)."""
    Message.objects.filter(pk=reply_id, status=Message.Status.STREAMING).update(
        lease_until=_lease_from(timezone.now())
    )


def replies_interrupt_expired() -> list[tuple[Message, int, int]]:
    """Mark `interrupted` every streaming reply whose lease ran out; returns each with its
    owner's and cat's ids (to tell their tabs). Rows another sweeper holds are skipped."""
    now = timezone.now()
    with transaction.atomic():
        expired = list(
            Message.objects.filter(status=Message.Status.STREAMING, lease_until__lt=now)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("conversation__cat")
            .order_by("pk")[:500]
        )
        if not expired:
            return []
        Message.objects.filter(pk__in=[m.pk for m in expired]).update(
            status=Message.Status.INTERRUPTED, error_code="interrupted", updated_at=now
        )
    for message in expired:
        message.status = Message.Status.INTERRUPTED
        message.error_code = "interrupted"
        message.updated_at = now
    return [(m, m.conversation.cat.owner_id, m.conversation.cat_id) for m in expired]


def _lease_from(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.CHAT_REPLY_LEASE_S)


def reply_finish(
    *,
    reply: Message,
    text: str,
    status: str,
    seq: int,
    model: str = "",
    usage: dict[str, int] | None = None,
    error_code: str = "",
    latency_ms: int | None = None,
    ttft_ms: int | None = None,
) -> Message:
    """Save the final state of a reply (one UPDATE). The conversation's `updated_at` moved when
    the human wrote (`message_accept`)."""
    now = timezone.now()
    reply.text = text
    reply.status = status
    reply.stream_seq = seq
    reply.model = model or reply.model
    reply.usage = usage or None
    reply.error_code = error_code
    reply.latency_ms = latency_ms
    reply.ttft_ms = ttft_ms
    reply.updated_at = now
    reply.save(
        update_fields=[
            "text",
            "status",
            "stream_seq",
            "model",
            "usage",
            "error_code",
            "latency_ms",
            "ttft_ms",
            "updated_at",
        ]
    )
    return reply
