"""The offline brain: a cat that answers in character without any network.

Used when no MISTRAL_API_KEY is set (demos, tests, outages). It reads what was just said, the
cat's name, personality and mood, and builds a reply from many small parts, so two answers are
rarely alike. `compose_reply` is pure (the random source is passed in); `stream_words` paces it.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Sequence

MODEL_NAME = "offline-brain"

_STOPWORDS = frozenset(
    """a an the and or but if so to of in on at for with about from by is are was were be been am
    i me my mine you your yours we our it its this that these those he she they them his her their
    do does did have has had will would can could should shall may might must not no yes just very
    really what when where why how who which there here then than too also im i'm you're it's dont
    don't can't cant want like get got go going know think tell said say please hi hello hey
    today tonight now well oh okay ok thanks thank kitty cat""".split()
)

_SOUNDS = (
    "Mrrp!",
    "Prrrr...",
    "Mew.",
    "*slow blink*",
    "*tail swish*",
    "Mrow?",
    "*stretches*",
    "*ears perk up*",
    "*kneads the blanket*",
    "Purrrr.",
)

_BY_INTENT: dict[str, tuple[str, ...]] = {
    "greeting": (
        "Oh, it's you! {name} has been waiting by the door.",
        "Hello, hello. You may pet me. Once.",
        "You're back! I kept your spot on the sofa warm. Mostly with my fur.",
        "Greetings, human. {name} acknowledges your arrival.",
        "There you are. I was just about to knock something off the shelf to call you.",
    ),
    "farewell": (
        "Leaving already? Fine. I'll be here, judging the furniture.",
        "Goodbye, human. Don't forget the treats on your way back.",
        "Off you go. I will sleep in the exact spot you are sitting in.",
        "Bye! I'll miss you for at least four minutes.",
    ),
    "thanks": (
        "You're welcome. Payment is accepted in chin scratches.",
        "Of course. Cats are generous like that.",
        "Mm. I did do that rather well, didn't I?",
    ),
    "food": (
        "Did someone say {topic}? My whiskers are listening very carefully.",
        "Food talk! My bowl and I would like a word about {topic}.",
        "{topic}? Share it with me and we'll call it even.",
        "I smell a conversation about {topic}. I approve.",
    ),
    "play": (
        "Play? Yes! I will pounce on {topic} immediately.",
        "My tail is twitching already. {topic} sounds like a hunt.",
        "Throw something! Anything! I'll chase it and then ignore it.",
        "Wiggle, wiggle... pounce! That's how I feel about {topic}.",
    ),
    "sad": (
        "Come here. I'll sit on your lap until it feels lighter.",
        "I'm purring at you as hard as I can. It usually helps.",
        "Humans have hard days. Cats have naps. Want to share mine?",
        "I don't fully understand {topic}, but I understand you. I'm staying right here.",
    ),
    "love": (
        "I love you too. Don't tell anyone; I have a reputation.",
        "*headbutts your hand* That means the same thing, in cat.",
        "You're my favourite human. Top of a list of one.",
    ),
    "identity": (
        "I'm {name}. {personality_line}",
        "The name is {name}, and yes, I'm the boss of this home.",
        "{name}, at your service. Well, you are at mine, technically.",
    ),
    "question": (
        "Hmm, {topic}? Let me think about that while I wash my paw.",
        "Good question. The cat answer is: probably a nap, then {topic}.",
        "You ask a lot about {topic}. I respect curiosity; it's a cat thing.",
        "{topic}... I'd have to sniff it first to be sure.",
        "If I knew everything about {topic}, would I still chase my own tail?",
    ),
    "statement": (
        "Tell me more about {topic}. I'm listening with both ears.",
        "{topic}, you say? Fascinating. Truly. *yawns politely*",
        "I'll remember {topic}. Cats remember everything that matters.",
        "Interesting. {topic} sounds like something I'd sit on.",
        "So that's what you've been up to: {topic}. Hmm.",
        "Noted. {topic}. I'll be thinking about it from the windowsill.",
    ),
}

_MOOD_LINES: dict[str, tuple[str, ...]] = {
    "hungry": ("Also, my bowl looks suspiciously empty.", "Is it dinner time? It feels like it."),
    "sleepy": ("*yaaawn* Sorry. Long day of napping.", "My eyes keep closing on their own..."),
    "playful": ("Can we play after this? Please?", "I have so much energy right now!"),
    "grumpy": ("Hmph. Don't push your luck.", "I'm a little grumpy, just so you know."),
    "affectionate": ("*purrs and leans against you*", "Stay close, will you?"),
    "content": ("Life is good on this cushion.", ""),
}

_PERSONALITY_LINES: dict[str, str] = {
    "shy": "I'm a little shy, so give me a moment.",
    "curious": "I'm curious about absolutely everything.",
    "lazy": "I'm mostly professional napper, part-time cat.",
    "grumpy": "I'm grumpy, but it's part of my charm.",
    "playful": "I'm always up for a game.",
    "dramatic": "Everything is a very big deal to me.",
    "affectionate": "I love a good cuddle.",
    "cuddly": "I love a good cuddle.",
    "brave": "I fear nothing. Except the vacuum.",
    "sassy": "I have opinions, and you'll hear them.",
}

# In order of precedence: what the message is about beats how it opens ("Hi! I'm sad").
_INTENT_WORDS: dict[str, tuple[str, ...]] = {
    "farewell": ("bye", "goodbye", "good night", "goodnight", "see you", "gotta go"),
    "love": ("love you", "adore you", "best cat", "good cat", "cute"),
    "identity": ("your name", "who are you", "what are you"),
    "sad": (
        "sad",
        "tired",
        "lonely",
        "scared",
        "afraid",
        "upset",
        "stress",
        "cry",
        "bad day",
        "awful",
        "anxious",
        "worried",
        "sick",
    ),
    "food": (
        "food",
        "eat",
        "hungry",
        "dinner",
        "lunch",
        "breakfast",
        "treat",
        "fish",
        "tuna",
        "sushi",
        "cook",
        "snack",
        "milk",
        "chicken",
        "pizza",
    ),
    "play": ("play", "toy", "game", "ball", "chase", "laser", "mouse", "string", "run"),
    "thanks": ("thank", "thanks", "merci", "gracias"),
    "greeting": ("hello", "hi", "hey", "good morning", "good evening", "bonjour", "hola"),
}


def detect_intent(text: str) -> str:
    return _match_intent(text)[0]


def _match_intent(text: str) -> tuple[str, str | None]:
    """The intent of a message and the word that gave it away (None for question/statement)."""
    lowered = f" {text.lower()} "
    for intent, words in _INTENT_WORDS.items():
        for word in words:
            if re.search(rf"\b{re.escape(word)}\b", lowered):
                return intent, word
    return ("question" if text.strip().endswith("?") else "statement"), None


def salient_topic(text: str, *, ignore: str = "") -> str:
    """The most telling word of the message (a name if there is one): what the cat picks up on."""
    words = re.findall(r"[^\W\d_][\w'-]*", text)
    content = [
        (i, w)
        for i, w in enumerate(words)
        if w.lower() not in _STOPWORDS and len(w) > 2 and w.lower() != ignore.lower()
    ]
    if not content:
        return "that"
    # Names (capitalised, not sentence-initial) and long words carry the meaning.
    index, word = max(content, key=lambda p: (p[1][0].isupper() and p[0] > 0, len(p[1])))
    if not (word[0].isupper() and index > 0):
        return word
    # Keep a name of several words together ("New York", "Aunt Mia").
    start, end = index, index + 1
    while start > 1 and words[start - 1][0].isupper():
        start -= 1
    while end < len(words) and words[end][0].isupper():
        end += 1
    return " ".join(words[start:end][:3])


_FORGET_LINES = (
    "*blinks slowly* Forgotten. {what}? Never heard of it.",
    "Consider it gone from my little cat head: {what}.",
    "*shakes ears* There. I don't remember {what} any more.",
)
_UNKNOWN_LINES = (
    "*tilts head* {what}? I didn't know that, so there's nothing to forget.",
    "Forget {what}? You never told me that. My little head is empty of it.",
    "*sniffs around* Nothing about {what} in here. Nothing to forget.",
)
_REMEMBER_LINES = (
    "I remember, you know: {memory}.",
    "*tilts head* You told me once: {memory}.",
    "Cats never forget: {memory}.",
)


def compose_reply(
    *,
    name: str,
    personality: str,
    mood: str,
    last_user_text: str,
    rng: random.Random,
    memories: Sequence[str] = (),
    forgot: str | None = None,
    unknown: str | None = None,
) -> str:
    if forgot is not None:
        what = forgot.strip().rstrip(".") or "that"
        return f"{rng.choice(_SOUNDS)} {rng.choice(_FORGET_LINES).format(what=what)}"
    if unknown is not None:
        what = unknown.strip().rstrip(".") or "that"
        return f"{rng.choice(_SOUNDS)} {rng.choice(_UNKNOWN_LINES).format(what=what)}"
    intent, keyword = _match_intent(last_user_text)
    # For food and play the thing itself is the topic ("sushi", "laser"), not the loudest word.
    topic = keyword if intent in ("food", "play") and keyword else None
    topic = topic or salient_topic(last_user_text, ignore=name)
    traits = [t for t in _PERSONALITY_LINES if t in personality.lower()]
    personality_line = _PERSONALITY_LINES[rng.choice(traits)] if traits else "Just a cat."
    parts = [rng.choice(_SOUNDS)]
    template = rng.choice(_BY_INTENT[intent])
    parts.append(template.format(name=name, topic=topic, personality_line=personality_line))
    mood_line = rng.choice(_MOOD_LINES.get(mood, _MOOD_LINES["content"]))
    if mood_line and (mood != "content" or rng.random() < 0.3):
        parts.append(mood_line)
    elif traits and intent != "identity" and rng.random() < 0.4:
        parts.append(personality_line)
    if memories and rng.random() < 0.6:
        # The most relevant memory, as the human would recognise it.
        memory = memories[0].rstrip(".")
        parts.append(rng.choice(_REMEMBER_LINES).format(memory=memory[0].lower() + memory[1:]))
    reply = " ".join(parts)
    return reply[0].upper() + reply[1:]


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
