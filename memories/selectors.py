"""Reads of memories that carry permission rules: each fetches and authorizes in one step.

Someone else's profile or memory is indistinguishable from one that does not exist (`Http404`),
never a 403 that would confirm it exists. A profile's `user` is its cat's owner (one profile per
cat, made at adoption by `cats.services.cat_create`), so "the cat is yours" is "the profile is
yours": this app never needs to import `cats` to tell.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from accounts.models import User
from catchat import embeddings
from catchat.llm import LLMError
from memories.models import Episode, Memory, MemoryProfile
from memories.recall import FACT, Recalled, recall

# `?status=` values: one status, or every memory whatever its status.
STATUS_ALL = "all"
STATUS_FILTERS = [*Memory.Status.values, STATUS_ALL]
# Results of a search (`?q=`): the best few, as a search engine shows, not a filtered set.
SEARCH_LIMIT = 20
# A search shows, of what only vectors found, those nearly as near as the nearest (cosine
# distance): e5's scores bunch (STACK.md), so a margin of the best, not a threshold.
SEARCH_MARGIN = 0.04


def access_profile(user: User, cat_id: int) -> MemoryProfile:
    """The memory profile of `user`'s cat `cat_id`, with its cat; 404 if the cat isn't theirs."""
    if not user.is_authenticated:
        raise Http404("No such cat.")
    profile = MemoryProfile.objects.filter(user=user, cat_id=cat_id).select_related("cat").first()
    if profile is None:
        raise Http404("No such cat.")
    profile.user = user  # known already: spares a query wherever profile.user is read
    return profile


def access_memory(user: User, memory_id: int) -> Memory:
    """`user`'s memory `memory_id` with its profile (the services read it); 404 otherwise."""
    if not user.is_authenticated:
        raise Http404("No such memory.")
    memory = (
        Memory.objects.filter(pk=memory_id, profile__user=user).select_related("profile").first()
    )
    if memory is None:
        raise Http404("No such memory.")
    return memory


def memories_of(profile: MemoryProfile, *, status: str = "active") -> QuerySet[Memory]:
    """The profile's memories with `status` (one of `STATUS_FILTERS`; "all" for every one), in
    `Memory.Meta.ordering` (pinned, important, newest first)."""
    memories = Memory.objects.filter(profile=profile)
    if status != STATUS_ALL:
        memories = memories.filter(status=status)
    return memories


def memories_search(
    profile: MemoryProfile, *, q: str, status: str = "active", limit: int = SEARCH_LIMIT
) -> list[Memory]:
    """The profile's memories with `status` that answer `q`, best first: ranked by the cat's
    own recall (`memories.recall.recall`, facts only, pinning aside), so a natural question
    ("where do I work?") finds its memory; then those holding `q` as a part of their text
    ("sush" finds "Loves sushi") that recall left out. At most `limit`. Embeds `q` (blocks: a
    sync view's thread, never an event loop); without a vector, full text still ranks.

    Of what only vectors found, those within `SEARCH_MARGIN` of the nearest are shown: recall
    ranks every candidate it sees, however far.
    """
    q = q.strip()
    statuses = Memory.Status.values if status == STATUS_ALL else [status]
    # Nothing to mean ("_", "@@"): only the texts holding it.
    meaningful = any(c.isalnum() for c in q)
    found = recall(
        profile=profile,
        query_text=q,
        query_vector=_query_vector(q) if meaningful else None,
        model=embeddings.model_name(),
        limit=limit,
        token_budget=1_000_000,
        include_pinned=False,
        kinds=frozenset({FACT}),
        statuses=statuses,
    )
    best = min((f.distance for f in found if f.distance is not None), default=None)
    ranked = [
        f.id
        for f in found
        if f.text_rank is not None
        or (f.distance is not None and best is not None and f.distance <= best + SEARCH_MARGIN)
    ]
    part_of = (
        Memory.objects.filter(profile=profile, status__in=statuses, text__icontains=q)
        .exclude(pk__in=ranked)  # in Memory.Meta.ordering
        .values_list("pk", flat=True)[: max(0, limit - len(ranked))]
    )
    wanted = [*ranked, *part_of]
    memories = memories_with_sources(Memory.objects.filter(pk__in=wanted)).in_bulk()
    return [memories[pk] for pk in wanted if pk in memories]


def recall_for(profile: MemoryProfile, *, q: str, limit: int = 10) -> list[Recalled]:
    """What the cat of `profile` would recall for `q`, as a chat turn ranks it (facts and
    episodes, pinned facts first), without the prompt's token budget; nothing while the profile
    is switched off. Embeds `q` (blocks). Reads only."""
    if not profile.enabled:
        return []
    return recall(
        profile=profile,
        query_text=q,
        query_vector=_query_vector(q),
        model=embeddings.model_name(),
        limit=limit,
        token_budget=1_000_000,
    )


def _query_vector(q: str) -> list[float] | None:
    try:
        return embeddings.embed_query_sync(q)
    except (LLMError, OSError):
        return None


def memory_texts(cat_id: int, ids: Iterable[int]) -> dict[int, str]:
    """The text of each of `ids` among the memories of cat `cat_id` (whose access the caller has
    checked), for the "remembered" receipts under its replies. One query. Forgotten memories are
    left out: the human asked for them to be gone, so their words are not shown again."""
    wanted = set(ids)
    if not wanted:
        return {}
    return dict(
        Memory.objects.filter(profile__cat_id=cat_id, pk__in=wanted)
        .exclude(status=Memory.Status.REJECTED)
        .values_list("pk", "text")
    )


def memories_with_sources(memories: QuerySet[Memory]) -> QuerySet[Memory]:
    """`memories` ready to be shown: the replacement of a superseded one and, for each source
    message, its conversation and time (`source_conversation_id`, `source_created_at`), all
    in the same query; the history in one more."""
    return (
        memories.select_related("superseded_by")
        .annotate(
            source_conversation_id=F("source_message__conversation_id"),
            source_created_at=F("source_message__created_at"),
        )
        .prefetch_related("history")
    )


def status_counts(profile: MemoryProfile) -> dict[str, int]:
    """How many memories of the profile have each status, in one query."""
    counts = Memory.objects.filter(profile=profile).aggregate(
        **{status: Count("pk", filter=Q(status=status)) for status in Memory.Status.values}
    )
    return {status: int(counts[status]) for status in Memory.Status.values}


def episode_snippets(cat_id: int, ids: Iterable[int]) -> dict[int, tuple[str, datetime, int]]:
    """For each of `ids` (message ids) that is an episode of cat `cat_id` (whose access the caller
    has checked): what the human said, when, and in which conversation, for the "remembered"
    receipts under the cat's replies. One query; none without ids. An episode gone (its
    conversation deleted, or forgotten) is left out: its words are not shown again."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {
        message_id: (text, said_at, conversation_id)
        for message_id, text, said_at, conversation_id in Episode.objects.filter(
            profile__cat_id=cat_id, message_id__in=wanted
        ).values_list("message_id", "text", "said_at", "conversation_id")
    }
