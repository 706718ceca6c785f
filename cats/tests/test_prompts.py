from __future__ import annotations

from cats.prompts import HistoryItem, history_turns, system_prompt


def test_the_system_prompt_gives_the_cat_its_name_personality_and_keeps_it_a_cat() -> None:
    prompt = system_prompt(name="Miso", personality="shy but brave", coat="tabby", mood="sleepy")
    assert "You are Miso" in prompt
    assert "shy but brave" in prompt
    assert "tabby coat" in prompt
    assert "sleepy" in prompt
    assert "never say you are an AI" in prompt


def test_a_cat_without_a_personality_still_has_one() -> None:
    assert "Your personality: curious" in system_prompt(name="Miso", personality=" ", coat="")


def test_history_keeps_the_newest_turns_within_the_budget_oldest_first() -> None:
    history = [
        HistoryItem("user" if i % 2 == 0 else "cat", f"message {i} " * 10) for i in range(21)
    ]
    turns = history_turns(history, token_budget=100)
    assert turns[-1].content.startswith("message 20")
    assert 1 < len(turns) < 21
    assert [t.content.split()[1] for t in turns] == sorted(
        (t.content.split()[1] for t in turns), key=int
    )
    assert {t.role for t in turns} <= {"user", "assistant"}


def test_the_newest_message_is_kept_even_when_it_alone_is_over_budget() -> None:
    turns = history_turns([HistoryItem("user", "x" * 10_000)], token_budget=10)
    assert len(turns) == 1


def test_history_ends_on_the_users_turn_and_skips_empty_replies() -> None:
    history = [
        HistoryItem("user", "hi"),
        HistoryItem("cat", ""),
        HistoryItem("user", "hello?"),
        HistoryItem("cat", "Mrrp."),
    ]
    turns = history_turns(history, token_budget=1000)
    assert [(t.role, t.content) for t in turns] == [("user", "hi"), ("user", "hello?")]
