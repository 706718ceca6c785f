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
    Said,
    extract_with_llm,
    extraction_prompt,
    parse_decisions,
)
from memories.models import Memory

MESSAGE = "Bonjour Minou ! J'ai déménagé à Paris la semaine dernière, et mon chien Rex adore ça."
MESSAGES = [Said("u1", MESSAGE)]
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
    return parse_decisions({"facts": list(items)}, existing=existing, messages=MESSAGES)


# --- the prompt ---------------------------------------------------------------------------------


def test_prompt_carries_the_message_and_existing_memories_under_local_ids() -> None:
    system, user = extraction_prompt(messages=MESSAGES, existing=EXISTING)
    assert "JSON" in system and "JSON" in user  # Mistral's JSON mode needs the prompt to ask
    assert '"facts"' in system
    payload = json.loads(user[user.index("{") :])
    assert payload["messages"] == [{"id": "u1", "text": MESSAGE}]
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
    _, user = extraction_prompt(
        messages=[Said("u1", "hi")], existing=[Existing("m1", "Lives in Lyon", "place")]
    )
    (shown,) = json.loads(user[user.index("{") :])["existing_memories"]
    assert set(shown) == {"id", "text", "category"}
    assert shown["id"] == "m1"


def test_prompt_with_no_memories_yet() -> None:
    _, user = extraction_prompt(messages=[Said("u1", "I'm Alice")], existing=[])
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
        Decision("update", "Habite à Paris", "place", 4, "m1", "J'ai déménagé à Paris", "u1", "f1"),
        Decision("none", "A un chien qui s'appelle Rex !", "pets", 3, "m2", "", "u1", "f2"),
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
    assert parse_decisions(data, existing=EXISTING, messages=MESSAGES) == []


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


def test_nul_characters_never_reach_the_database() -> None:
    (decision,) = parse(fact(text="Aime les\x00 sushis\x00"))
    assert decision.text == "Aime les sushis"


def test_dropped_items_do_not_count_toward_the_cap() -> None:
    items = [fact(text="")] * 10 + [fact(text=f"Fait {i}") for i in range(3)]
    assert len(parse(*items)) == 3


# --- a batch: several messages in one reply ----------------------------------------------------

BATCH = [
    Said("u1", "J'habite à Lyon depuis deux ans."),
    Said("u2", "Il pleut encore aujourd'hui."),
    Said("u3", "Finalement je déménage à Paris, et j'adore les sushis."),
]


def parse_batch(*items: Any, existing: list[Existing] | None = None) -> list[Decision]:
    return parse_decisions({"facts": list(items)}, existing=existing or [], messages=BATCH)


def test_prompt_lists_every_message_of_a_batch_under_its_local_id() -> None:
    system, user = extraction_prompt(messages=BATCH, existing=EXISTING)
    payload = json.loads(user[user.index("{") :])
    assert payload["messages"] == [{"id": m.local_id, "text": m.text} for m in BATCH]
    assert '"message"' in system and '"f1"' in system  # each fact names its message, has an id


def test_each_fact_keeps_its_own_message_and_quote() -> None:
    decisions = parse_batch(
        fact(id="f1", message="u3", text="Aime les sushis", quote="j'adore les sushis"),
        fact(id="f2", message="u1", text="Habite à Lyon", quote="J'habite à Lyon"),
        # A quote from another message is not this one's.
        fact(id="f3", message="u3", text="Vit en France", quote="J'habite à Lyon"),
    )
    assert [(d.message, d.text, d.quote, d.ref) for d in decisions] == [
        ("u1", "Habite à Lyon", "J'habite à Lyon", "f2"),  # in the order of the messages
        ("u3", "Aime les sushis", "j'adore les sushis", "f1"),
        ("u3", "Vit en France", "", "f3"),
    ]


def test_a_fact_without_a_known_message_is_placed_by_its_quote_or_dropped() -> None:
    decisions = parse_batch(
        fact(text="Aime les sushis", quote="j'adore les sushis"),  # no message: its quote's
        fact(message="u9", text="Habite à Lyon", quote="J'habite à Lyon"),  # unknown id
        fact(message="u9", text="Aime le soleil", quote="le soleil"),  # quote in no message
        fact(text="Vit en France", quote="à"),  # quote in several messages: which one?
        fact(message=["u1"], text="A deux ans de bail"),  # no quote either
    )
    assert [(d.message, d.text) for d in decisions] == [
        ("u1", "Habite à Lyon"),
        ("u3", "Aime les sushis"),
    ]


def test_with_one_message_a_fact_needs_no_message_id() -> None:
    (decision,) = parse(fact(message="u7", text="Habite à Paris"))
    assert decision.message == "u1"


def test_a_later_message_updates_an_earlier_messages_fact_by_its_id() -> None:
    decisions = parse_batch(
        fact(id="a", message="u1", text="Habite à Lyon", category="place"),
        fact(id="b", message="u3", op="update", text="Habite à Paris", target="a"),
    )
    # The model's own ids become refs by position: "a" is f1.
    assert [(d.op, d.target, d.ref) for d in decisions] == [
        ("add", None, "f1"),
        ("update", "f1", "f2"),
    ]


