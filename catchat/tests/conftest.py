from __future__ import annotations

from accounts.tests.personas import alice, bob

__all__ = ["alice", "bob"]
