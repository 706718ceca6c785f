"""Recall: the few memories worth putting in front of the cat for one message.

Hybrid search within one memory profile: pgvector cosine distance between the message's vector
and each memory's, and PostgreSQL full text (the `search` column, config 'simple', an OR of the
message's words without stop words), merged by reciprocal rank fusion weighted toward the
vectors; pinned memories always come first; the whole list fits a token budget. One SQL query,
whatever the number of memories.

Why so little weight on full text (measured in memories/tests/test_recall_quality.py, numbers
in recall_scores.json): e5 alone put the right memory first for 24 of 29 questions; plain RRF
(k=60, equal weights) lost one of those to a shared word ("how was work tonight?" brought "Rides
an old red Vespa to work" above "Works as a nurse at night"), and no weight made full text win a
question the vectors lost. So full text only breaks near-ties between vectors and, above all,
keeps recall working without a vector (embedder down: 14 of 29 in the top three).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from pgvector import Vector

from memories.models import Episode, Memory, MemoryProfile

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Fusion:
    """Weighted reciprocal rank fusion: a memory scores `weight / (k + rank)` in each list."""

    k: int = 10
    vector_weight: float = 1.0
    text_weight: float = 0.3


# Measured in memories/tests/test_recall_quality.py (see recall_scores.json).
FUSION = Fusion()

_WORD_RE = re.compile(r"[^\W_]+")
# Function words of the languages our humans write in. The 'simple' configuration has no stop
# words (it must not stem or drop words of any one language), so without this "is" or "the"
# would match half the memories. Words that mean something in another language stay out
# (French "son" is English "son").
STOP_WORDS = frozenset(
    """
    about above after again all also am an and any are as at be because been before being both
    but by can could did do does doing down during each few for from further had has have having
    he her here hers him his how if in into is it its just me more most my no nor not now of off
    on once only or other our ours out over own same she should so some such than that the their
    them then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours
    au aux avec ce ces cet cette dans de des du elle en est et il ils je la le les leur lui ma
    mais me mes moi mon ne nous on ou où par pas pour qu que qui sa se ses sur ta te tes toi ton
    tu un une vos votre vous
    al como con del el ella ellos es esta está este los las lo mi mis para pero por qué su sus
    tu tus una uno yo
    der die das und ist ich du er sie es ein eine nicht mit zu von den dem
    il lo gli che di è per non
    """.split()
)


def memory_tokens(text: str) -> int:
    """The budget a memory's text takes in a prompt: about one token per four characters."""
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


def search_terms(text: str) -> list[str]:
    """The words of `text` worth a full-text match: lowercased, no stop words, no duplicates."""
    seen: dict[str, None] = {}
    for word in _WORD_RE.findall(text.lower()):
        # One letter is never worth it: the "s" of "what's" matched "Mother's name is Awa".
        if len(word) > 1 and word not in STOP_WORDS:
            seen.setdefault(word, None)
    return list(seen)


def _raw_tsquery(terms: list[str]) -> str:
    """An OR of the words (for to_tsquery, 'simple' configuration).

    OR, not websearch: a question shares a word or two with the memory it is about ("how is Rex
    doing?" and "Has a dog named Rex"), never all of them. Each term is letters and digits only
    (see _WORD_RE), so quoting makes a valid tsquery.
    """
    return " | ".join(f"'{term}'" for term in terms)


FACT = "fact"
EPISODE = "episode"
KINDS = frozenset({FACT, EPISODE})
# How much of an episode a prompt shows: the gist of a long message, not all of it.
EPISODE_SNIPPET_CHARS = 280


@dataclass(frozen=True)
class Recalled:
    """One thing recalled: a fact (a memory) or an episode (a message the human wrote).

    `id` is the memory's id for a fact and the message's for an episode; `source_message` is
    the message a fact came from (None for one written by hand) or the episode's own message;
    `at` is when it was said (an episode's message time; a fact's `valid_from`).
    """

    kind: str
    id: int
    text: str
    score: float
    source_message: int | None
    at: datetime
    conversation: int | None = None  # an episode's conversation (a fact's is its source's)
    pinned: bool = False
    importance: int = 3
    category: str = ""
    distance: float | None = None  # cosine distance to the query, if compared by vector
    text_rank: float | None = None  # full-text rank, if its words matched

    @property
    def pk(self) -> int:
        return self.id

    def snippet(self, chars: int = EPISODE_SNIPPET_CHARS) -> str:
        """The text as a prompt shows it: an episode cut to `chars` at a word, a fact whole."""
        if self.kind == FACT or len(self.text) <= chars:
            return self.text
        cut = self.text[: chars - 1].rsplit(maxsplit=1)[0] if " " in self.text else ""
        return (cut or self.text[: chars - 1]) + "…"


