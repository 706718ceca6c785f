"""The offline brain's reply: understand the message, answer that (from memory when it is about
the human), in the human's language, coloured by mood, needs and the time of day.

Every line comes from the phrase tables (`catchat/offline_phrases/<lang>.json`, data); what the
cat says about its human comes only from what it recalled (`memory.say_back`), never from a
table. Pure: the random source, the hour and what was recalled are passed in.
"""

from __future__ import annotations

import functools
import json
import random
from typing import Any

from catchat.offline.memory import Remembered, best_answer, say_back, second_person
from catchat.offline.topics import salient_topic
from catchat.offline.understand import (
    LANGUAGES,
    PHRASES,
    Understood,
    detect_language,
    understand,
)

MODEL_NAME = "offline-brain"

# How often a reply is coloured: a sound before it, the mood after it, a remembered fact
# brought up unasked, the time of day. Urgent needs always show.
SOUND_SHARE = 0.5
MOOD_SHARE = 0.3
CONTENT_MOOD_SHARE = 0.1
ASIDE_SHARE = 0.15
TIME_SHARE = 0.06
# Intents after which the cat may bring up something it remembers, unasked.
CHATTY = frozenset({"greeting", "small_talk", "about_cat"})
# Where a purr or a playful aside would be out of place: bad news, a hard feeling, an insult.
GENTLE = frozenset(
    {"news:bad", "feeling:sad", "feeling:anxious", "feeling:lonely", "feeling:angry", "insult:"}
)


@functools.cache
def phrases(lang: str) -> dict[str, Any]:
    """The phrase tables of `lang` (English for a language it does not speak)."""
    code = lang if lang in LANGUAGES else "en"
    data: dict[str, Any] = json.loads((PHRASES / f"{code}.json").read_text(encoding="utf-8"))
    return data


def _pick(
    rng: random.Random,
    lang: str,
    key: str,
    sub: str | None = None,
    *,
    naming: str = "",
    avoiding: str = "",
) -> str:
    """A line of table `key` (its part `sub`) of `lang`, English if it has none; of the lines
    holding the placeholder `naming`, when there are some (so that what was forgotten is
    named); of those without `avoiding`."""
    table: Any = phrases(lang).get(key) or phrases("en").get(key) or []
    if sub is not None:
        table = table.get(sub, []) if isinstance(table, dict) else []
    if naming:
        table = [line for line in table if naming in line] or table
    if avoiding:
        table = [line for line in table if avoiding not in line] or table
    return str(rng.choice(table)) if table else ""


def _fill(line: str, **values: str) -> str:
    for key, value in values.items():
        line = line.replace("{" + key + "}", value)
    return line


def time_of_day(hour: int | None) -> str | None:
    if hour is None:
        return None
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "afternoon"
    if 18 <= hour < 23:
        return "evening"
    return "night"


def compose_reply(
    *,
    name: str,
    personality: str,
    mood: str,
    last_user_text: str,
    rng: random.Random,
    memories: tuple[str, ...] | list[str] = (),
    forgot: str | None = None,
    unknown: str | None = None,
    recalled: tuple[Remembered, ...] = (),
    needs: tuple[str, ...] = (),
    hour: int | None = None,
) -> str:
    """The cat's reply to `last_user_text`. `recalled`: what recall found for it, best first
    (facts and episodes); `memories`, plain texts, stand for it when it is not given. `forgot` /
    `unknown`: the human asked to forget something, and it was (or nothing was known)."""
    if not recalled:
        recalled = tuple(Remembered("fact", m) for m in memories if not m.startswith("On "))
    understood = understand(last_user_text)
    lang = understood.lang if understood.lang in LANGUAGES else "en"
    values = {"name": name, "topic": _topic(last_user_text, name, lang)}
    if forgot is not None or unknown is not None:
        key = "forget_done" if forgot is not None else "forget_unknown"
        what = ((forgot if forgot is not None else unknown) or "").strip().rstrip(".")
        values["topic"] = what or ("ça" if lang == "fr" else "that")
        body = _fill(_pick(rng, lang, key, naming="{topic}" if what else ""), **values)
        return _finish(rng, lang, [body], mood="content", needs=(), hour=None, sound=True)
    body, answered = _answer(understood, last_user_text, rng, values, recalled, personality)
    parts = [body]
    if not answered and understood.intent in CHATTY and recalled and rng.random() < ASIDE_SHARE:
        # Something said in the reply's own language (a French fact in English reads oddly).
        facts = [
            r
            for r in recalled[:3]
            if r.kind == "fact" and detect_language(r.text, prior=lang) == lang
        ]
        if facts:
            line = _pick(rng, lang, "recall_aside")
            parts.append(
                _fill(line, fact=_after(line, second_person(rng.choice(facts).text)), **values)
            )
    long_form = understood.intent in ("story", "poem") or understood.lang.startswith("other")
    if f"{understood.intent}:{understood.detail}" in GENTLE:
        return _finish(rng, lang, parts, mood="content", needs=(), hour=None, gentle=True)
    return _finish(rng, lang, parts, mood=mood, needs=needs, hour=hour, sound=not long_form)


