"""How the chat page shows a cat: its coat as a palette for the drawn figure, its mood in words,
and its vitals as labelled meters. Pure functions of their inputs (no database, no clock).

The drawing itself is templates/cats/_cat_figure.html, coloured and posed by static/css/app.css
from the `data-coat`, `data-pattern`, `data-mood` and `data-asleep` attributes set here and by
static/js/chat.js.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cats.vitals import MOODS

# Palettes the stylesheet knows (`#cat-figure[data-coat=...]`); anything else is "neutral".
COAT_COLOURS = ("black", "white", "grey", "blue", "lilac", "cream", "ginger", "brown", "neutral")
# Markings drawn over the base colour (`#cat-figure[data-pattern=...]`).
COAT_PATTERNS = ("solid", "tabby", "calico", "tortie", "tuxedo", "point")

# A few words after "Whiskers is <mood>", shown under the mood and kept by the page's script.
# Every mood of cats.vitals has one (tested), and the stylesheet draws each.
MOOD_HINTS: dict[str, str] = {
    "content": "calm and comfy",
    "playful": "ready to pounce",
    "hungry": "eyeing the food bowl",
    "sleepy": "can barely keep those eyes open",
    "grumpy": "not in the mood, thank you",
    "affectionate": "wants cuddles",
    "asleep": "curled up, dreaming",
}

# First match wins: patterns that fix the colours come before plain colour words.
_PATTERN_WORDS: tuple[tuple[str, tuple[str, str]], ...] = (
    (r"\btux|\bblack (and|&) white\b|\bwhite (and|&) black\b", ("black", "tuxedo")),
    (r"\bsiam|point\b|\bbirman\b|\bragdoll\b", ("cream", "point")),
    (r"\bcalico\b", ("white", "calico")),
    (r"\btort", ("black", "tortie")),
)
_TABBY_WORDS = r"\b(tabby|striped|stripes|stripy|mackerel)\b"
_COLOUR_WORDS: tuple[tuple[str, str], ...] = (
    (r"\b(ginger|orange|red|marmalade|flame|apricot)\b", "ginger"),
    (r"\b(cream|beige|fawn|buff|sand)\b", "cream"),
    (r"\b(lilac|lavender)\b", "lilac"),
    (r"\bblue\b", "blue"),
    (r"\b(grey|gray|silver|smoke|smoky)\b", "grey"),
    (r"\b(brown|chocolate|cinnamon|caramel)\b", "brown"),
    (r"\b(black|ebony|jet)\b", "black"),
    (r"\b(white|snow|snowy)\b", "white"),
)


def coat_look(coat: str) -> tuple[str, str]:
    """(colour, pattern) for a free-text coat: "orange tabby" -> ("ginger", "tabby").

    A coat in no known words draws a neutral cat; a tabby of no named colour is brown.
    """
    text = coat.lower()
    for words, look in _PATTERN_WORDS:
        if re.search(words, text):
            return look
    pattern = "tabby" if re.search(_TABBY_WORDS, text) else "solid"
    for words, colour in _COLOUR_WORDS:
        if re.search(words, text):
            return colour, pattern
    return ("brown" if pattern == "tabby" else "neutral"), pattern


@dataclass(frozen=True)
class Meter:
    """One vital as the page shows it. `optimum` 0 means lower is better (hunger is a need)."""

    vital: str
    label: str
    value: int
    optimum: int
    low: int
    high: int
    scale: str  # read after the value by screen readers: "Hunger 72 of 100, 100 is starving"
    ends: tuple[str, str] | None = None  # words under the bar's two ends

    @property
    def accessible_name(self) -> str:
        return f"{self.label} {self.value} of 100{self.scale}"


_METERS: tuple[tuple[str, str, int, int, int, str, tuple[str, str] | None], ...] = (
    # vital, label, optimum, low, high, scale, ends
    ("hunger", "Hunger", 0, 30, 70, ", 0 is full, 100 is starving", ("full", "starving")),
    ("energy", "Energy", 100, 25, 60, "", None),
    ("affection", "Affection", 100, 25, 60, "", None),
    ("fun", "Fun", 100, 20, 60, "", None),
)


def meters(state: dict[str, Any]) -> list[Meter]:
    """The four vitals of a `cats.services.cat_state` dict, in display order, clamped 0-100."""
    return [
        Meter(
            vital=vital,
            label=label,
            value=min(100, max(0, round(state.get(vital, 0)))),
            optimum=optimum,
            low=low,
            high=high,
            scale=scale,
            ends=ends,
        )
        for vital, label, optimum, low, high, scale, ends in _METERS
    ]


def mood_look(state: dict[str, Any]) -> str:
    """The mood the figure is drawn in: an unknown (newer) mood is drawn as content."""
    mood = state.get("mood")
    return mood if isinstance(mood, str) and mood in MOODS else "content"


def mood_hint(state: dict[str, Any]) -> str:
    """The few words under "Whiskers is <mood>" ("" for a mood this module does not know)."""
    if state.get("asleep"):
        return MOOD_HINTS["asleep"]
    return MOOD_HINTS.get(str(state.get("mood")), "")
