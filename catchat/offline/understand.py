"""What a message is: its language and its intent, from the cue tables of
`catchat/offline_phrases/cues.json` (data, per language). Pure functions of the text.

The order of the checks is the engine's one rule of judgement: what a message is about beats
how it opens ("Hi! I'm so sad" is a feeling, not a greeting), a request beats a statement, and a
question about the human ("where do I live?") is told from one about the cat ("where do you
sleep?") by whose words it holds.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PHRASES = Path(__file__).resolve().parent.parent / "offline_phrases"
LANGUAGES = ("en", "fr")
# Languages the cat notices but does not speak: a few of their commonest words.
OTHERS: dict[str, frozenset[str]] = {
    "es": frozenset(
        """el la los las que de y es en un una por para con no mi tu hola qué cómo estás
        gracias pero muy yo dónde vivo adiós gatito""".split()
    ),
    "de": frozenset(
        """der die das und ist nicht ich du ein eine mit zu von wie was hallo danke bin mein
        dein auch aber""".split()
    ),
    "it": frozenset(
        """il lo la gli che di e è un una per non sono ciao come stai grazie mio tuo anche ma
        molto io""".split()
    ),
    "pt": frozenset(
        """o a os as que de e é um uma para com não eu você olá obrigado obrigada meu minha
        muito mas""".split()
    ),
}
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]*)?|\d+")


@functools.cache
def cues() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PHRASES / "cues.json").read_text(encoding="utf-8"))
    return data


def normalized(text: str) -> str:
    """Lowercase, straight apostrophes, single spaces."""
    return " ".join(text.replace("’", "'").replace("‘", "'").lower().split())


def has(text: str, phrase: str) -> bool:
    """`phrase` in the (normalized) `text` as whole words; a phrase ending with an apostrophe
    ("j'") is a prefix of a word."""
    phrase = phrase.strip()
    if not phrase:
        return False
    tail = "" if phrase.endswith("'") else r"(?!\w)"
    return re.search(rf"(?<!\w){re.escape(phrase)}{tail}", text) is not None


def any_of(text: str, phrases: list[str]) -> str | None:
    """The first of `phrases` found in `text`, longest first (so "good night" beats "night")."""
    for phrase in sorted(phrases, key=len, reverse=True):
        if has(text, phrase):
            return phrase
    return None


def words(text: str) -> list[str]:
    return _WORD.findall(normalized(text))


def detect_language(text: str, prior: str | None = None) -> str:
    """ "en", "fr", or "other:<code>" (Spanish, German, Italian, Portuguese noticed); `prior`
    (else English) when nothing tells (a bare "ok", a short fact)."""
    said = normalized(text)
    tokens = words(said)
    scores = {}
    for lang in LANGUAGES:
        table = cues()[lang]
        signal = set(table["function"]) | set(table["greeting"]) | set(table["thanks"])
        scores[lang] = sum(1 for t in tokens if t in signal)
        scores[lang] += sum(
            1 for p in table["goodbye"] + table["greeting"] if " " in p and has(said, p)
        )
    scores["fr"] += min(3, len(re.findall(r"[éèêàùçôîœ]", said)))
    scores["fr"] += sum(
        1 for t in tokens if t.startswith(("j'", "c'", "qu'", "t'", "m'", "n'", "d'", "l'", "s'"))
    )
    if any(mark in said for mark in cues()["es_markers"]) and max(scores.values()) < 3:
        return "other:es"
    # A text that does not tell, or tells both equally ("A 20 ans": "a" is English too), is
    # taken in `prior`.
    if prior in LANGUAGES and scores["en"] == scores["fr"]:
        return str(prior)
    best = max(LANGUAGES, key=lambda lang: (scores[lang], lang == "en"))
    other = max(OTHERS, key=lambda code: sum(1 for t in tokens if t in OTHERS[code]))
    other_score = sum(1 for t in tokens if t in OTHERS[other])
    if other_score >= 2 and other_score > scores[best]:
        return f"other:{other}"
    return best


@dataclass(frozen=True)
class Understood:
    """What a message is: its language, its intent and a detail (a feeling's kind, news good
    or bad, a story's length)."""

    lang: str
    intent: str
    detail: str = ""


# Question words that ask for more than yes or no.
WH_WORDS = frozenset(
    "what what's whats where when who who's why how which quoi que où quand qui pourquoi "
    "comment quel quelle quels quelles combien koi".split()
)


def is_question(said: str, table: dict[str, Any]) -> bool:
    if said.rstrip().endswith("?"):
        return True
    # "and what's my job", "j'ai quel âge": a question word near the start, lead-ins aside.
    head = [w for w in words(said)[:6] if w not in table["lead_ins"]][:4]
    if head and head[0] in table["question_words"]:
        return True
    if any(w in WH_WORDS for w in head[1:]) and len(words(said)) <= 8:
        return True
    last = words(said)[-1:]
    if last and last[0] in ("comment", "quoi", "koi", "où", "quand", "qui"):
        return True  # "mon chien s'appelle comment"
    first = words(said)[:1]
    if first and first[0] in table["question_words"]:
        return True
    return re.search(r"\w-(?:tu|vous|il|elle)\b", said) is not None  # "sais-tu", "as-tu"


def understand(text: str) -> Understood:
    """The language and intent of one message (see the module's docstring for the order)."""
    lang = detect_language(text)
    speaks = lang if lang in LANGUAGES else "en"
    table = cues()[speaks]
    said = normalized(text)
    count = len(words(said))
    me = any(has(said, w) for w in table["first_person"])
    you = any(has(said, w) for w in table["second_person"])
    question = is_question(said, table)

    def found(key: str) -> bool:
        return any_of(said, table[key]) is not None

    def make(intent: str, detail: str = "") -> Understood:
        return Understood(lang, intent, detail)

    if not said:
        return make("fallback")
    if found("insult") and (you or not me):
        return make("insult")
    if found("are_you_real"):
        return make("are_you_real")
    if found("cat_name"):
        return make("cat_name")
    for request in ("joke", "poem", "story"):
        if found(request):
            return make(request, "long" if request == "story" and found("long") else "")
    if found("advice"):
        return make("advice")
    if found("remember"):
        return make("remember")
    if found("goodbye") and count <= 8:
        return make("goodbye")
    if found("thanks") and count <= 8:
        return make("thanks")
    if found("apology") and count <= 10:
        return make("apology")
    feeling = next((kind for kind, cue in table["feelings"].items() if any_of(said, cue)), None)
    if feeling and (me or found("feeling_lead")) and not (question and you):
        return make("feeling", feeling)
    if question:
        if me and (not you or found("about_me")):
            return make("about_human")
        if found("small_talk"):
            return make("small_talk")
        if found("yes_no_opinion"):
            return make("opinion")
        if you:
            return make("about_cat")
        # A yes/no question ("is it good?") gets a stance; any other, a curious cat.
        first = words(said)[:1]
        return make("opinion" if first and first[0] not in WH_WORDS else "fallback")
    if me:
        if found("news_bad"):
            return make("news", "bad")
        if found("news_good"):
            return make("news", "good")
        return make("news", "neutral")
    if found("greeting"):
        return make("greeting")
    if found("small_talk"):
        return make("small_talk")
    return make("fallback")


def question_types(text: str, lang: str) -> set[str]:
    """The kinds of fact a question about the human asks for (place, people, work...)."""
    table = cues()[lang if lang in LANGUAGES else "en"]["question_type"]
    said = normalized(text)
    return {kind for kind, cue in table.items() if any_of(said, cue)}
