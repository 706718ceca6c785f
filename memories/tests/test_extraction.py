"""Memory extraction with Mistral: the pure prompt and parsing, then the real SDK in JSON mode
against the fake Mistral server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from catchat import llm
from catchat.testing.fake_mistral import Fail, FakeMistral, Hang, Reply, Truncate
from memories.extraction import (
    CATEGORIES,
    Decision,
    Existing,
    extract_with_llm,
    extraction_prompt,
    parse_decisions,
)
from memories.models import Memory

MESSAGE = "Bonjour Minou ! J'ai déménagé à Paris la semaine dernière, et mon chien Rex adore ça."
EXISTING = [
    Existing("m1", "Habite à Lyon", "place"),
    Existing("m2", "A un chien qui s'appelle Rex", "pets"),
]


def fact(**fields: Any) -> dict[str, Any]:
    item = {
        "op": "add",
        "text": "Aime les sushis",
        "category": "preference",
        "importance": 3,
        "target": None,
        "quote": "",
    }
    item.update(fields)
    return item


def parse(*items: Any, existing: list[Existing] = EXISTING) -> list[Decision]:
    return parse_decisions({"facts": list(items)}, existing=existing, message=MESSAGE)


# --- the prompt ---------------------------------------------------------------------------------


def test_prompt_carries_the_message_and_existing_memories_under_local_ids() -> None:
    system, user = extraction_prompt(message=MESSAGE, existing=EXISTING)
    assert "JSON" in system and "JSON" in user  # Mistral's JSON mode needs the prompt to ask
    assert '"facts"' in system
    payload = json.loads(user[user.index("{") :])
    assert payload["message"] == MESSAGE
    assert MESSAGE in user  # readable as is, not \u-escaped
    assert payload["existing_memories"] == [
        {"id": "m1", "text": "Habite à Lyon", "category": "place"},
        {"id": "m2", "text": "A un chien qui s'appelle Rex", "category": "pets"},
    ]
    for op in ('"add"', '"update"', '"none"'):
        assert op in system
    assert "human's own language" in system
    assert "Never invent" in system


def test_prompt_shows_no_database_ids() -> None:
    # Only what Existing carries reaches the model: the local id, the text and the category.
    _, user = extraction_prompt(message="hi", existing=[Existing("m1", "Lives in Lyon", "place")])
    (shown,) = json.loads(user[user.index("{") :])["existing_memories"]
    assert set(shown) == {"id", "text", "category"}
    assert shown["id"] == "m1"


def test_prompt_with_no_memories_yet() -> None:
    _, user = extraction_prompt(message="I'm Alice", existing=[])
    assert json.loads(user[user.index("{") :])["existing_memories"] == []


def test_the_categories_are_the_memory_model_categories() -> None:
    assert set(CATEGORIES) == set(Memory.Category.values)


# --- parsing the model's decisions --------------------------------------------------------------


def test_a_well_formed_reply_becomes_decisions() -> None:
    decisions = parse(
        fact(
            op="update",
            text="Habite à Paris",
            category="place",
            importance=4,
            target="m1",
            quote="J'ai déménagé à Paris",
        ),
        fact(op="none", text="A un chien qui s'appelle Rex !", category="pets", target="m2"),
    )
    assert decisions == [
        Decision("update", "Habite à Paris", "place", 4, "m1", "J'ai déménagé à Paris"),
        Decision("none", "A un chien qui s'appelle Rex !", "pets", 3, "m2", ""),
    ]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"facts": None},
        {"facts": "Habite à Paris"},
        {"facts": {"op": "add", "text": "Habite à Paris"}},
        {"memories": [fact()]},
    ],
)
def test_a_reply_without_a_list_of_facts_means_no_decisions(data: dict[str, Any]) -> None:
    assert parse_decisions(data, existing=EXISTING, message=MESSAGE) == []


def test_malformed_items_are_dropped_and_the_rest_kept() -> None:
    decisions = parse(
        "Habite à Paris",
        None,
        42,
        ["add", "Habite à Paris"],
        fact(op="delete"),
        fact(op=None),
        {"text": "Habite à Paris"},  # no op
        fact(text=None),
        fact(text=123),
        fact(text="   "),
        fact(text="Travaille comme infirmière", category="work"),
    )
    assert [(d.op, d.text) for d in decisions] == [("add", "Travaille comme infirmière")]


@pytest.mark.parametrize("target", ["m9", "3", None, "", 1, "M1", "memory 1"])
def test_an_update_of_an_unknown_memory_becomes_an_add(target: Any) -> None:
    (decision,) = parse(fact(op="update", text="Habite à Paris", target=target))
    assert decision.op == "add"
    assert decision.target is None


def test_two_updates_of_one_memory_supersede_it_once() -> None:
    decisions = parse(
        fact(op="update", text="Habite à Paris", target="m1"),
        fact(op="update", text="Habite près de la tour Eiffel", target="m1"),
    )
    assert [(d.op, d.target) for d in decisions] == [("update", "m1"), ("add", None)]


def test_an_add_gets_no_target_and_a_none_keeps_only_a_known_one() -> None:
    decisions = parse(
        fact(op="add", text="Aime les sushis", target="m1"),
        fact(op="none", text="Aime le thé", target="m7"),
    )
    assert [(d.op, d.target) for d in decisions] == [("add", None), ("none", None)]


def test_a_fact_already_remembered_word_for_word_is_not_added_again() -> None:
    (decision,) = parse(fact(op="add", text="habite à  Lyon.", category="place"))
    assert (decision.op, decision.target) == ("none", "m1")


def test_the_same_fact_twice_in_one_reply_is_kept_once() -> None:
    decisions = parse(fact(text="Aime les sushis"), fact(text="aime les sushis"))
    assert len(decisions) == 1


@pytest.mark.parametrize(
    ("category", "expected"),
    [("pets", "pets"), (" Work ", "work"), ("hobby", "other"), (None, "other"), (7, "other")],
)
def test_an_unknown_category_becomes_other(category: Any, expected: str) -> None:
    (decision,) = parse(fact(category=category))
    assert decision.category == expected


@pytest.mark.parametrize(
    ("importance", "expected"),
    [
        (4, 4),
        (99, 5),
        (10**100, 5),
        (0, 1),
        (-3, 1),
        (4.6, 5),
        ("2", 2),
        ("very", 3),
        (None, 3),
        (True, 3),
        (float("nan"), 3),
        (float("inf"), 5),
        ([5], 3),
    ],
)
def test_importance_is_clamped_to_one_to_five(importance: Any, expected: int) -> None:
    (decision,) = parse(fact(importance=importance))
    assert decision.importance == expected


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        ("mon chien Rex", "mon chien Rex"),
        ("  déménagé à Paris ", "déménagé à Paris"),
        ("I moved to Paris", ""),  # a translation, not the human's words
        ("mon chien rex", ""),  # not copied exactly
        (None, ""),
        (12, ""),
    ],
)
def test_a_quote_must_come_from_the_message(quote: Any, expected: str) -> None:
    (decision,) = parse(fact(quote=quote))
    assert decision.quote == expected


def test_text_is_capped_and_so_is_the_number_of_facts() -> None:
    (long,) = parse(fact(text="x" * 5000))
    assert long.text == "x" * 500
    many = parse(*[fact(text=f"Fait numéro {i}") for i in range(25)])
    assert [d.text for d in many] == [f"Fait numéro {i}" for i in range(10)]


def test_dropped_items_do_not_count_toward_the_cap() -> None:
    items = [fact(text="")] * 10 + [fact(text=f"Fait {i}") for i in range(3)]
    assert len(parse(*items)) == 3


# --- through the real SDK and the fake Mistral server -------------------------------------------


@pytest.mark.asyncio
async def test_extraction_asks_mistral_in_json_mode_and_returns_the_decisions(
    mistral: FakeMistral,
) -> None:
    reply = {
        "facts": [
            fact(
                op="update",
                text="Habite à Paris",
                category="place",
                importance=4,
                target="m1",
                quote="J'ai déménagé à Paris",
            ),
            fact(op="none", text="A un chien qui s'appelle Rex", category="pets", target="m2"),
        ]
    }
    mistral.script_json(Reply(json.dumps(reply, ensure_ascii=False)))

    decisions = await extract_with_llm(message=MESSAGE, existing=EXISTING)

    assert decisions == [
        Decision("update", "Habite à Paris", "place", 4, "m1", "J'ai déménagé à Paris"),
        Decision("none", "A un chien qui s'appelle Rex", "pets", 3, "m2", ""),
    ]
    (request,) = mistral.chat_requests
    body = request["body"]
    assert body["response_format"] == {"type": "json_object"}
    assert body["stream"] is False
    assert body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    system, user = extraction_prompt(message=MESSAGE, existing=EXISTING)
    assert [m["content"] for m in body["messages"]] == [system, user]


@pytest.mark.asyncio
async def test_complete_json_returns_the_parsed_object(mistral: FakeMistral) -> None:
    mistral.script_json(Reply('{"facts": [], "note": "rien"}'))
    data = await llm.complete_json(system="Answer in JSON.", user="{}", max_tokens=50)
    assert data == {"facts": [], "note": "rien"}
    assert mistral.chat_requests[0]["body"]["max_tokens"] == 50


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("fail", "code", "retry_after"),
    [
        pytest.param(Fail(500), "llm_unavailable", None, id="500"),
        pytest.param(Fail(503), "llm_unavailable", None, id="503"),
        pytest.param(Fail(429, headers={"Retry-After": "7"}), "rate_limited", 7, id="429"),
        pytest.param(Fail(401), "llm_auth", None, id="401"),
        pytest.param(Fail(422, body={"detail": []}), "llm_bad_request", None, id="422"),
    ],
)
async def test_a_mistral_failure_becomes_an_llm_error(
    mistral: FakeMistral, settings: Any, fail: Fail, code: str, retry_after: int | None
) -> None:
    settings.MISTRAL_MAX_RETRIES = 0
    mistral.script_json(fail)
    with pytest.raises(llm.LLMError) as raised:
        await extract_with_llm(message=MESSAGE, existing=EXISTING)
    assert raised.value.code == code
    assert raised.value.retry_after == retry_after


@pytest.mark.asyncio
async def test_a_5xx_is_retried_before_it_becomes_an_error(mistral: FakeMistral) -> None:
    # The fixture allows 2 retries: one 500 then an answer is a success.
    mistral.script_json(Fail(500), Reply('{"facts": []}'))
    assert await extract_with_llm(message=MESSAGE, existing=EXISTING) == []
    assert len(mistral.chat_requests) == 2


@pytest.mark.asyncio
async def test_a_timeout_becomes_an_llm_error(mistral: FakeMistral, settings: Any) -> None:
    settings.MISTRAL_TIMEOUT_MS = 300
    settings.MISTRAL_MAX_RETRIES = 0
    mistral.script_json(Hang(3))
    with pytest.raises(llm.LLMError) as raised:
        await extract_with_llm(message=MESSAGE, existing=EXISTING)
    assert raised.value.code == "llm_timeout"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "content",
    [
        pytest.param("Bien sûr ! Voici les faits : Habite à Paris.", id="prose"),
        pytest.param('{"facts": [', id="cut-json"),
        pytest.param('["Habite à Paris"]', id="array"),
        pytest.param('"facts"', id="string"),
        pytest.param("", id="empty"),
    ],
)
async def test_a_reply_that_is_not_a_json_object_is_a_bad_response(
    mistral: FakeMistral, content: str
) -> None:
    mistral.script_json(Reply([content]))
    with pytest.raises(llm.LLMError) as raised:
        await extract_with_llm(message=MESSAGE, existing=EXISTING)
    assert raised.value.code == "llm_bad_response"


@pytest.mark.asyncio
async def test_a_json_reply_cut_at_max_tokens_is_truncated(mistral: FakeMistral) -> None:
    mistral.script_json(Truncate('{"facts": [{"op": "add", "text": "Habite', after=3))
    with pytest.raises(llm.LLMError) as raised:
        await extract_with_llm(message=MESSAGE, existing=EXISTING)
    assert raised.value.code == "llm_truncated"


@pytest.mark.asyncio
async def test_complete_json_needs_mistral(fake_mistral: FakeMistral) -> None:
    # Offline (no MISTRAL_API_KEY, the default in tests): no request with an empty key.
    with pytest.raises(llm.LLMError) as raised:
        await llm.complete_json(system="JSON please", user="{}")
    assert raised.value.code == "llm_auth"
    assert fake_mistral.requests == []