def _answer(
    understood: Understood,
    text: str,
    rng: random.Random,
    values: dict[str, str],
    recalled: tuple[Remembered, ...],
    personality: str,
) -> tuple[str, bool]:
    """The reply's body, and whether it already says something remembered."""
    lang = understood.lang if understood.lang in LANGUAGES else "en"
    intent, detail = understood.intent, understood.detail
    if understood.lang.startswith("other"):
        return _fill(_pick(rng, "en", "other_language"), **values), False
    if intent in ("about_human", "remember"):
        item = best_answer(recalled, text, lang)
        if item is None:
            return _fill(_pick(rng, lang, "unknown_about_human"), **values), False
        fact = say_back(item, lang)
        if item.kind == "episode":
            return fact, True  # "You told me on 8 May 2023: ..." says it already
        key = "remember_yes" if intent == "remember" else "recall_answer_intro"
        line = _pick(rng, lang, key)
        if "{fact}" not in line:
            return fact, True
        return _fill(line, fact=_after(line, fact), **values), True
    if intent == "feeling":
        return _fill(_pick(rng, lang, f"feeling_{detail}"), **values), False
    if intent == "news":
        line = _pick(rng, lang, f"news_{detail}", avoiding="" if _named(values) else "{topic}")
        return _fill(line, **values), False
    if intent == "story":
        return _pick(rng, lang, "stories_long" if detail == "long" else "stories_short"), False
    if intent == "joke":
        return _pick(rng, lang, "jokes"), False
    if intent == "poem":
        return _pick(rng, lang, "poems"), False
    if intent == "cat_name":
        line = _fill(_pick(rng, lang, "cat_name"), **values)
        if personality.strip():
            said = "On dit que je suis" if lang == "fr" else "They say I'm"
            line += f" {said} {personality.strip().rstrip('.')}."
        return line, False
    if intent == "opinion":
        return _fill(_pick(rng, lang, rng.choice(("agree", "disagree"))), **values), False
    key = {"about_cat": "question_about_cat"}.get(intent, intent)
    line = _pick(rng, lang, key) or _pick(rng, lang, "fallback")
    return _fill(line, **values), False


def _named(values: dict[str, str]) -> bool:
    """Whether the message's topic is a name ("Lisbon", "Mia"): worth saying back. A common word
    said back ("Well now, dont!") is an echo, not listening."""
    topic = values.get("topic", "")
    return bool(topic) and topic[:1].isupper()


def _after(line: str, fact: str) -> str:
    """`fact` as it reads where `line` puts it: lowercased after a colon ("I remember: your
    sister is called Mia."), as it is elsewhere (a name stays a name)."""
    before = line.split("{fact}")[0].rstrip()
    if before.endswith(":") and fact.split(" ", 1)[0] in ("You", "Your", "Tu", "Ta", "Ton"):
        return fact[0].lower() + fact[1:]
    return fact


def _finish(
    rng: random.Random,
    lang: str,
    parts: list[str],
    *,
    mood: str,
    needs: tuple[str, ...],
    hour: int | None,
    sound: bool = False,
    gentle: bool = False,
) -> str:
    """The reply: maybe a sound first, then the body, then what colours it (nothing when
    `gentle`: comfort is not the moment for a purr about dinner)."""
    if gentle:
        reply = " ".join(p.strip() for p in parts if p and p.strip())
        return reply[:1].upper() + reply[1:]
    if sound and rng.random() < SOUND_SHARE:
        parts.insert(0, _pick(rng, lang, "sounds"))
    for need in needs[:1]:
        parts.append(_pick(rng, lang, "needs", need))
    share = CONTENT_MOOD_SHARE if mood == "content" else MOOD_SHARE
    if not needs and rng.random() < share:
        parts.append(_pick(rng, lang, "mood", mood))
    moment = time_of_day(hour)
    if moment and rng.random() < TIME_SHARE:
        parts.append(_pick(rng, lang, "time_of_day", moment))
    reply = " ".join(p.strip() for p in parts if p and p.strip())
    return reply[:1].upper() + reply[1:]


def _topic(text: str, name: str, lang: str) -> str:
    return salient_topic(text, ignore=name, lang=lang)
