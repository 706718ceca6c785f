"""The contract in `cats.frames` is the one the socket keeps: client frames are refused by it,
and (cats/tests/conftest.py) every server frame a test receives is checked against it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from cats import frames
from cats.consumers import CatConsumer
from cats.models import Cat
from cats.tests.factories import CatFactory
from cats.tests.test_limits import (  # noqa: F401 (its fixture)
    _no_reply_outlives_its_test,
    assert_refused_and_alive,
)

# A frame of each client type with every field it may carry, each of the right type.
VALID: dict[str, dict[str, Any]] = {
    "chat.send": {"conversation": None, "text": "hi", "client_id": str(uuid.uuid4())},
    "chat.stop": {"conversation": 1, "message_id": 1},
    "chat.regenerate": {"conversation": 1, "message_id": 1},
    "chat.keep": {"message_id": 1},
    "cat.action": {"action": "pet"},
    "ping": {},
}


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


MISSING = [
    (kind, name)
    for kind, fields in frames.CLIENT_FIELDS.items()
    for name, (_, required) in fields.items()
    if required and name != "type"
]
WRONG = [
    (kind, name, value)
    for kind, fields in frames.CLIENT_FIELDS.items()
    for name in fields
    if name != "type"
    for value in (["a list"], True, 1.5)  # of no type a client field takes
]


def test_every_client_frame_type_has_a_handler_and_an_example() -> None:
    assert set(frames.CLIENT_TYPES) == set(CatConsumer._handlers) == set(VALID)
    for kind, fields in VALID.items():
        assert frames.client_problem({"type": kind, **fields}) is None, kind


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kind", "name"), MISSING)
async def test_a_frame_without_a_required_field_is_a_bad_frame(
    alice: Any, whiskers: Cat, kind: str, name: str
) -> None:
    frame = {"type": kind, **VALID[kind]}
    del frame[name]
    error = await assert_refused_and_alive(alice, whiskers, json.dumps(frame), "bad_frame")
    assert error["detail"] == frames.client_problem(frame)
    assert error["detail"].startswith(f"`{name}` is required: ")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("kind", "name", "value"), WRONG)
async def test_a_field_of_a_type_its_typeddict_refuses_is_a_bad_frame(
    alice: Any, whiskers: Cat, kind: str, name: str, value: object
) -> None:
    frame = {"type": kind, **VALID[kind], name: value}
    error = await assert_refused_and_alive(alice, whiskers, json.dumps(frame), "bad_frame")
    assert error["detail"] == frames.client_problem(frame)
    assert error["detail"].startswith(f"`{name}` must be ")


def test_unknown_client_fields_are_ignored() -> None:
    assert frames.client_problem({"type": "ping", "extra": [1]}) is None


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        ({"type": "pong"}, None),
        ({"type": "error", "code": "busy", "detail": "Wait.", "retry_after": 3}, None),
        ({"type": "pong", "extra": 1}, "pong has unknown keys ['extra']"),
        ({"type": "error", "code": "busy"}, "error has no `detail`"),
        (
            {"type": "error", "code": "busy", "detail": "x", "retry_after": "3"},
            "error.retry_after is str, not int",
        ),
        (
            {"type": "chat.delta", "message_id": 1, "conversation": 1, "seq": True, "text": ""},
            "chat.delta.seq is bool, not int",
        ),
        (
            {"type": "memory.changed", "op": "moved", "memory": {}},
            "memory.changed.op is 'moved', not one of ('added', 'updated', 'removed')",
        ),
        (
            {"type": "cat.state", "state": {}, "care": {"action": "pet", "accepted": True}},
            "cat.state.care has no `reason`",
        ),
        ({"type": "chat.sent"}, "a frame of no known server type: {'type': 'chat.sent'}"),
    ],
)
def test_the_server_frame_check_finds_what_breaks_the_contract(
    frame: dict[str, Any], problem: str | None
) -> None:
    assert frames.server_problem(frame) == problem


def test_every_received_frame_is_checked() -> None:
    assert WebsocketCommunicator.receive_json_from.__name__ == "checked"
