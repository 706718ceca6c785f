"""The most telling words of a message: what the cat may pick up on ("Tell me more about
{topic}")."""

from __future__ import annotations

import re

from catchat.offline.understand import cues

_EXTRA_STOPWORDS = frozenset(
    """thing things stuff something really very just today tonight now yesterday tomorrow
    truc trucs chose choses vraiment aujourd'hui hier demain""".split()
)


def salient_topic(text: str, *, ignore: str = "", lang: str = "en") -> str:
    """The most telling word of the message (a name of up to three words if there is one, never
    the cat's own), or "that" / "ça"."""
    table = cues()[lang if lang in ("en", "fr") else "en"]
    common = set(table["function"]) | set(table["first_person"]) | set(table["second_person"])
    common |= set(table["question_words"]) | set(table["greeting"]) | _EXTRA_STOPWORDS
    words = re.findall(r"[^\W\d_][\w'-]*", text)
    content = [
        (i, w)
        for i, w in enumerate(words)
        if w.lower() not in common and len(w) > 2 and w.lower() != ignore.lower()
    ]
    if not content:
        return "ça" if lang == "fr" else "that"
    # Names (capitalised, not sentence-initial) and long words carry the meaning.
    index, word = max(content, key=lambda p: (p[1][0].isupper() and p[0] > 0, len(p[1])))
    if not (word[0].isupper() and index > 0):
        return word
    start, end = index, index + 1
    while start > 1 and words[start - 1][0].isupper():
        start -= 1
    while end < len(words) and words[end][0].isupper():
        end += 1
    return " ".join(words[start:end][:3])
