""" "Forget that ...", said in the chat: what the human asked the cat to forget, and forgetting
exactly that.

A request names something ("forget that I live in Lyon") or nothing ("forget it": what they
just said). A named thing is forgotten only where it matches: a fact or an episode matches when
it holds more than half of the request's content words (a word matches its inflections: "live"
and "Lives"). Nearness of vectors alone never decides: asked to forget Lyon when nothing about
Lyon is remembered, the nearest memory ("Works as a nurse") is not it, and nothing is
forgotten; the cat says it did not know that. A bare request forgets the human's previous
message: its episode and the facts learned from it, and whatever learning had yet to draw from
it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q

from accounts.models import User
from catchat import embeddings
from memories import heuristics
from memories.models import Episode, ExtractionJob, Memory, MemoryHistory, MemoryProfile
from memories.recall import EPISODE, FACT, recall, search_terms
from memories.services import memory_reject, memory_restore, memory_withdraw

# Candidates looked at per kind for a named request.
CANDIDATES = 20
# Two words match when they are equal, or one is the other with an ending of at most
# `ENDING` letters ("live" and "lives", "scared" and "scare"), the shorter of at least `STEM`.
# A shared beginning is not enough: "interview" is not "international".
STEM = 4
ENDING = 3
# A bare "forget it" is a request only when it stands (nearly) alone: "Forget it, I'll plan it
# myself" is a "never mind". At most this many other words (please, ok, can you...).
BARE_EXTRA_WORDS = 2
_FILLER = frozenset(
    """please pls plz ok okay kitty cat just now can could would will you for me thanks
    s'il te plaît stp svp minou peux-tu tu peux por favor""".split()
)


@dataclass(frozen=True)
class Forgetting:
    """What a "forget ..." message asked (`what`: "" for a bare "forget it") and what was
    forgotten: the texts of the facts rejected (`facts`) and how many episodes went."""

    what: str
    facts: list[str] = field(default_factory=list)
    episodes: int = 0

    @property
    def forgot_anything(self) -> bool:
        return bool(self.facts or self.episodes)


def forget_request(text: str) -> str | None:
    """What `text` asks the cat to forget ("" for "forget it"), or None for any other message:
    not "Forget-me-nots are my favourite flowers", not "Forget it, I'll do it myself"."""
    if re.match(r"^\W*(?:forget|oublie)-(?!moi\b|le\b|la\b|les\b)\w", text, re.IGNORECASE):
        return None  # a word that begins with it ("forget-me-nots")
    what = heuristics.forget_request(text)
    if what == "":
        said = re.findall(r"[\w'’-]+", text.lower())
        rest = [
            w
            for w in said
            if w not in _FILLER
            and not w.startswith(("forget", "oubli", "olvid"))
            and w not in ("it", "that", "this", "ça", "ca", "cela", "eso", "lo", "about")
        ]
        if len(rest) > BARE_EXTRA_WORDS:
            return None
    return what


def forget_asked(
    *,
    profile: MemoryProfile,
    what: str,
    message_id: int,
    previous_message_id: int | None,
    actor_user: User | None,
    query_vector: list[float] | None = None,
) -> Forgetting:
    """Carry out "forget `what`", asked in message `message_id`: reject the active facts and
    delete the episodes that match it (see the module's docstring), or, for a bare request,
    those of `previous_message_id` (the human's message before), cancelling learning from it.
    Each rejected fact has a history row naming the user. `query_vector` is `what` embedded as
    a query (`embed_request`), if at hand: it only orders the candidates."""
    if not what:
        return _forget_message(profile, previous_message_id, message_id, actor_user, what)
    wanted = _content_words(what)
    if not wanted:
        return Forgetting(what)
    candidates = recall(
        profile=profile,
        query_text=what,
        query_vector=query_vector,
        model=embeddings.model_name(),
        limit=2 * CANDIDATES,
        token_budget=100_000,
        include_pinned=False,
        exclude_messages=[message_id],
    )
    hits = [c for c in candidates if _matches(wanted, c.text)]
    fact_ids = [c.id for c in hits if c.kind == FACT]
    episode_ids = [c.id for c in hits if c.kind == EPISODE]
    return _forget(profile, what, fact_ids, episode_ids, message_id, actor_user)


