"""How the page draws a cat: coat palettes, meters and mood words (pure functions)."""

from __future__ import annotations

import pytest

from cats import looks
from cats.forms import COMMON_COATS


@pytest.mark.parametrize(
    ("coat", "look"),
    [
        ("ginger", ("ginger", "solid")),
        ("Orange tabby", ("ginger", "tabby")),
        ("grey tabby", ("grey", "tabby")),
        ("tabby", ("brown", "tabby")),
        ("black", ("black", "solid")),
        ("black and white", ("black", "tuxedo")),
        ("tuxedo", ("black", "tuxedo")),
        ("calico", ("white", "calico")),
        ("tortoiseshell", ("black", "tortie")),
        ("siamese (colourpoint)", ("cream", "point")),
        ("seal point", ("cream", "point")),
        ("smoky blue", ("blue", "solid")),
        ("lilac", ("lilac", "solid")),
        ("snow white", ("white", "solid")),
        ("dark-furred", ("neutral", "solid")),  # "red" inside a word is not a colour
        ("sunset with sparkles", ("neutral", "solid")),
        ("", ("neutral", "solid")),
    ],
)
def test_a_coat_in_common_words_gets_its_colours(coat: str, look: tuple[str, str]) -> None:
    assert looks.coat_look(coat) == look


def test_every_coat_the_adopt_form_offers_has_a_palette() -> None:
    for coat in COMMON_COATS:
        colour, pattern = looks.coat_look(coat)
        assert colour in looks.COAT_COLOURS
        assert pattern in looks.COAT_PATTERNS
        assert colour != "neutral", coat


def test_meters_are_clamped_and_hunger_says_which_end_is_starving() -> None:
    state = {"hunger": 101.4, "energy": -3, "affection": 59.6, "fun": 20, "mood": "grumpy"}

    hunger, energy, affection, fun = looks.meters(state)

    assert [m.value for m in (hunger, energy, affection, fun)] == [100, 0, 60, 20]
    assert hunger.accessible_name == "Hunger 100 of 100, 0 is full, 100 is starving"
    assert hunger.optimum == 0 and hunger.ends == ("full", "starving")
    assert energy.accessible_name == "Energy 0 of 100"
    assert energy.optimum == 100 and energy.ends is None


def test_the_mood_in_words_and_the_look_it_is_drawn_in() -> None:
    assert looks.mood_hint({"mood": "hungry", "asleep": False}) == "eyeing the food bowl"
    assert looks.mood_hint({"mood": "sleepy", "asleep": True}) == "curled up, dreaming"
    assert looks.mood_hint({"mood": "zoomies", "asleep": False}) == ""
    assert looks.mood_look({"mood": "grumpy"}) == "grumpy"
    assert looks.mood_look({"mood": "zoomies"}) == "content"  # a newer mood still has a face
    for mood in looks.MOODS:
        assert looks.MOOD_HINTS[mood]
