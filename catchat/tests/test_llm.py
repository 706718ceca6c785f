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


async def test_streamed_events_decode_through_one_cached_class(mistral: FakeMistral) -> None:
    mistral.script(Reply(["Mrrp", ", hello", " there", "!"]), Reply(["Purr", "."]))

    first = [event async for event in llm.stream_chat(request())]
    decoder = llm._unmarshallers[models.CompletionEvent]
    second = [event async for event in llm.stream_chat(request())]

    assert [e.text for e in first if isinstance(e, llm.Token)] == ["Mrrp", ", hello", " there", "!"]
    assert [e.text for e in second if isinstance(e, llm.Token)] == ["Purr", "."]
    finished = first[-1]
    assert isinstance(finished, llm.Finished) and finished.usage["completion_tokens"] == 4
    # The SDK would build a new class for each of these events; the cache keeps the first one.
    assert llm._unmarshallers[models.CompletionEvent] is decoder


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