@functools.cache
def _recall_sql(*, kinds: frozenset[str], with_vector: bool, with_text: bool, pinned: bool) -> str:
    """The recall query (named parameters: profile, statuses, model, vector, terms, candidates,
    exclude).

    Shape, and why (EXPLAIN ANALYZE on 1,000,000 memories, 10,000 of them in one profile): the
    profile's active memories and its episodes are each read once, through an index on the
    profile, into a materialized CTE that keeps only each one's id, cosine distance and
    full-text rank; the ranked lists (by vector, by full text, for each kind) and the pinned
    memories are taken from them, and only the few winners are read in full, by primary key.
    Materialized, so that each scan runs once (the planner would otherwise inline it into each
    list).

    The full-text terms are matched against the profile's own rows, never looked up in a GIN
    index: such an index spans every profile, and a common word matched tens of thousands of
    rows table-wide before the profile filter threw them away ("cousin | called": 157,000 rows,
    73 ms), where matching 10,000 rows of the profile costs 1-3 ms whatever the words. The
    vector part is exact, with no approximate index: an HNSW index filtered to one profile among
    thousands would have to walk much of the graph, and its results would differ from the exact
    ones the recall quality measurements report.
    """
    quote = connection.ops.quote_name
    memories, episodes = quote(Memory._meta.db_table), quote(Episode._meta.db_table)
    # Guarded: a vector of another model may have other dimensions, and <=> would fail.
    distance = (
        "CASE WHEN embedding IS NOT NULL AND embedding_model = %(model)s"
        " THEN embedding <=> %(vector)s::vector END"
        if with_vector
        else "NULL::double precision"
    )
    tsquery = "to_tsquery('simple'::regconfig, %(terms)s)"
    text_rank = (
        f"CASE WHEN search @@ {tsquery} THEN ts_rank(search, {tsquery}) END"
        if with_text
        else "NULL::real"
    )
    scans, wanted = [], []
    if FACT in kinds:
        scans.append(
            f"""facts AS MATERIALIZED (SELECT id, pinned, {distance} AS distance,
            {text_rank} AS text_rank FROM {memories}
            WHERE profile_id = %(profile)s AND status = ANY(%(statuses)s))"""  # noqa: S608
        )
    if EPISODE in kinds:
        scans.append(
            f"""episodes AS MATERIALIZED (SELECT message_id AS id, false AS pinned,
            {distance} AS distance, {text_rank} AS text_rank FROM {episodes}
            WHERE profile_id = %(profile)s AND NOT (message_id = ANY(%(exclude)s)))"""  # noqa: S608
        )
    for kind, scan in ((FACT, "facts"), (EPISODE, "episodes")):
        if kind not in kinds:
            continue
        take = f"SELECT '{kind}' AS kind, id, distance, text_rank FROM {scan}"  # noqa: S608
        if with_vector:
            wanted.append(
                f"({take} WHERE distance IS NOT NULL ORDER BY distance, id LIMIT %(candidates)s)"
            )
        if with_text:
            wanted.append(
                f"({take} WHERE text_rank IS NOT NULL ORDER BY text_rank DESC, id"
                " LIMIT %(candidates)s)"
            )
        if kind == FACT and pinned:
            wanted.append(f"({take} WHERE pinned)")
    # Built from constant fragments and the models' own names; every value is a parameter.
    return f"""
        WITH {", ".join(scans)}, wanted AS ({" UNION ".join(wanted)})
        SELECT w.kind, w.id, w.distance, w.text_rank,
            coalesce(m.text, e.text) AS text,
            coalesce(m.source_message_id, e.message_id) AS source_message,
            coalesce(m.valid_from, e.said_at) AS at,
            e.conversation_id, coalesce(m.pinned, false) AS pinned,
            coalesce(m.importance, 3) AS importance, coalesce(m.category, '') AS category,
            coalesce(m.created_at, e.said_at) AS created_at
        FROM wanted w
        LEFT JOIN {memories} m ON w.kind = '{FACT}' AND m.id = w.id
        LEFT JOIN {episodes} e ON w.kind = '{EPISODE}' AND e.message_id = w.id
    """  # noqa: S608


