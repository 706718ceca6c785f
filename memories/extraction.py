"""Memory extraction with Mistral: from one message of the human, the facts worth remembering and,
for each, a decision against what the cat already knows (add, update, or nothing).

The prompt and the parsing are pure functions of their inputs; `extract_with_llm` is the one call
to the model (through the gateway, `catchat.llm.complete_json`). Existing memories are shown to
the model under short local ids ("m1", "m2", ...), never database ids: the caller keeps the
mapping, and a model that invents or garbles an id cannot touch a row it was not shown.

This module decides; it writes nothing. Applying decisions (superseding, history) is the
services' job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from catchat import llm
from memories.heuristics import CATEGORIES

Op = Literal["add", "update", "none"]
OPS: dict[str, Op] = {"add": "add", "update": "update", "none": "none"}

MAX_FACTS = 10
MAX_TEXT = 500  # Memory.text max_length
MAX_QUOTE = 300  # Memory.source_quote max_length
DEFAULT_IMPORTANCE = 3
MAX_TOKENS = 800  # ten facts with quotes fit; a cut reply is an error, never half a list


@dataclass(frozen=True)
class Existing:
    """A memory shown to the model under a short local id, never a database id."""

    local_id: str  # "m1", "m2", ...
    text: str
    category: str


@dataclass(frozen=True)
class Decision:
    op: Op
    text: str  # the fact (for add/update), in the human's language
    category: str  # one of CATEGORIES
    importance: int  # 1-5
    target: str | None  # local id of the existing memory an update replaces (op == "update")
    quote: str  # snippet of the user's message it comes from ("" when the model's was not one)


SYSTEM_PROMPT = f"""\
You maintain the long-term memory of a pet cat about its human. You read one message the human \
wrote to the cat and extract the facts about the HUMAN worth remembering for later conversations.

Rules:
- Only facts about the human and their life: who they are, what they like or dislike, the people \
and pets around them, their work, where they live, their health, habits and notable events. \
Never facts about the cat, never general knowledge, never the cat's own words.
- One atomic fact per item: "Has a dog named Rex" and "Lives in Lyon" are two facts.
- Write each fact as a short statement about the human without a subject ("Loves sushi", \
"Works as a nurse"), in the human's own language: if they write in French, write the fact in \
French.
- Only what the message states or clearly implies. Never invent, never guess. Questions, \
greetings, jokes and hypotheticals are not facts. If there is nothing worth remembering, return \
an empty list.
- Compare each fact with the existing memories (given with short ids such as "m1"):
  - "add": a new fact that no existing memory covers;
  - "update": the fact contradicts or refines one existing memory (e.g. the human moved, changed \
jobs, a pet's name was wrong); give that memory's id as "target" and write the full new fact;
  - "none": an existing memory already says this; give its id as "target".
- "category": one of {", ".join(CATEGORIES)}.
- "importance": 1 (trivia) to 5 (core to who they are: name, family, serious health matters).
- "quote": the exact words of the message the fact comes from, copied character for character.

Answer with a JSON object only, in this shape:
{{"facts": [{{"op": "add", "text": "...", "category": "...", "importance": 3, "target": null, \
"quote": "..."}}]}}"""


def extraction_prompt(*, message: str, existing: list[Existing]) -> tuple[str, str]:
    """The (system, user) prompt asking for the facts of `message`, compared with `existing`.

    The user part is a JSON document (the message and the existing memories under their local
    ids), so nothing the human writes can pass for an instruction's structure.
    """
    payload = {
        "existing_memories": [
            {"id": e.local_id, "text": e.text, "category": e.category} for e in existing
        ],
        "message": message,
    }
    user = "Extract the facts about the human from this message, as JSON.\n" + json.dumps(
        payload, ensure_ascii=False, indent=1
    )
    return SYSTEM_PROMPT, user


def parse_decisions(
    data: dict[str, Any], *, existing: list[Existing], message: str
) -> list[Decision]:
    """The decisions in the model's JSON `data`, made safe to apply.

    Defensive by design, the model being untrusted: items that are not objects, have an unknown
    `op` or an empty text are dropped; an unknown category becomes "other"; importance is clamped
    to 1-5 (3 when missing); an update whose target is not a local id of `existing` (or whose
    target an earlier update already took) becomes an add; a fact whose text equals an existing
    memory's becomes "none" (the same fact said twice is one memory); repeated facts are kept once;
    text is capped at 500 characters, the result at 10 decisions. A quote that is not a substring
    of `message` becomes "".
    """
    items = data.get("facts")
    if not isinstance(items, list):
        return []
    known = {e.local_id: e for e in existing}
    known_texts = {_norm(e.text): e.local_id for e in existing}
    taken: set[str] = set()
    seen: set[str] = set()
    decisions: list[Decision] = []
    for item in items:
        if len(decisions) >= MAX_FACTS:
            break
        if not isinstance(item, dict):
            continue
        raw_op, text = item.get("op"), item.get("text")
        op = OPS.get(raw_op) if isinstance(raw_op, str) else None
        if op is None or not isinstance(text, str):
            continue
        text = " ".join(text.split())[:MAX_TEXT].strip()
        if not text or _norm(text) in seen:
            continue
        target = item.get("target")
        target = target.strip() if isinstance(target, str) else None
        if op == "update" and (target not in known or target in taken):
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
        decisions.append(
            Decision(
                op=op,
                text=text,
                category=_category(item.get("category")),
                importance=_importance(item.get("importance")),
                target=target,
                quote=_quote(item.get("quote"), message),
            )
        )
    return decisions


async def extract_with_llm(*, message: str, existing: list[Existing]) -> list[Decision]:
    """Ask Mistral (JSON mode) for the decisions about `message`.

    Precondition: `llm.llm_mode() == "mistral"`. One network call, no database access. Raises
    `llm.LLMError` (the caller decides whether to retry the turn later).
    """
    system, user = extraction_prompt(message=message, existing=existing)
    data = await llm.complete_json(system=system, user=user, max_tokens=MAX_TOKENS)
    return parse_decisions(data, existing=existing, message=message)


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
