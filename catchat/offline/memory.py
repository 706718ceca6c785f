"""Answering from memory: which remembered thing a question is about, and how to say it back
to the human, in the second person ("Lives in Lyon" -> "You live in Lyon.").

A memory is only ever repeated, never made up: a fact is turned into a sentence by grammar
alone (its verb or its noun), an episode is quoted with its date. Pure functions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from catchat.offline.understand import cues, detect_language, question_types, words

# Two words are the same word when they share this many first letters (or one starts the
# other): "live"/"lives", "work"/"works".
STEM = 4
# An episode is quoted up to this many characters.
QUOTE_CHARS = 140


@dataclass(frozen=True)
class Remembered:
    """Something the cat recalled for this message, best first: a fact (`kind` "fact", its
    `category`) or an episode (the human's own words, `at` when they were said)."""

    kind: str
    text: str
    category: str = ""
    at: datetime | None = None


def _fold(word: str) -> str:
    """A word to compare: no case, accents or ligatures ("sœur" ~ "soeur"), no "'s", no plural
    "s" ("dogs" ~ "dog")."""
    word = word.casefold().replace("œ", "oe").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", word)
    word = "".join(c for c in decomposed if not unicodedata.combining(c))
    word = word.removesuffix("'s")
    word = re.sub(r"^(?:j|qu|t|l|d|s|m|n|c)'", "", word)  # "j'étudie" ~ "Étudie"
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"  # "studies" ~ "study"
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    if min(len(a), len(b)) < STEM:
        return False
    return a.startswith(b) or b.startswith(a) or a[: STEM + 1] == b[: STEM + 1]


def _content(text: str, lang: str) -> list[str]:
    table = cues()[lang if lang in ("en", "fr") else "en"]
    ignore = set(table["function"]) | set(table["question_words"]) | set(table["first_person"])
    ignore |= set(table["second_person"])
    return [_fold(w) for w in words(text) if len(w) > 2 and w not in ignore]


def is_relevant(item: Remembered, question: str, lang: str) -> bool:
    """Whether `item` answers `question`: they share a word ("my sister" and "Sister is called
    Mia"); or, when the question names no particular thing (only words like "where", "live",
    "name"), it asks for the kind of fact `item` is (where: a place; who: people or pets; when:
    something said)."""
    table = cues()[lang if lang in ("en", "fr") else "en"]
    generic = {_fold(w) for w in table["generic"]}
    asked = [w for w in _content(question, lang) if w not in generic]
    held = [w for w in _content(item.text, detect_language(item.text)) if w not in generic]
    if any(_same(a, h) for a in asked for h in held):
        return True
    if asked:
        return False  # "what's my dog called?" is not answered by the sister's name
    kinds = question_types(question, lang)
    # What the question asks with its own words ("where do I work?": work) over its wh-word.
    said = " ".join(words(question))
    strong = {
        kind
        for kind, cue in table["question_type"].items()
        if any(c not in table["wh"] and f" {c} " in f" {said} " for c in cue)
    }
    kinds = strong or kinds
    if "identity" in kinds:
        kinds = {"identity"}  # "what's my name?" is not answered by a sister's name
    if item.kind == "episode":
        return "event" in kinds
    return item.category in kinds


def best_answer(recalled: tuple[Remembered, ...], question: str, lang: str) -> Remembered | None:
    """The first of `recalled` (best first) that answers `question`, if any."""
    return next((item for item in recalled if is_relevant(item, question, lang)), None)


def say_back(item: Remembered, lang: str) -> str:
    """`item` said to the human: a fact in the second person, an episode quoted with its date."""
    if item.kind == "episode":
        table = cues()[lang if lang in ("en", "fr") else "en"]
        quote = item.text.strip()
        if len(quote) > QUOTE_CHARS:
            quote = quote[: QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"
        if item.at is None:
            return f"“{quote}”."
        month = table["months"][item.at.month - 1]
        day = "1er" if lang == "fr" and item.at.day == 1 else str(item.at.day)
        date = f"{day} {month} {item.at.year}"
        return str(table["said_on"]).format(date=date, text=quote) + "."
    return second_person(item.text, lang)


_EN_BE = {"is": "are", "was": "were", "has": "have", "does": "do", "goes": "go"}
_EN_MODAL = {
    "can't": "can't",
    "cannot": "cannot",
    "can": "can",
    "won't": "won't",
    "doesn't": "don't",
    "never": "never",
    "always": "always",
    "often": "often",
    "usually": "usually",
    "used": "used",
    "wants": "want",
    "needs": "need",
}
# After an adjective: "Allergic to", "Afraid of", "Good at", "Married with".
_EN_LINKS = frozenset({"to", "of", "about", "with", "at", "for", "from", "in", "on", "by"})
_EN_NOT_VERBS = frozenset({"this", "his", "its", "bus", "gas", "yes", "is"})
_FR_BE = {
    "est": "es",
    "a": "as",
    "va": "vas",
    "fait": "fais",
    "peut": "peux",
    "veut": "veux",
    "sait": "sais",
    "vient": "viens",
    "prend": "prends",
    "n'est": "n'es",
    "n'a": "n'as",
}


def second_person(fact: str, lang: str | None = None) -> str:
    """A fact as the cat says it to its human: "Lives in Lyon" -> "You live in Lyon.",
    "Sister is called Mia" -> "Your sister is called Mia.", "Habite à Lyon" -> "Tu habites à
    Lyon." Grammar only; a fact it cannot turn is quoted as it is."""
    text = fact.strip().rstrip(".")
    if not text:
        return ""
    text = re.sub(
        r"^(?:the\s+)?user(?:'s)?\s+",
        lambda m: "" if "'s" not in m.group(0) else "My ",
        text,
        flags=re.I,
    )
    lang = _fact_language(text, lang)
    # "Sa sœur s'appelle Léa", "His sister ...": the fact's owner is the human.
    text = re.sub(r"^(?:his|her|their|sa|son|ses|leur|leurs)\s+", "", text, flags=re.I)
    first, _, rest = text.partition(" ")
    low = first.lower()
    if lang == "fr":
        sentence = _french(low, first, rest)
    else:
        sentence = _english(low, first, rest)
    return sentence[0].upper() + sentence[1:] + "."


def _fact_language(text: str, prior: str | None) -> str:
    """A fact's language: by its words when they tell, by its first word's form when they do
    not ("Loves sushi": an English verb; "Adore les chats": a French one), else `prior`."""
    told = detect_language(text, prior="en")
    if told == detect_language(text, prior="fr"):
        return told  # its words tell
    first = words(text)[0] if words(text) else ""
    if first.endswith(("s", "ed")) or first in _EN_BE or first in _EN_MODAL:
        return "en"
    if first.endswith(("e", "t")) or first in _FR_BE:
        return "fr"
    return prior if prior in ("en", "fr") else "en"


def _english(low: str, first: str, rest: str) -> str:
    if low in ("my", "i"):
        return "you " + _english_rest(rest) if low == "i" else f"your {rest}"
    if low in _EN_BE:
        return f"you {_EN_BE[low]} {rest}".strip()
    if low in _EN_MODAL:
        return f"you {_EN_MODAL[low]} {rest}".strip()
    second = rest.split(" ", 1)[0].lower() if rest else ""
    verbish = low.endswith(("s", "ed"))
    if not rest or (second in _EN_LINKS and not verbish):
        return f"you are {low} {rest}".strip()  # "Allergic to peanuts", "Vegetarian"
    if second in ("is", "are", "was", "were", "lives", "works", "likes", "loves", "starts"):
        return f"your {low} {rest}"  # a noun: "Sister is called Mia"
    if first.endswith("'s"):
        return f"your {first[:1].lower()}{first[1:]} {rest}".strip()  # "Mother's name is Awa"
    if low.endswith("ies") and len(low) > 4:
        return f"you {low[:-3]}y {rest}".strip()
    if re.search(r"(?:sh|ch|ss|x|z|o)es$", low):
        return f"you {low[:-2]} {rest}".strip()
    if low.endswith("s") and not low.endswith("ss") and low not in _EN_NOT_VERBS:
        return f"you {low[:-1]} {rest}".strip()
    if low.endswith("ed") or low in ("grew", "went", "met", "had", "got", "made", "left", "was"):
        return f"you {low} {rest}".strip()
    return f"your {low} {rest}".strip()


def _english_rest(rest: str) -> str:
    return re.sub(r"^(am|'m)\b", "are", rest)


def _french(low: str, first: str, rest: str) -> str:
    if low.startswith("s'") and len(low) > 3:
        return f"tu t'{low[2:]}s {rest}".strip()  # s'appelle -> t'appelles
    if low in _FR_BE:
        return f"tu {_FR_BE[low]} {rest}".strip()
    if low.endswith("e") and len(low) > 2 and not rest.startswith(("est ", "s'")):
        return f"tu {low}s {rest}".strip()  # habite -> habites
    if low.endswith(("it", "rt", "t")) and len(low) > 2 and not rest.startswith(("est ", "s'")):
        return f"tu {low[:-1]}s {rest}".strip()  # vit -> vis, dort -> dors
    table = cues()["fr"]["possessive"]
    word = low
    if word in table["feminine"]:
        det = table["feminine_word"]
    else:
        det = table["masculine_default"]
    return f"{det} {word} {rest}".strip()