def recall(
    *,
    profile: MemoryProfile,
    query_text: str,
    query_vector: list[float] | None,
    model: str,
    limit: int = 6,
    token_budget: int = 300,
    include_pinned: bool = True,
    kinds: frozenset[str] = KINDS,
    exclude_messages: Sequence[int] = (),
    statuses: Sequence[str] = (Memory.Status.ACTIVE,),
    fusion: Fusion = FUSION,
) -> list[Recalled]:
    """What `profile`'s cat remembers that is most relevant to a text, best first: active facts
    and episodes (`kinds`) in one ranked list, pinned facts first.

    `query_vector` is the text embedded as a query by the current embedder and `model` that
    embedder's name (`catchat.embeddings.model_name()`): only vectors of the same model are
    compared. Without a vector (embedder down) recall falls back to full text and pinned facts.
    Episodes of `exclude_messages` (the messages the prompt shows anyway) are left out, and of
    a fact and the message it came from only the better ranked is kept (they say one thing).
    At most `limit` items whose texts fit `token_budget` (see `memory_tokens`; an episode
    counts its snippet); pinned facts take their share first and, when they alone exceed the
    budget or the limit, the most important of them are kept. An item too long for what is left
    of the budget is skipped and shorter ones after it may still fit.

    Facts of other `statuses` than active are for searching what was forgotten or replaced,
    never for a prompt. Does not look at `profile.enabled` (the caller decides). One SQL query,
    whatever the number of facts and episodes.
    """
    kinds = frozenset(kinds) & KINDS
    if limit <= 0 or token_budget <= 0 or not kinds:
        return []
    candidates = max(4 * limit, 20)  # per ranked list, so that fusion sees more than the winners
    terms = search_terms(query_text)
    pinned = include_pinned and FACT in kinds
    if not (pinned or query_vector is not None or terms):
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _recall_sql(
                kinds=kinds,
                with_vector=query_vector is not None,
                with_text=bool(terms),
                pinned=pinned,
            ),
            {
                "profile": profile.pk,
                "statuses": [str(s) for s in statuses],
                "model": model,
                "vector": None if query_vector is None else Vector(query_vector).to_text(),
                "terms": _raw_tsquery(terms),
                "candidates": candidates,
                "exclude": list(exclude_messages),
            },
        )
        rows = cursor.fetchall()
    scores = _fused_scores([(r[0], r[1], r[2], r[3]) for r in rows], fusion)
    items = [
        Recalled(
            kind=kind,
            id=pk,
            text=text,
            score=round(scores[kind, pk], 6),
            source_message=source,
            at=at,
            conversation=conversation,
            pinned=is_pinned,
            importance=importance,
            category=category,
            distance=distance,
            text_rank=text_rank,
        )
        for (
            kind,
            pk,
            distance,
            text_rank,
            text,
            source,
            at,
            conversation,
            is_pinned,
            importance,
            category,
            _,
        ) in rows
    ]
    created = {(r[0], r[1]): r[11] for r in rows}
    first = sorted(
        (i for i in items if pinned and i.pinned),
        key=lambda i: (-i.importance, -i.score, -created[i.kind, i.id].timestamp(), -i.id),
    )
    others = sorted(
        (i for i in items if not (pinned and i.pinned) and i.score > 0),
        key=lambda i: (-i.score, i.kind != FACT, -i.importance, -i.id),
    )
    chosen: list[Recalled] = []
    said: set[int] = set()  # the messages already represented
    left = token_budget
    for item in [*first, *others]:
        if len(chosen) == limit:
            break
        if item.source_message is not None and item.source_message in said:
            continue
        cost = memory_tokens(item.snippet())
        if cost <= left:
            chosen.append(item)
            left -= cost
            if item.source_message is not None:
                said.add(item.source_message)
    return chosen


def _fused_scores(
    rows: list[tuple[str, int, float | None, float | None]], fusion: Fusion
) -> dict[tuple[str, int], float]:
    """Weighted reciprocal rank fusion of the vector order and the full-text order of the rows
    (kind, id, distance, text rank; None where that search did not see them), facts and
    episodes ranked together."""
    by_vector = sorted((d, kind, pk) for kind, pk, d, _ in rows if d is not None)
    by_text = sorted((-r, kind, pk) for kind, pk, _, r in rows if r is not None)
    scores = {(kind, pk): 0.0 for kind, pk, _, _ in rows}
    for weight, ranked in ((fusion.vector_weight, by_vector), (fusion.text_weight, by_text)):
        for position, (_, kind, pk) in enumerate(ranked, start=1):
            scores[kind, pk] += weight / (fusion.k + position)
    return scores
