"""Importing past conversations into a cat's history (`POST cats/{id}/import/`,
`manage.py import_conversations`).

A document is sessions of turns (the README's "Importing past conversations"). Each session
becomes a conversation and each turn a message with its original time; the human's messages
become episodes (searchable when the import returns) and are queued for learning, as a chat turn
queues its message, so the cat learns from them in the background.

Idempotent: a message's `client_id` is derived from the cat, the session id and the turn's id
(or its place in the session), so importing a document again finds what is there and adds only
what is not; a session's conversation is the one its turns already live in. All or nothing: the
whole document is checked before anything is written, and the messages are written in one
transaction.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import SyncToAsync
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from cats.models import Cat, Conversation, Message
from cats.services.cats import memory_profile
from cats.services.messages import ChatInputError, _title, clean_text
from memories import learning
from memories.episodes import Context, episodes_record
from memories.learning import jobs_enqueue

# Turns in one document: 20,000 messages import in a few minutes offline (embedding dominates).
MAX_TURNS = 20_000
# Characters of a session or turn id.
MAX_ID_CHARS = 200
# A turn without a time comes this long after the one before (the first at the session's start).
TURN_STEP = timedelta(seconds=1)
# Times may run ahead of this server's clock by this much (the exporter's clock may be fast).
CLOCK_SLACK = timedelta(minutes=5)
# What an imported message's client_id is derived with (with SECRET_KEY).
CLIENT_ID_SALT = "catchat.imports.client_id"


@dataclass(frozen=True)
class ImportTurn:
    role: str  # Message.Role
    text: str  # as sent; cleaned by the import (clean_text)
    id: str | None = None
    time: datetime | None = None


@dataclass(frozen=True)
class ImportSession:
    id: str
    started_at: datetime
    turns: Sequence[ImportTurn]
    title: str = ""


@dataclass(frozen=True)
class ImportResult:
    conversations: list[dict[str, Any]]  # {"id": conversation id, "session": session id}
    messages: dict[str, int]  # turn id -> message id (turns that have an id)
    imported: int  # messages added
    skipped: int  # turns that were there already


class ImportInvalid(Exception):
    """A document that cannot be imported; `errors` are DRF-style field errors pointing at the
    place, e.g. `{"sessions": {0: {"turns": {1: {"role": ["..."]}}}}}`."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("The document cannot be imported.")
        self.errors = errors


@dataclass
class _Turn:
    role: str
    text: str
    at: datetime
    client_id: uuid.UUID
    turn_id: str | None
    message: Message | None = None  # found or made


@dataclass
class _Session:
    id: str
    title: str
    started_at: datetime
    turns: list[_Turn] = field(default_factory=list)


def conversations_import(*, cat: Cat, sessions: Sequence[ImportSession]) -> ImportResult:
    """Import `sessions` into the history of `cat` (authorized by the caller).

    Raises ImportInvalid, having written nothing, for a document that breaks a rule: a text
    that is empty or too long once cleaned (as in the chat), a session or turn id used twice, a
    time before the previous turn's (or the session's start) or in the future.

    Writes, in one transaction: the new conversations and messages with their original times
    (a cat turn answers the user turn right before it: `reply_to`), and one extraction job per
    new user message, and every user message's episode (with the cat's lines around it), found
    by its words as soon as this returns. Then, committed, starts learning from them in the
    background (which also embeds the episodes) when called on a server's event loop;
    elsewhere the jobs wait, durable, for the next drain (a chat turn's, or `manage.py
    import_conversations`, which learns before it exits).
    """
    planned = _plan(cat, sessions)
    # Two imports of one document at once: the second collides on a client_id, rolls back,
    # and finds everything the first one wrote when it looks again.
    try:
        created = _write(cat, planned)
    except IntegrityError:
        created = _write(cat, planned)
    if created:
        transaction.on_commit(_learn_soon)
    return ImportResult(
        conversations=[
            {"id": s.turns[0].message.conversation_id, "session": s.id}
            for s in planned
            if s.turns[0].message is not None
        ],
        messages={
            t.turn_id: t.message.pk
            for s in planned
            for t in s.turns
            if t.turn_id is not None and t.message is not None
        },
        imported=len(created),
        skipped=sum(len(s.turns) for s in planned) - len(created),
    )


def _said(session: _Session) -> list[Context]:
    """The session's user messages, each with the cat's lines right before and after it (what
    an episode is embedded with)."""
    turns = session.turns
    said = []
    for k, turn in enumerate(turns):
        if turn.role != Message.Role.USER or turn.message is None:
            continue
        before = turns[k - 1] if k > 0 else None
        after = turns[k + 1] if k + 1 < len(turns) else None
        said.append(
            Context(
                turn.message,
                before=before.text if before and before.role == Message.Role.CAT else "",
                after=after.text if after and after.role == Message.Role.CAT else "",
            )
        )
    return said


