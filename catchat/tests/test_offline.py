from __future__ import annotations

import random

import pytest

from catchat import offline


def reply(text: str, seed: int, **persona: str) -> str:
    kwargs = {"name": "Whiskers", "personality": "", "mood": "content", **persona}
    return offline.compose_reply(last_user_text=text, rng=random.Random(seed), **kwargs)


def test_replies_vary_for_the_same_message() -> None:
    replies = {reply("How was your day?", seed) for seed in range(30)}
    assert len(replies) >= 10


def test_it_picks_up_what_was_just_said() -> None:
    texts = [reply("My dog Rex chewed my slippers", seed) for seed in range(20)]
    assert any("Rex" in t or "slippers" in t for t in texts)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Hello kitty!", "greeting"),
        ("Good night, see you tomorrow", "farewell"),
        ("I cooked salmon for dinner", "food"),
        ("Want to play with the laser?", "play"),
        ("I'm so sad today", "sad"),
        ("What's your name?", "identity"),
        ("Is it raining over there?", "question"),
        ("I went to Lisbon last week", "statement"),
    ],
)
def test_it_understands_the_gist(text: str, intent: str) -> None:
    assert offline.detect_intent(text) == intent


def test_it_knows_its_own_name_and_personality() -> None:
    texts = [reply("Who are you?", seed, personality="grumpy old tom") for seed in range(20)]
    assert any("Whiskers" in t for t in texts)
    assert any("grumpy" in t for t in texts)


def test_a_mood_colours_the_reply() -> None:
    texts = [reply("hi there", seed, mood="hungry") for seed in range(10)]
    assert any("bowl" in t or "dinner" in t for t in texts)


async def test_it_streams_word_by_word() -> None:
    words = [w async for w in offline.stream_words("Mrrp. Hello there human", 0)]
    assert words == ["Mrrp. ", "Hello ", "there ", "human"]


def test_what_a_message_is_about_beats_how_it_opens() -> None:
    assert offline.detect_intent("Hi Whiskers! My dog Rex ate my sushi") == "food"
    assert offline.detect_intent("Hey, I'm so sad today") == "sad"


def test_the_topic_is_a_name_when_there_is_one_but_never_the_cats_own() -> None:
    assert offline.salient_topic("Whiskers, my sister Mia visited", ignore="Whiskers") == "Mia"
    assert offline.salient_topic("We moved to New York last spring") == "New York"
    assert offline.salient_topic("ok") == "that"