def _forget_message(
    profile: MemoryProfile,
    previous_id: int | None,
    message_id: int,
    actor_user: User | None,
    what: str,
) -> Forgetting:
    if previous_id is None:
        return Forgetting(what)
    _stop_learning(previous_id, f"{ExtractionJob.FORGOTTEN} (message {message_id})")
    fact_ids = list(
        profile.memories.filter(
            source_message_id=previous_id, status=Memory.Status.ACTIVE
        ).values_list("pk", flat=True)
    )
    return _forget(profile, what, fact_ids, [previous_id], message_id, actor_user)


def _stop_learning(message_id: int, why: str) -> None:
    """Learning from the message, if it has yet to run, must not bring it back, and its job
    says why (unless it says it is never to be learned: forgotten, or memory was off). A batch
    saving its facts, or its episode, holds the job's row until it commits, so this waits for
    it, and what is read next includes what it saved (read before, it was kept)."""
    ExtractionJob.objects.filter(message_id=message_id).exclude(
        Q(error__startswith=ExtractionJob.FORGOTTEN) | Q(error__startswith=ExtractionJob.MEMORY_OFF)
    ).update(status=ExtractionJob.Status.DONE, error=why)


def message_withdraw(
    *, profile: MemoryProfile, message_id: int, actor_user: User | None, why: str
) -> int:
    """The human took message `message_id` back (`why`: "edited", or "switched" to another
    version of it; `cats.services.versions`): what it said is no longer true to the cat. The
    facts learned from it are superseded (by nothing: their history says why), its episode
    goes, and learning from it, if it has yet to run, will not. What those facts had replaced
    comes back, when the message it came from is shown (and still true to the cat: a fact
    replaced by something else since, or forgotten, stays as it is). Returns how many facts
    went."""
    _stop_learning(message_id, f"{ExtractionJob.TAKEN_BACK}: {why} (message {message_id})")
    note = f"its message was {why} (message {message_id})"
    with transaction.atomic():
        facts = list(
            profile.memories.filter(source_message_id=message_id, status=Memory.Status.ACTIVE)
            .select_related("profile")
            .order_by("pk")
        )
        for memory in facts:
            memory_withdraw(
                memory=memory, actor=MemoryHistory.Actor.USER, actor_user=actor_user, note=note
            )
        replaced = (
            profile.memories.filter(
                superseded_by__in=[m.pk for m in facts], status=Memory.Status.SUPERSEDED
            )
            .filter(Q(source_message__isnull=True) | Q(source_message__kept=True))
            .select_related("profile")
            .order_by("pk")
        )
        for memory in replaced:
            memory_restore(
                memory=memory,
                actor=MemoryHistory.Actor.USER,
                actor_user=actor_user,
                note=f"what replaced it was taken back: {note}",
            )
        Episode.objects.filter(profile=profile, message_id=message_id).delete()
    return len(facts)


def _forget(
    profile: MemoryProfile,
    what: str,
    fact_ids: list[int],
    episode_ids: list[int],
    message_id: int,
    actor_user: User | None,
) -> Forgetting:
    with transaction.atomic():
        facts = list(
            profile.memories.filter(pk__in=fact_ids, status=Memory.Status.ACTIVE)
            .select_related("profile")
            .order_by("pk")
        )
        for memory in facts:
            memory_reject(
                memory=memory,
                actor=MemoryHistory.Actor.USER,
                actor_user=actor_user,
                note=f"asked in chat (message {message_id})",
            )
        episodes, _ = Episode.objects.filter(profile=profile, message_id__in=episode_ids).delete()
    return Forgetting(what, [m.text for m in facts], episodes)


def embed_request(text: str) -> list[float] | None:
    """`text` (what to forget) as a recall query, or None if the embedder fails. Blocks: call it
    off the event loop, and outside any row lock."""
    try:
        return embeddings.embed_query_sync(text)
    except Exception:  # noqa: BLE001 - without a vector, full text still finds candidates
        return None


def _fold(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _content_words(text: str) -> list[str]:
    return [_fold(w) for w in search_terms(text)]


def _same_word(a: str, b: str) -> bool:
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return len(short) >= STEM and long.startswith(short) and len(long) - len(short) <= ENDING


def _matches(wanted: list[str], text: str) -> bool:
    """More than half of the request's content words are in `text`."""
    words = _content_words(text)
    found = sum(1 for w in wanted if any(_same_word(w, t) for t in words))
    return found * 2 > len(wanted)
