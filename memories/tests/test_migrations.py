"""The data migration that gives cats adopted before memories existed their memory profile."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from cats.tests.factories import CatFactory
from memories.models import MemoryProfile

pytestmark = pytest.mark.django_db

migration = importlib.import_module("memories.migrations.0002_profiles_for_existing_cats")


def test_cats_without_a_profile_get_one_of_their_owner_and_others_are_left_alone() -> None:
    old, new = CatFactory.create(), CatFactory.create()
    MemoryProfile.objects.filter(cat=old).delete()  # as before the memories app existed
    kept = MemoryProfile.objects.get(cat=new)
    kept.summary = "Likes sushi."
    kept.save()

    migration.create_missing_profiles(apps, None)

    created = MemoryProfile.objects.get(cat=old)
    assert created.user_id == old.owner_id and created.enabled and created.summary == ""
    assert MemoryProfile.objects.get(cat=new) == kept
    assert MemoryProfile.objects.get(cat=new).summary == "Likes sushi."
    assert MemoryProfile.objects.count() == 2
