from __future__ import annotations

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The human. A custom model from the first migration, so fields can be added later."""