# --- checking ------------------------------------------------------------------------------


def _plan(cat: Cat, sessions: Sequence[ImportSession]) -> list[_Session]:
    """The document as it will be written: texts cleaned, every turn's time and client_id
    decided. Raises ImportInvalid with every error found."""
    errors: dict[tuple[int, int | None, str], str] = {}
    latest = timezone.now() + CLOCK_SLACK
    session_seen: dict[str, int] = {}
    turn_seen: dict[str, tuple[int, int]] = {}
    planned = []
    for i, session in enumerate(sessions):
        if session.id in session_seen:
            errors[i, None, "id"] = (
                f"Session id {session.id!r} is used by sessions[{session_seen[session.id]}] too."
            )
        session_seen.setdefault(session.id, i)
        if session.started_at > latest:
            errors[i, None, "started_at"] = "This time is in the future."
        plan = _Session(id=session.id, title=session.title, started_at=session.started_at)
        previous: datetime | None = None
        for j, turn in enumerate(session.turns):
            try:
                text = clean_text(turn.text)
            except ChatInputError as exc:
                errors[i, j, "text"] = (
                    "This field may not be blank." if exc.code == "empty" else exc.detail
                )
                text = ""
            if turn.id is not None:
                if turn.id in turn_seen:
                    a, b = turn_seen[turn.id]
                    errors[i, j, "id"] = f"Turn id {turn.id!r} is used by sessions[{a}].turns[{b}]."
                turn_seen.setdefault(turn.id, (i, j))
            if turn.time is None:
                try:
                    at = session.started_at if previous is None else previous + TURN_STEP
                except OverflowError:  # a turn after 9999-12-31T23:59:59: already an error
                    errors.setdefault((i, j, "time"), "This time is in the future.")
                    at = previous or session.started_at
            else:
                at = turn.time
                if at > latest:
                    errors[i, j, "time"] = "This time is in the future."
                elif previous is None and at < session.started_at:
                    errors[i, j, "time"] = "This time is before the session's started_at."
                elif previous is not None and at < previous:
                    errors[i, j, "time"] = "This time is before the previous turn's."
            previous = at
            # Keyed by the turn's id when it has one, so a re-import with turns added before
            # it still finds it; otherwise by its place in the session.
            key = ["id", turn.id] if turn.id is not None else ["place", j]
            plan.turns.append(
                _Turn(
                    role=turn.role,
                    text=text,
                    at=at,
                    client_id=_client_id(cat, session.id, key),
                    turn_id=turn.id,
                )
            )
        planned.append(plan)
    if errors:
        raise ImportInvalid(_nested(errors))
    return planned


def _nested(errors: dict[tuple[int, int | None, str], str]) -> dict[str, Any]:
    """Errors by (session, turn, field) in DRF's shape for lists of objects: the items with
    errors by their index, e.g. `{"sessions": {2: {"turns": {5: {"role": ["..."]}}}}}`."""
    shaped: dict[int, dict[str, Any]] = {}
    for (i, j, name), message in errors.items():
        session = shaped.setdefault(i, {})
        if j is None:
            session[name] = [message]
        else:
            session.setdefault("turns", {}).setdefault(j, {})[name] = [message]
    return {"sessions": shaped}


# --- writing -------------------------------------------------------------------------------


