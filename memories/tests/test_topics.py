from __future__ import annotations

from memories.topics import passage_text


def test_a_memory_about_food_is_embedded_with_its_topic() -> None:
    assert passage_text("Loves sushi") == "Loves sushi (food, eating, cooking, meals, dinner)"
    assert "food" in passage_text("Adore les crêpes")


def test_a_memory_in_several_topics_gets_each_gloss_once() -> None:
    text = passage_text("Plays the cello and loves pizza, pizza, pizza")
    assert text.count("music") == 1 and text.count("food") == 1


def test_a_memory_without_a_known_topic_is_left_as_it_is() -> None:
    assert passage_text("Sister is called Mia") == "Sister is called Mia"
