"""REST shapes for cats (PRODUCT.md "Shapes"): what goes in, what comes out. No rules here:
the services decide; these only check input types and render output."""

from __future__ import annotations

from rest_framework import serializers

from cats.models import CareEvent
from cats.vitals import MOODS


class CatStateSerializer(serializers.Serializer):
    """A cat's vitals and mood right now, as `cats.services.cat_state` computes them."""

    hunger = serializers.IntegerField(min_value=0, max_value=100, help_text="100 is starving.")
    energy = serializers.IntegerField(min_value=0, max_value=100)
    affection = serializers.IntegerField(min_value=0, max_value=100)
    fun = serializers.IntegerField(min_value=0, max_value=100)
    mood = serializers.ChoiceField(choices=MOODS)
    asleep = serializers.BooleanField()
    asleep_until = serializers.DateTimeField(allow_null=True)
    needs = serializers.ListField(
        child=serializers.CharField(), help_text="Urgent needs, most pressing first."
    )
    updated_at = serializers.DateTimeField(help_text="The moment these values were computed.")


class CareActionSerializer(serializers.Serializer):
    """Input of `POST cats/{id}/actions/`."""

    action = serializers.ChoiceField(choices=CareEvent.Action.choices)


class CareResultSerializer(serializers.Serializer):
    """What a care action did: accepted or refused (with `reason`), in the cat's own words."""

    accepted = serializers.BooleanField()
    reason = serializers.CharField(
        allow_blank=True, help_text="Why the cat refused (e.g. not_hungry); empty if accepted."
    )
    message = serializers.CharField(help_text="The cat's answer, in character.")
    state = CatStateSerializer()
