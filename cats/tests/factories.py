"""factory_boy factories for cats, care events, conversations and messages."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from accounts.tests.factories import UserFactory
from cats.models import CareEvent, Cat, Conversation, Message
from memories.services import profile_for


class CatFactory(DjangoModelFactory[Cat]):
    class Meta:
        model = Cat
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    name = factory.Iterator(["Whiskers", "Mochi", "Pixel", "Tofu", "Biscuit"])
    personality = "curious, cuddly, a little dramatic"
    coat = factory.Iterator(["ginger", "black", "calico", "grey tabby"])

    @factory.post_generation
    def memory_profile(cat: Cat, create: bool, extracted: object, **kwargs: object) -> None:
        # Like cats.services.cat_create: every cat comes with its memory profile.
        if create:
            profile_for(user=cat.owner, cat=cat)


class CareEventFactory(DjangoModelFactory[CareEvent]):
    """A recorded care event as data (real ones come from `cats.services.cat_act`)."""

    class Meta:
        model = CareEvent

    cat = factory.SubFactory(CatFactory)
    actor = factory.SelfAttribute("cat.owner")
    action = CareEvent.Action.PET
    accepted = True
    effect = factory.LazyFunction(lambda: {"affection": 18})


class ConversationFactory(DjangoModelFactory[Conversation]):
    class Meta:
        model = Conversation

    cat = factory.SubFactory(CatFactory)
    title = factory.Sequence(lambda n: f"Chat {n}")


class MessageFactory(DjangoModelFactory[Message]):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    role = Message.Role.USER
    text = factory.Sequence(lambda n: f"Message number {n}")
    status = Message.Status.COMPLETE
