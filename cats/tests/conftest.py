from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from accounts.tests.personas import alice, bob
from cats import frames

__all__ = ["alice", "bob"]


@pytest.fixture(autouse=True)
def _server_frames_keep_the_contract(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every frame a test receives from a socket is checked against its `type`'s TypedDict in
    `cats.frames` (keys, required keys, types): a frame off the contract fails the test."""
    receive = WebsocketCommunicator.receive_json_from

    async def checked(self: WebsocketCommunicator, timeout: float = 1) -> Any:
        frame = await receive(self, timeout)
        problem = frames.server_problem(frame)
        if problem is not None:
            pytest.fail(f"A server frame breaks the contract (cats/frames.py): {problem}")
        return frame

    monkeypatch.setattr(WebsocketCommunicator, "receive_json_from", checked)
    yield
