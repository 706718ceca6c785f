"""catchat.llm against the fake Mistral server, through the real SDK."""

from __future__ import annotations

import pytest
from mistralai.client import models

from catchat import llm
from catchat.testing.fake_mistral import FakeMistral, Reply

pytestmark = pytest.mark.asyncio


def request() -> llm.ChatRequest:
    return llm.ChatRequest(
        system="You are a cat.",
        turns=[llm.Turn("user", "Hello!")],
        persona=llm.Persona(name="Whiskers"),
    )


async def test_streamed_events_are_read_without_the_sdks_decoder(
    mistral: FakeMistral, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm, "_unmarshallers", {})
    mistral.script(Reply(["Mrrp", ", hello", " there", "!"]))

    events = [event async for event in llm.stream_chat(request())]

    assert "".join(e.text for e in events if isinstance(e, llm.Token)) == "Mrrp, hello there!"
    # The SDK would decode each event through a pydantic model (~8x the CPU of the whole reply
    # read by catchat.llm's own reader); the request is still built by the SDK.
    assert models.CompletionEvent not in llm._unmarshallers


async def test_non_streamed_replies_decode_through_one_cached_class(
    mistral: FakeMistral, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm, "_unmarshallers", {})
    mistral.script_json(Reply('{"facts": ["likes tuna"]}'), Reply('{"facts": []}'))

    first = await llm.complete_json(system="Answer in JSON.", user="Hi")
    decoder = llm._unmarshallers[models.ChatCompletionResponse]
    second = await llm.complete_json(system="Answer in JSON.", user="Hi")

    assert first == {"facts": ["likes tuna"]} and second == {"facts": []}
    # The SDK would build a new class for each response; the cache keeps the first one.
    assert llm._unmarshallers[models.ChatCompletionResponse] is decoder


async def test_requests_are_encoded_through_one_cached_class_as_the_sdk_would(
    mistral: FakeMistral, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llm, "_marshallers", {})  # whatever earlier tests encoded
    mistral.script(Reply(["Mrrp"]), Reply(["Purr"]))

    [event async for event in llm.stream_chat(request())]
    (body_type,) = llm._marshallers
    encoder = llm._marshallers[body_type]
    [event async for event in llm.stream_chat(request())]

    first, second = (call["body"] for call in mistral.requests[-2:])
    assert first == second and first["messages"][0]["role"] == "system"
    assert llm._marshallers[body_type] is encoder  # the SDK would build one per request
    sample = models.ChatCompletionStreamRequest(
        model="mistral-small-latest", messages=[models.UserMessage(content="Hi")]
    )
    assert llm._marshal_json(sample, body_type) == llm._sdk_marshal_json(sample, body_type)


async def test_the_history_is_sent_exactly_as_the_sdk_sends_it_from_plain_messages(
    mistral: FakeMistral,
) -> None:
    turns = [
        llm.Turn("user", "Hi"),
        llm.Turn("assistant", "Mrrp?"),
        llm.Turn("user", "Tuna or salmon?"),
    ]
    mistral.script(Reply(["Tuna"]), Reply(["Tuna"]))
    chat = llm.ChatRequest(system="You are a cat.", turns=turns, persona=llm.Persona("Tom"))
    [event async for event in llm.stream_chat(chat)]
    # The SDK's documented way: plain dicts (what we sent before building its models).
    plain = [{"role": "system", "content": "You are a cat."}]
    plain += [{"role": t.role, "content": t.content} for t in turns]
    events = await llm._client().chat.stream_async(
        model="mistral-small-latest",
        messages=plain,  # type: ignore[arg-type]
        max_tokens=chat.max_tokens,
    )
    async with events:
        [event async for event in events]

    ours, sdks = (call["body"] for call in mistral.requests[-2:])
    assert ours == sdks
    assert [m["role"] for m in ours["messages"]] == ["system", "user", "assistant", "user"]
    assert ours["messages"][3]["content"] == "Tuna or salmon?"
