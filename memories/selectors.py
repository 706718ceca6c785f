"""Reads of memories that carry permission rules: each fetches and authorizes in one step.

Someone else's profile or memory is indistinguishable from one that does not exist (`Http404`),
never a 403 that would confirm it exists. A profile's `user` is its cat's owner (one profile per
cat, made at adoption by `cats.services.cat_create`), so "the cat is yours" is "the profile is
yours": this app never needs to import `cats` to tell.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.postgres.search import SearchQuery
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404

from accounts.models import User
from memories.models import Memory, MemoryProfile

# `?status=` values: one status, or every memory whatever its status.
STATUS_ALL = "all"
STATUS_FILTERS = [*Memory.Status.values, STATUS_ALL]


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


def memories_of(profile: MemoryProfile, *, status: str = "active", q: str = "") -> QuerySet[Memory]:
    """The profile's memories with `status` (one of `STATUS_FILTERS`; "all" for every one),
    matching `q` if given, in `Memory.Meta.ordering` (pinned, important, newest first).

    `q` matches whole words through the full-text vector ('simple' config: any language, no
    stemming) or any part of the text ("sush" finds "loves sushi").
    """
    memories = Memory.objects.filter(profile=profile)
    if status != STATUS_ALL:
        memories = memories.filter(status=status)
    q = q.strip()
    if q:
        words = SearchQuery(q, config="simple", search_type="websearch")
        memories = memories.filter(Q(search=words) | Q(text__icontains=q))
    return memories


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
