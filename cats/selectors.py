"""Reads that carry permission rules: each fetches and authorizes in one step.

Someone else's cat or conversation is indistinguishable from one that does not exist
(`Http404` / `None`), never a 403 that would confirm it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from accounts.models import User
from catchat import embeddings
from catchat.llm import LLMError
from cats.models import Cat, Conversation, Message
from memories.models import MemoryProfile
from memories.recall import EPISODE, recall
from memories.selectors import SEARCH_MARGIN

# Results of a conversation search (`?q=`): the best few, as a search engine shows.
CONVERSATION_SEARCH_LIMIT = 20


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


def recent_messages(
    conversation: Conversation, limit: int, *, kept_only: bool = False
) -> list[Message]:
    """The newest `limit` messages of a conversation, oldest first.

    `kept_only`: of the replies to each user message (a regenerated turn keeps the earlier ones
    as alternatives), only the kept one: what the page shows and the model is shown again.
    """
    messages = conversation.messages.all()
    if kept_only:
        messages = messages.filter(kept=True)
    newest = list(messages.order_by("-created_at", "-id")[:limit])
    newest.reverse()
    return newest


def reply_alternatives(
    conversation: Conversation, shown: list[Message]
) -> dict[int, list[Message]]:
    """Every reply (kept or not) to the user messages that the cat replies in `shown` answer,
    oldest first, by the id of the user message they answer. One query; none when `shown`
    holds no reply."""
    answered = {m.reply_to_id for m in shown if m.role == Message.Role.CAT and m.reply_to_id}
    if not answered:
        return {}
    alternatives: dict[int, list[Message]] = {}
    replies = Message.objects.filter(
        conversation=conversation, role=Message.Role.CAT, reply_to_id__in=answered
    ).order_by("created_at", "id")
    for reply in replies:
        assert reply.reply_to_id is not None  # noqa: S101 - filtered on it
        alternatives.setdefault(reply.reply_to_id, []).append(reply)
    return alternatives


def find_cat_message(cat: Cat, message_id: int) -> Message | None:
    """The message with that id in one of `cat`'s conversations (the cat is authorized), its
    conversation joined in."""
    return (
        Message.objects.filter(pk=message_id, conversation__cat=cat)
        .select_related("conversation")
        .first()
    )


def access_message(user: User, message_id: int) -> Message:
    """The message with that id if it is in a conversation with one of the user's cats (one
    query, its conversation and cat joined in); Http404 otherwise."""
    message = (
        Message.objects.filter(pk=message_id, conversation__cat__owner=user)
        .select_related("conversation__cat")
        .first()
        if user.is_authenticated
        else None
    )
    if message is None:
        raise Http404("No such message.")
    message.conversation.cat.owner = user  # known already: spares a query wherever it is read
    return message


@dataclass(frozen=True)
class ConversationHit:
    """A conversation that answers a search, with what in it answers: the human's message
    the cat's recall ranked (or the first message, or the title, holding the words)."""

    conversation: Conversation
    snippet: str
    message: int | None


def conversations_search(
    cat: Cat, *, q: str, limit: int = CONVERSATION_SEARCH_LIMIT
) -> list[ConversationHit]:
    """The cat's conversations (the cat is authorized) that answer `q`, best first.

    Ranked by the cat's own recall of what the human said (`memories.recall.recall`, episodes
    only: the same hybrid of meaning and words as the memory search, with the same margin for
    what only vectors found), then the conversations whose title or any message they show
    holds `q` as a part of its text that recall left out (the cat's lines, or words said while
    memory was off). Embeds `q` (blocks: a sync view's thread). Three queries whatever the number of
    conversations: recall, the ranked conversations, the ones holding the text.
    """
    q = q.strip()
    if not q:
        return []
    ranked: dict[int, tuple[str, int]] = {}  # conversation id -> (snippet, message id)
    profile = _profile(cat)
    if profile is not None and any(c.isalnum() for c in q):
        found = recall(
            profile=profile,
            query_text=q,
            query_vector=_query_vector(q),
            model=embeddings.model_name(),
            limit=4 * limit,
            token_budget=1_000_000,
            include_pinned=False,
            kinds=frozenset({EPISODE}),
        )
        best = min((f.distance for f in found if f.distance is not None), default=None)
        for f in found:
            near = best is not None and f.distance is not None
            close = near and f.distance <= best + SEARCH_MARGIN  # type: ignore[operator]
            if f.conversation is not None and (f.text_rank is not None or close):
                ranked.setdefault(f.conversation, (f.text, f.id))
    by_id = Conversation.objects.filter(cat=cat, pk__in=list(ranked)).in_bulk()
    hits = [
        ConversationHit(by_id[pk], text, message)
        for pk, (text, message) in ranked.items()
        if pk in by_id
    ][:limit]
    # Always asked (not only when recall left room): the same queries whatever is found.
    # What the conversation shows (not an edited message's earlier version, say).
    holding = Message.objects.filter(
        conversation=OuterRef("pk"), kept=True, text__icontains=q
    ).order_by("created_at", "id")
    more = (
        Conversation.objects.filter(cat=cat)
        .exclude(pk__in=[h.conversation.pk for h in hits])
        .annotate(
            hit_id=Subquery(holding.values("pk")[:1]),
            hit_text=Subquery(holding.values("text")[:1]),
        )
        .filter(Q(title__icontains=q) | Q(hit_id__isnull=False))[:limit]
    )
    hits += [ConversationHit(c, c.hit_text or c.title, c.hit_id) for c in more]
    return hits[:limit]


def _profile(cat: Cat) -> MemoryProfile | None:
    # select_related by `find_cat`; a cat adopted before memories existed may have none.
    try:
        return cat.memory_profile
    except MemoryProfile.DoesNotExist:
        return None


def _query_vector(q: str) -> list[float] | None:
    try:
        return embeddings.embed_query_sync(q)
    except (LLMError, OSError):
        return None
