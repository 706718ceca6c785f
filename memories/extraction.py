"""Memory extraction with Mistral: from a batch of the human's messages, the facts worth
remembering, each with the message it comes from and a decision against what the cat already
knows (add, update, or nothing).

One model call learns from several messages (`memories.learning` batches a profile's waiting
messages, see memories/LEARNING.md): the messages are shown under short local ids ("u1", "u2",
... oldest first) and every fact names its message, so each fact keeps its own source and quote.
Existing memories are shown under short local ids too ("m1", "m2", ...), never database ids: the
caller keeps the mapping, and a model that invents or garbles an id cannot touch a row it was
not shown. Each fact of the reply has an id of its own ("f1", "f2", ...): a later message of
the batch that changes an earlier one's fact updates it by that id (moved to Lyon, then to
Paris: Lyon is learned, then superseded, as when the two were learned one at a time).

The prompt and the parsing are pure functions of their inputs; `extract_with_llm` is the one call
to the model (through the gateway, `catchat.llm.complete_json`). This module decides; it writes
nothing. Applying decisions (superseding, history) is the services' job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from catchat import llm
from memories.heuristics import CATEGORIES

Op = Literal["add", "update", "none"]
OPS: dict[str, Op] = {"add": "add", "update": "update", "none": "none"}

MAX_FACTS = 10  # per message
MAX_TEXT = 500  # Memory.text max_length
MAX_QUOTE = 300  # Memory.source_quote max_length
DEFAULT_IMPORTANCE = 3
# Ten facts with quotes fit in 800 tokens; a batch gets more per message. A cut reply is an
# error, never half a list.
MAX_TOKENS = 800
MAX_TOKENS_PER_EXTRA_MESSAGE = 400


@dataclass(frozen=True)
class Existing:
    """A memory shown to the model under a short local id, never a database id."""

    local_id: str  # "m1", "m2", ...
    text: str
    category: str


@dataclass(frozen=True)
class Said:
    """A message of the human shown to the model under a short local id."""

    local_id: str  # "u1", "u2", ... oldest first
    text: str


@dataclass(frozen=True)
class Decision:
    op: Op
    text: str  # the fact (for add/update), in the human's language
    category: str  # one of CATEGORIES
    importance: int  # 1-5
    # What an update replaces (op == "update"): an existing memory's local id ("m1"), or the
    # `ref` of a fact of an earlier message of the batch ("f2"). For "none": the memory that
    # already says it, if known.
    target: str | None
    quote: str  # snippet of its message ("" when the model's was not one)
    message: str = ""  # local id of the message it comes from ("u1")
    ref: str = ""  # its own id in the reply ("f3"), for a later message's update


SYSTEM_PROMPT = f"""\
You maintain the long-term memory of a pet cat about its human. You read messages the human \
wrote to the cat (each with an id such as "u1", oldest first) and extract the facts about the \
HUMAN worth remembering for later conversations.

Rules:
- Only facts about the human and their life: who they are, what they like or dislike, the people \
and pets around them, their work, where they live, their health, habits and notable events. \
Never facts about the cat, never general knowledge, never the cat's own words.
- One atomic fact per item: "Has a dog named Rex" and "Lives in Lyon" are two facts.
- Write each fact as a short statement about the human without a subject ("Loves sushi", \
"Works as a nurse"), in the human's own language: if they write in French, write the fact in \
French.
- Only what a message states or clearly implies. Never invent, never guess. Questions, \
greetings, jokes and hypotheticals are not facts. A message with nothing worth remembering \
gives no item; if no message has any, return an empty list.
- "message": the id of the message the fact comes from. "id": your own id for the fact, "f1", \
"f2", ... in the order of your list.
- Compare each fact with the existing memories (given with short ids such as "m1") and with the \
facts of earlier messages of the list:
  - "add": a new fact that nothing covers;
  - "update": the fact contradicts or refines one existing memory or one fact of an earlier \
