"""factory_boy factories for people. Every user's password is PASSWORD."""

from __future__ import annotations

from functools import cache

import factory
from django.contrib.auth.hashers import make_password
from factory.django import DjangoModelFactory

from accounts.models import User

PASSWORD = "pw-catchat-123"  # noqa: S105 - a test fixture, not a secret


@cache
def _password_hash() -> str:
    # Hashing costs ~0.3 s (PBKDF2, a million rounds); one salted hash serves every test user.
    return make_password(PASSWORD)


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"human{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.LazyFunction(_password_hash)
