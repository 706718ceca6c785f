"""The named personas of the test suite (STYLE.md): alice and bob, each with their own cats.

Re-exported by each app's tests/conftest.py so every test module can ask for them by name.
"""

from __future__ import annotations

import pytest

from accounts.models import User
from accounts.tests.factories import UserFactory


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory.create(username="alice", email="alice@example.com")


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory.create(username="bob", email="bob@example.com")