message (e.g. the human moved, changed jobs, a pet's name was wrong); give that memory's id \
("m1") or that fact's id ("f1") as "target" and write the full new fact;
  - "none": an existing memory already says this; give its id as "target".
- "category": one of {", ".join(CATEGORIES)}.
- "importance": 1 (trivia) to 5 (core to who they are: name, family, serious health matters).
- "quote": the exact words of its message the fact comes from, copied character for character.

Answer with a JSON object only, in this shape:
{{"facts": [{{"id": "f1", "message": "u1", "op": "add", "text": "...", "category": "...", \
"importance": 3, "target": null, "quote": "..."}}]}}"""


def extraction_prompt(*, messages: list[Said], existing: list[Existing]) -> tuple[str, str]:
    """The (system, user) prompt asking for the facts of `messages`, compared with `existing`.

    The user part is a JSON document (the messages and the existing memories under their local
    ids), so nothing the human writes can pass for an instruction's structure.
    """
    payload = {
        "existing_memories": [
            {"id": e.local_id, "text": e.text, "category": e.category} for e in existing
        ],
        "messages": [{"id": m.local_id, "text": m.text} for m in messages],
    }
    user = "Extract the facts about the human from these messages, as JSON.\n" + json.dumps(
        payload, ensure_ascii=False, indent=1
    )
    return SYSTEM_PROMPT, user


def parse_decisions(
    data: dict[str, Any], *, existing: list[Existing], messages: list[Said]
) -> list[Decision]:
    """The decisions in the model's JSON `data`, made safe to apply, in the order of `messages`
    (and the model's order within a message).

    Defensive by design, the model being untrusted: items that are not objects, have an unknown
    `op` or an empty text are dropped; an item's message is the one its `message` names, else
    (none or an unknown id) the only message there is, else the only one its quote comes from,
    else the item is dropped (a fact is never pinned on the wrong message). An unknown category
    becomes "other"; importance is clamped to 1-5 (3 when missing); an update whose target is
    neither a local id of `existing` nor the id of a fact of an EARLIER message (or whose target
    an earlier update of the same message already took) becomes an add; a fact whose text
    equals an existing memory's becomes "none" (the same fact said twice is one memory); a fact
    repeated (in the same or another message) is kept once, from its first message; text is
    capped at 500 characters, a message's facts at 10. A quote that is not a substring of its
    message becomes "", and NUL characters are dropped from a text. Every decision's `ref` is
    "f<its position in the reply>", whatever id the model wrote (targets naming the model's ids
    are translated).
    """
    items = data.get("facts")
    if not isinstance(items, list):
        return []
    order = {m.local_id: i for i, m in enumerate(messages)}
    # The model's own fact ids, to our refs (first one wins).
    refs: dict[str, str] = {}
    for i, item in enumerate(items, start=1):
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            refs.setdefault(item["id"].strip(), f"f{i}")
    by_message: list[list[tuple[str, dict[str, Any]]]] = [[] for _ in messages]
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            continue
        index = _message_of(item, messages, order)
        if index is not None:
            by_message[index].append((f"f{i}", item))

    known = {e.local_id: e for e in existing}
    known_texts = {_norm(e.text): e.local_id for e in existing}
    seen: set[str] = set()
    made: dict[str, int] = {}  # ref -> index of its message, for the facts kept
    decisions: list[Decision] = []
    for index, listed in enumerate(by_message):
        message = messages[index]
        taken: set[str] = set()
        kept = 0
        for ref, item in listed:
            if kept >= MAX_FACTS:
                break
            raw_op, text = item.get("op"), item.get("text")
            op = OPS.get(raw_op) if isinstance(raw_op, str) else None
            if op is None or not isinstance(text, str):
                continue
            # PostgreSQL refuses NUL in text: one would sink the whole batch's transaction.
            text = " ".join(text.replace("\x00", "").split())[:MAX_TEXT].strip()
            if not text or _norm(text) in seen:
                continue
            target = item.get("target")
            target = target.strip() if isinstance(target, str) else None
            if target is not None and target not in known:
                target = refs.get(target)
                if target is not None and made.get(target, index) >= index:
                    target = None  # not a fact of an earlier message
            if op == "update" and (target is None or target in taken):
                op, target = "add", None
            if op != "none" and _norm(text) in known_texts:
                op, target = "none", known_texts[_norm(text)]
            if op == "none" and target not in known:
                target = None
            if op == "add":
                target = None
            if op == "update" and target is not None:
                taken.add(target)
            seen.add(_norm(text))
            made[ref] = index
            kept += 1
            decisions.append(
                Decision(
                    op=op,
                    text=text,
                    category=_category(item.get("category")),
                    importance=_importance(item.get("importance")),
                    target=target,
                    quote=_quote(item.get("quote"), message.text),
                    message=message.local_id,
                    ref=ref,
                )
            )
    return decisions


async def extract_with_llm(*, messages: list[Said], existing: list[Existing]) -> list[Decision]:
    """Ask Mistral (JSON mode), in one call, for the decisions about `messages`.

    Precondition: `llm.llm_mode() == "mistral"`, `messages` not empty. One network call, no
    database access. Raises `llm.LLMError` (the caller decides whether to retry later).
    """
    system, user = extraction_prompt(messages=messages, existing=existing)
    max_tokens = MAX_TOKENS + MAX_TOKENS_PER_EXTRA_MESSAGE * (len(messages) - 1)
    data = await llm.complete_json(system=system, user=user, max_tokens=max_tokens)
    return parse_decisions(data, existing=existing, messages=messages)


def _message_of(item: dict[str, Any], messages: list[Said], order: dict[str, int]) -> int | None:
    """The index in `messages` of the message `item` comes from, or None when it cannot be
    told."""
    named = item.get("message")
    if isinstance(named, str) and named.strip() in order:
        return order[named.strip()]
    if len(messages) == 1:
        return 0
    quote = item.get("quote")
    if isinstance(quote, str) and quote.strip():
        holding = [i for i, m in enumerate(messages) if quote.strip() in m.text]
        if len(holding) == 1:
            return holding[0]
    return None


def _norm(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".!")


def _category(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in CATEGORIES:
        return value.strip().lower()
    return "other"


def _importance(value: Any) -> int:
    if isinstance(value, bool):
        return DEFAULT_IMPORTANCE
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return DEFAULT_IMPORTANCE
    if not isinstance(value, int | float) or value != value:  # NaN
        return DEFAULT_IMPORTANCE
    if value in (float("inf"), float("-inf")):
        return 5 if value > 0 else 1
    return min(5, max(1, round(value)))


def _quote(value: Any, message: str) -> str:
    if not isinstance(value, str):
        return ""
    quote = value.strip()
    if not quote or quote not in message:
        return ""
    return quote[:MAX_QUOTE]