@pytest.mark.parametrize(
    "items",
    [
        # An earlier message cannot update a later one's fact, nor a message its own.
        [
            fact(id="f1", message="u1", op="update", text="Habite à Lyon", target="f2"),
            fact(id="f2", message="u3", text="Habite à Paris"),
        ],
        [
            fact(id="f1", message="u3", text="Habite à Paris"),
            fact(id="f2", message="u3", op="update", text="Habite rue de Rivoli", target="f1"),
        ],
    ],
)
def test_an_update_of_a_fact_that_is_not_earlier_becomes_an_add(items: list[Any]) -> None:
    decisions = parse_batch(*items)
    assert [d.op for d in decisions] == ["add", "add"]
    assert all(d.target is None for d in decisions)


def test_a_fact_said_in_two_messages_of_a_batch_is_kept_once_from_the_first() -> None:
    decisions = parse_batch(
        fact(message="u3", text="Aime les sushis"),
        fact(message="u1", text="aime les sushis"),
    )
    assert [(d.message, d.text) for d in decisions] == [("u1", "aime les sushis")]


def test_the_cap_on_facts_is_per_message() -> None:
    items = [
        fact(message=m.local_id, text=f"{m.local_id} fait {i}") for m in BATCH for i in range(12)
    ]
    decisions = parse_batch(*items)
    assert [sum(d.message == m.local_id for d in decisions) for m in BATCH] == [10, 10, 10]


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

    decisions = await extract_with_llm(messages=MESSAGES, existing=EXISTING)

    assert decisions == [
        Decision("update", "Habite à Paris", "place", 4, "m1", "J'ai déménagé à Paris", "u1", "f1"),
        Decision("none", "A un chien qui s'appelle Rex", "pets", 3, "m2", "", "u1", "f2"),
    ]
    (request,) = mistral.chat_requests
    body = request["body"]
    assert body["response_format"] == {"type": "json_object"}
    assert body["stream"] is False
    assert body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    system, user = extraction_prompt(messages=MESSAGES, existing=EXISTING)
    assert [m["content"] for m in body["messages"]] == [system, user]
    assert body["max_tokens"] == 800  # one message: ten facts with quotes fit


@pytest.mark.asyncio
async def test_a_batch_is_one_call_with_room_for_every_messages_facts(mistral: FakeMistral) -> None:
    reply = {
        "facts": [
            fact(id="f1", message="u1", text="Habite à Lyon", category="place"),
            fact(id="f2", message="u3", op="update", text="Habite à Paris", target="f1"),
        ]
    }
    mistral.script_json(Reply(json.dumps(reply, ensure_ascii=False)))
    decisions = await extract_with_llm(messages=BATCH, existing=[])
    assert [(d.message, d.op, d.target) for d in decisions] == [
        ("u1", "add", None),
        ("u3", "update", "f1"),
    ]
    (request,) = mistral.chat_requests
    assert request["body"]["max_tokens"] == 800 + 2 * 400


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
        await extract_with_llm(messages=MESSAGES, existing=EXISTING)
    assert raised.value.code == code
    assert raised.value.retry_after == retry_after


@pytest.mark.asyncio
async def test_a_5xx_is_retried_before_it_becomes_an_error(mistral: FakeMistral) -> None:
    # The fixture allows 2 retries: one 500 then an answer is a success.
    mistral.script_json(Fail(500), Reply('{"facts": []}'))
    assert await extract_with_llm(messages=MESSAGES, existing=EXISTING) == []
    assert len(mistral.chat_requests) == 2


@pytest.mark.asyncio
async def test_a_timeout_becomes_an_llm_error(mistral: FakeMistral, settings: Any) -> None:
    settings.MISTRAL_TIMEOUT_MS = 300
    settings.MISTRAL_MAX_RETRIES = 0
    mistral.script_json(Hang(3))
    with pytest.raises(llm.LLMError) as raised:
        await extract_with_llm(messages=MESSAGES, existing=EXISTING)
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
        await extract_with_llm(messages=MESSAGES, existing=EXISTING)
    assert raised.value.code == "llm_bad_response"


@pytest.mark.asyncio
async def test_a_json_reply_cut_at_max_tokens_is_truncated(mistral: FakeMistral) -> None:
    mistral.script_json(Truncate('{"facts": [{"op": "add", "text": "Habite', after=3))
    with pytest.raises(llm.LLMError) as raised:
        await extract_with_llm(messages=MESSAGES, existing=EXISTING)
    assert raised.value.code == "llm_truncated"


@pytest.mark.asyncio
async def test_complete_json_needs_mistral(fake_mistral: FakeMistral) -> None:
    # Offline (no MISTRAL_API_KEY, the default in tests): no request with an empty key.
    with pytest.raises(llm.LLMError) as raised:
        await llm.complete_json(system="JSON please", user="{}")
    assert raised.value.code == "llm_auth"
    assert fake_mistral.requests == []
