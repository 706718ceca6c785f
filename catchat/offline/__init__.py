"""The offline brain: a cat that answers in character without any network.

Used when no MISTRAL_API_KEY is set (demos, tests, outages). It works out what was said and in
which language (`understand`), answers that, from what it remembers when the question is about
the human (`memory`), with lines from per-language phrase tables (`catchat/offline_phrases/`,
data), and never makes up a fact about the human. `compose_reply` is pure (the random source,
the hour and what was recalled are passed in); `stream_words` paces it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from catchat.offline.brain import MODEL_NAME, compose_reply, phrases
from catchat.offline.memory import Remembered, second_person
from catchat.offline.topics import salient_topic
from catchat.offline.understand import detect_language, understand

__all__ = [
    "MODEL_NAME",
    "Remembered",
    "compose_reply",
    "detect_intent",
    "detect_language",
    "last_user_text",
    "phrases",
    "salient_topic",
    "second_person",
    "stream_words",
    "understand",
]


def detect_intent(text: str) -> str:
    """The intent of a message ("greeting", "feeling", "about_human", ...)."""
    return understand(text).intent


async def stream_words(text: str, delay_s: float) -> AsyncIterator[str]:
    """Yield the reply a word at a time (with its following space), like a typing cat."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if i and delay_s > 0:
            await asyncio.sleep(delay_s)
        yield word if i == len(words) - 1 else word + " "


def last_user_text(turns: Sequence[tuple[str, str]]) -> str:
    for role, content in reversed(turns):
        if role == "user":
            return content
    return ""
