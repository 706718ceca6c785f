"""Cats adopted before memories existed get their (empty) memory profile, as new cats do."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def create_missing_profiles(apps: Any, schema_editor: Any) -> None:
    Cat = apps.get_model("cats", "Cat")
    MemoryProfile = apps.get_model("memories", "MemoryProfile")
    MemoryProfile.objects.bulk_create(
        [
            MemoryProfile(cat_id=cat_id, user_id=owner_id)
            for cat_id, owner_id in Cat.objects.filter(memory_profile__isnull=True).values_list(
                "id", "owner_id"
            )
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("memories", "0001_initial")]

    operations = [migrations.RunPython(create_missing_profiles, migrations.RunPython.noop)]
