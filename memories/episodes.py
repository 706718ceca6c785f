"""Episodes: every message the human writes, kept recallable as it is (`memories.models.Episode`).

How an episode is embedded, and why (measured on the dev split of LoCoMo, bench/README.md): as
one e5 passage holding the message with the cat's lines around it, labelled as in a transcript:

    Whiskers: how was your weekend?
    Me: went to the support group again, it really helped
    Whiskers: I'm so glad you went!

The human's own words alone are often an answer that means little by itself ("yes, on Sunday!");
the cat's question before it and its reply after it say what it was about. On 198 questions
(hit@1 / hit@5), the message alone scored 0.43 / 0.63, with the cat's line before 0.49 / 0.77,
with both 0.51 / 0.79; embedding the message as a query (symmetric) instead of a passage lost
0.09 / 0.08. The cat's lines are clipped to `CONTEXT_WORDS` words each (as good, and half the
cost). The full-text vector holds the three texts whole. The episode's `text` (what recall
returns, what the prompt and the receipts show) is the message alone.

So an episode is complete only once the cat has answered: a chat turn's episode is made by
learning, which runs after the reply (`memories.learning`). An import knows every turn's
neighbours: it records its episodes at once, found by their words as soon as it returns, and
learning embeds them in the background (a passage of a few lines takes ~0.05-0.15 s on one
core here: 2,500 of them would hold an import for minutes). Nothing is recorded while the
profile is switched off. Sync functions that embed block: call them off the event loop
(learning uses the async pieces).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from catchat import embeddings
from catchat.llm import LLMError
from memories.models import Episode, MemoryProfile

# Texts per embedding call when recording many episodes.
EMBED_BATCH = 32
# How the human is named in an episode's passage (the cat by its name).
HUMAN_LABEL = "Me"


class Said(Protocol):
    """What an episode is made from: a user message (`cats.models.Message`)."""

    pk: int
    conversation_id: int
    text: str
    created_at: datetime


@dataclass(frozen=True)
class Context:
    """A user message with the cat's lines around it in its conversation ("" when none)."""

    message: Said
    before: str = ""
    after: str = ""


def passage(cat_name: str, text: str, before: str = "", after: str = "") -> str:
    """What is embedded for an episode: the message between the cat's lines, as a transcript."""
    before, after = _tail(before), _head(after)
    lines = [f"{cat_name}: {before}"] if before else []
    lines.append(f"{HUMAN_LABEL}: {text}")
    if after:
        lines.append(f"{cat_name}: {after}")
    return "\n".join(lines)


# The cat's lines are clipped to their last (before) and first (after) words: the question it
# asked ends its line, the reaction begins the next. Measured on the LoCoMo dev split (tuned
# there, not evidence), hit@1/3/5/10 by words kept: all 0.53/0.75/0.81/0.86, 28 words
# 0.54/0.74/0.79/0.85, 16 words 0.53/0.75/0.82/0.87, 10 words 0.56/0.75/0.81/0.86: the same
# within a few questions of 198, for a passage ~2x cheaper to embed (e5's cost is linear in
# tokens here: ~1.1 ms each on one core), which every chat turn pays.
CONTEXT_WORDS = 10


def _tail(line: str) -> str:
    words = line.split()
    return " ".join(words[-CONTEXT_WORDS:]) if len(words) > CONTEXT_WORDS else line


def _head(line: str) -> str:
    words = line.split()
    return " ".join(words[:CONTEXT_WORDS]) if len(words) > CONTEXT_WORDS else line


def context_of(message: Any) -> Context:
    """`message` (a saved `cats.models.Message`) with the cat's kept lines right before and
    right after it in its conversation. Two small queries (by the conversation's index)."""
    around = type(message).objects.filter(conversation_id=message.conversation_id, kept=True)
    key = (message.created_at, message.pk)
    before = (
        around.filter(created_at__lte=key[0])
        .exclude(pk=message.pk)
        .order_by("-created_at", "-id")
        .values_list("role", "text", "created_at", "id")[:2]
    )
    after = (
        around.filter(created_at__gte=key[0])
        .exclude(pk=message.pk)
        .order_by("created_at", "id")
        .values_list("role", "text", "created_at", "id")[:2]
    )
    previous = next((r for r in before if (r[2], r[3]) < key), None)
    following = next((r for r in after if (r[2], r[3]) > key), None)
    return Context(
        message,
        before=previous[1] if previous and previous[0] == "cat" else "",
        after=following[1] if following and following[0] == "cat" else "",
    )


def episodes_record(*, profile: MemoryProfile, said: Sequence[Context], embed: bool = True) -> int:
    """Make each of `said` an episode of `profile`, embedded in batches (`embed`; otherwise
    without vectors, for learning to embed later); returns how many were given. Idempotent (an
    episode already there is left as it is); nothing while the profile is off. When the
    embedder fails the episodes are recorded without vectors: what was said is never dropped
    for want of a vector (full text finds it, and learning or `manage.py reembed_memories`
    embeds it later)."""
    if not profile.enabled or not said:
        return 0
    if not embed:
        rows = [episode(profile, c, None, "") for c in said]
        Episode.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        return len(rows)
    name = profile.cat.name
    rows = []
    for start in range(0, len(said), EMBED_BATCH):
        batch = said[start : start + EMBED_BATCH]
        vectors: Sequence[list[float] | None]
        try:
            vectors = embeddings.embed_passages_sync(
                [passage(name, c.message.text, c.before, c.after) for c in batch]
            )
            model = embeddings.model_name()
        except (LLMError, OSError):
            vectors, model = [None] * len(batch), ""
        rows += [episode(profile, c, v, model) for c, v in zip(batch, vectors, strict=True)]
    Episode.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    return len(rows)


def episode(
    profile: MemoryProfile, said: Context, vector: list[float] | None, model: str
) -> Episode:
    """The (unsaved) episode of `said`, with its vector made by `model` (None: none yet)."""
    message = said.message
    return Episode(
        message_id=message.pk,
        profile=profile,
        conversation_id=message.conversation_id,
        text=message.text,
        before=said.before,
        after=said.after,
        said_at=message.created_at,
        embedding=vector,
        embedding_model=model if vector is not None else "",
    )
