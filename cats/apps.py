from __future__ import annotations

from django.apps import AppConfig


class CatsConfig(AppConfig):
    name = "cats"
    default_auto_field = "django.db.models.BigAutoField"
