"""factory_boy factories for memory profiles and memories (rows as data: the real ones come from
`memories.services`, which also embed and write history)."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from cats.tests.factories import CatFactory
from memories.models import Memory, MemoryProfile


class MemoryProfileFactory(DjangoModelFactory[MemoryProfile]):
    class Meta:
        model = MemoryProfile
        # One profile per cat, and a cat may already have one (CatFactory makes it).
        django_get_or_create = ("cat",)

    cat = factory.SubFactory(CatFactory)
    user = factory.SelfAttribute("cat.owner")


class MemoryFactory(DjangoModelFactory[Memory]):
    """A memory without a vector unless given one (`embedding=..., embedding_model=...`)."""

    class Meta:
        model = Memory

    profile = factory.SubFactory(MemoryProfileFactory)
    text = factory.Sequence(lambda n: f"Fact number {n}")
    category = Memory.Category.OTHER