def _write(cat: Cat, planned: list[_Session]) -> list[Message]:
    """Find what is there, add what is not; returns the messages added (in turn order), and
    sets each turn's message. One transaction of a fixed number of statements, whatever the
    document's size (inserts in batches of 1,000)."""
    for session in planned:
        for turn in session.turns:
            turn.message = None
    with transaction.atomic():
        found = {
            m.client_id: m
            for m in Message.objects.filter(
                conversation__cat=cat,
                client_id__in=[t.client_id for s in planned for t in s.turns],
            ).only("id", "conversation_id", "role", "text", "created_at", "client_id")
        }
        fresh: dict[str, Conversation] = {}  # session id -> its new conversation
        for session in planned:
            for turn in session.turns:
                turn.message = found.get(turn.client_id)
            if all(t.message is None for t in session.turns):
                fresh[session.id] = Conversation(
                    cat=cat, title=session.title or _default_title(session)
                )
        Conversation.objects.bulk_create(fresh.values(), batch_size=1000)
        created: list[Message] = []
        answered: list[Message | None] = []  # per created message, the message it answers
        at: list[datetime] = []  # per created message, its time
        ends: dict[int, datetime] = {}  # conversation id -> the time of its newest new message
        for session in planned:
            known = next((t.message for t in session.turns if t.message is not None), None)
            conversation_id = known.conversation_id if known else fresh[session.id].pk
            previous: _Turn | None = None
            for turn in session.turns:
                if turn.message is None:
                    turn.message = Message(
                        conversation_id=conversation_id,
                        role=turn.role,
                        text=turn.text,
                        status=Message.Status.COMPLETE,
                        client_id=turn.client_id,
                        kept=True,
                    )
                    created.append(turn.message)
                    at.append(turn.at)
                    # A cat turn answers the user turn right before it; of two cat turns in a
                    # row only the first does (the replies to one message are alternatives).
                    answers = turn.role == Message.Role.CAT and (
                        previous is not None and previous.role == Message.Role.USER
                    )
                    answered.append(previous.message if answers and previous else None)
                    ends[conversation_id] = max(ends.get(conversation_id, turn.at), turn.at)
                previous = turn
        Message.objects.bulk_create(created, batch_size=1000)
        _set_message_times(created, at, answered)
        _set_conversation_times(
            {c.pk: s.started_at for s in planned if (c := fresh.get(s.id)) is not None}, ends
        )
        profile = memory_profile(cat)
        # As `message_accept` queues a chat message: in the transaction that saves it.
        jobs_enqueue(
            profile=profile, message_ids=[m.pk for m in created if m.role == Message.Role.USER]
        )
        # What was said, found by its words as soon as this returns (learning embeds it:
        # memories.episodes); those already there are left as they are.
        episodes_record(profile=profile, said=[c for s in planned for c in _said(s)], embed=False)
    return created


def _client_id(cat: Cat, session_id: str, key: list[Any]) -> uuid.UUID:
    """The client_id of an imported turn: the same for the same cat, session and turn (so a
    re-import finds it), and unguessable by anyone else (a keyed hash, SECRET_KEY): client_ids
    are unique across all users, and a predictable one let another user take it first (the
    import then failed) or probe it (a chat send with it said whether it was imported). A
    change of SECRET_KEY makes a later re-import of an old document import it again."""
    value = json.dumps([cat.pk, session_id, *key])
    digest = salted_hmac(CLIENT_ID_SALT, value, algorithm="sha256").digest()
    return uuid.UUID(bytes=digest[:16], version=4)


def _default_title(session: _Session) -> str:
    """As a chat names its conversation: after the first line the human wrote."""
    first = next((t for t in session.turns if t.role == Message.Role.USER), session.turns[0])
    return _title(first.text)


def _set_message_times(
    created: list[Message], at: list[datetime], answered: list[Message | None]
) -> None:
    """Give the inserted messages their original times (`created_at` is `auto_now_add`, which
    an INSERT always sets to now) and their `reply_to`, known once the messages they answer
    have ids. One UPDATE."""
    if not created:
        return
    table = Message._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS m SET created_at = v.at, updated_at = v.at, "  # noqa: S608 - the table name is ours
            "reply_to_id = v.reply_to "
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[]) AS v(id, at, reply_to) "
            "WHERE m.id = v.id",
            [[m.pk for m in created], at, [a.pk if a else None for a in answered]],
        )
    for message, moment, answer in zip(created, at, answered, strict=True):
        message.created_at = message.updated_at = moment
        message.reply_to_id = answer.pk if answer else None


def _set_conversation_times(starts: dict[int, datetime], ends: dict[int, datetime]) -> None:
    """A new conversation starts at its session's start; a conversation with new messages was
    last updated at the newest of them (or later, when it went on after). One UPDATE."""
    if not ends:
        return
    ids = sorted(ends)
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET created_at = COALESCE(v.started, c.created_at), "  # noqa: S608 - the table name is ours
            "updated_at = CASE WHEN v.started IS NULL THEN GREATEST(c.updated_at, v.ended) "
            "ELSE v.ended END "
            "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) "
            "AS v(id, started, ended) WHERE c.id = v.id",
            [ids, [starts.get(i) for i in ids], [ends[i] for i in ids]],
        )


def _learn_soon() -> None:
    """Start learning from the queued jobs, as a finished chat turn does (`cats.chat`), on the
    server's event loop: a sync view under ASGI runs in a thread asgiref started for that loop,
    and the drain must outlive the request. Without one (a management command, WSGI, tests)
    the jobs wait, durable, for the next drain."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    pid = getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None)
    if loop is None or pid != os.getpid() or not loop.is_running():
        return
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
        # In a context of its own: the drain outlives this request, whose context (asgiref's
        # per-request thread, Django's request state) it must not inherit.
        loop.call_soon_threadsafe(learning.kick, context=contextvars.Context())
