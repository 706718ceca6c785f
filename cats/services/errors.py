"""The error of a chat write the user can fix (its `code` is the WebSocket's error code)."""

from __future__ import annotations

BUSY = "The cat is still answering in this conversation: wait or stop it first."


class ChatInputError(Exception):
    """Input the user can fix; `code` is the WebSocket error code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
