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
from dataclasses import dataclass

from django.db import connection
from pgvector import Vector

from memories.models import Memory, MemoryProfile

CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Fusion:
    """Weighted reciprocal rank fusion: a memory scores `weight / (k + rank)` in each list."""

    k: int = 10
    vector_weight: float = 1.0
    text_weight: float = 0.05


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


@functools.cache
def _recall_sql(*, with_vector: bool, with_text: bool, include_pinned: bool) -> str:
    """The recall query (named parameters: profile, active, model, vector, terms, candidates).

    Shape, and why (EXPLAIN ANALYZE on 1,000,000 memories, 10,000 of them in one profile): the
    profile's active memories are read once, through an index on the profile, into a
    materialized CTE that keeps only each one's id, pinned flag, cosine distance and full-text
    rank; both ranked lists and the pinned memories are taken from it, and only the few winners
    are read in full, by primary key. Materialized, so that the scan runs once (the planner
    would otherwise inline it into each list).

    The full-text terms are matched against the profile's own rows, never looked up in the GIN
    index: that index spans every profile, and a common word matched tens of thousands of rows
    table-wide before the profile filter threw them away ("cousin | called": 157,000 rows,
    73 ms), where matching 10,000 rows of the profile costs 1-3 ms whatever the words. The
    vector part is exact, with no approximate index: an HNSW index filtered to one profile among
    thousands would have to walk much of the graph, and its results would differ from the exact
    ones the recall quality test measures.
    """
    table = Memory._meta.db_table
    quote = connection.ops.quote_name
    columns = ", ".join(
        f"m.{quote(f.attname)}"  # attname is the column name for every field of this model
        for f in Memory._meta.concrete_fields
        if f.name not in ("embedding", "search")
    )
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
    wanted = []
    if with_vector:
        wanted.append(
            "(SELECT id, distance, text_rank FROM own WHERE distance IS NOT NULL"
            " ORDER BY distance, id LIMIT %(candidates)s)"
        )
    if with_text:
        wanted.append(
            "(SELECT id, distance, text_rank FROM own WHERE text_rank IS NOT NULL"
            " ORDER BY text_rank DESC, id LIMIT %(candidates)s)"
        )
    if include_pinned:
        wanted.append("(SELECT id, distance, text_rank FROM own WHERE pinned)")
    # Built from constant fragments and the model's own names; every value is a parameter.
    return f"""
        WITH own AS MATERIALIZED (
            SELECT id, pinned, {distance} AS distance, {text_rank} AS text_rank
            FROM {quote(table)}
            WHERE profile_id = %(profile)s AND status = %(active)s
        ), wanted AS (
            {" UNION ".join(wanted)}
        )
        SELECT {columns}, wanted.distance, wanted.text_rank
        FROM wanted JOIN {quote(table)} m ON m.id = wanted.id
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
    fusion: Fusion = FUSION,
) -> list[Memory]:
    """The active memories of `profile` most relevant to a message, best first, pinned ones first.

    `query_vector` is the message embedded as a query by the current embedder and `model` that
    embedder's name (`catchat.embeddings.model_name()`): only memories embedded by the same model
    are compared by vector. Without a vector (embedder down) recall falls back to full text and
    pinned memories. At most `limit` memories whose texts fit `token_budget` (see
    `memory_tokens`); pinned memories take their share first and, when they alone exceed the
    budget or the limit, the most important of them are kept. A memory too long for what is left
    of the budget is skipped and shorter ones after it may still fit.

    Does not look at `profile.enabled` (the caller decides). One SQL query. The returned memories
    have `embedding` and `search` deferred: reading them costs a query per memory.
    """
    if limit <= 0 or token_budget <= 0:
        return []
    candidates = max(4 * limit, 20)  # per ranked list, so that fusion sees more than the winners
    terms = search_terms(query_text)
    if not (include_pinned or query_vector is not None or terms):
        return []
    rows = list(
        Memory.objects.raw(
            _recall_sql(
                with_vector=query_vector is not None,
                with_text=bool(terms),
                include_pinned=include_pinned,
            ),
            {
                "profile": profile.pk,
                "active": Memory.Status.ACTIVE.value,
                "model": model,
                "vector": None if query_vector is None else Vector(query_vector).to_text(),
                "terms": _raw_tsquery(terms),
                "candidates": candidates,
            },
        )
    )
    scores = _fused_scores(rows, fusion)
    pinned = sorted(
        (m for m in rows if include_pinned and m.pinned),
        key=lambda m: (-m.importance, -scores[m.pk], -m.created_at.timestamp(), -m.pk),
    )
    others = sorted(
        (m for m in rows if not (include_pinned and m.pinned) and scores[m.pk] > 0),
        key=lambda m: (-scores[m.pk], -m.importance, -m.pk),
    )
    chosen: list[Memory] = []
    left = token_budget
    for memory in [*pinned, *others]:
        if len(chosen) == limit:
            break
        cost = memory_tokens(memory.text)
        if cost <= left:
            chosen.append(memory)
            left -= cost
    return chosen


def _fused_scores(rows: list[Memory], fusion: Fusion) -> dict[int, float]:
    """Weighted reciprocal rank fusion of the vector order and the full-text order of `rows`
    (annotated with `distance` and `text_rank`, None where that search did not see them)."""
    distances = {m.pk: getattr(m, "distance", None) for m in rows}
    text_ranks = {m.pk: getattr(m, "text_rank", None) for m in rows}
    by_vector = sorted((d, pk) for pk, d in distances.items() if d is not None)
    by_text = sorted((-r, pk) for pk, r in text_ranks.items() if r is not None)
    scores = dict.fromkeys(distances, 0.0)
    for weight, ranked in ((fusion.vector_weight, by_vector), (fusion.text_weight, by_text)):
        for position, (_, pk) in enumerate(ranked, start=1):
            scores[pk] += weight / (fusion.k + position)
    return scores
