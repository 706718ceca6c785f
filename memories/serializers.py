"""REST shapes for memories (PRODUCT.md "Shapes"): what goes in, what comes out. No rules here:
the services decide; these only check input types and render output."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from memories.models import Memory, MemoryHistory, MemoryProfile
from memories.selectors import STATUS_FILTERS
from memories.services import memory_payload

TEXT_MAX = Memory._meta.get_field("text").max_length  # 500


class MemorySourceSerializer(serializers.Serializer):
    message = serializers.IntegerField(help_text="The id of the message the memory came from.")
    quote = serializers.CharField(allow_blank=True, help_text="The words it came from.")


class MemorySerializer(serializers.Serializer):
    """A memory, exactly as `memories.services.memory_payload` shapes it for REST and WebSocket
    alike (the fields below document it for OpenAPI)."""

    id = serializers.IntegerField(read_only=True)
    text = serializers.CharField(read_only=True)
    category = serializers.ChoiceField(choices=Memory.Category.choices, read_only=True)
    importance = serializers.IntegerField(read_only=True, min_value=1, max_value=5)
    pinned = serializers.BooleanField(read_only=True, help_text="Always recalled.")
    status = serializers.ChoiceField(choices=Memory.Status.choices, read_only=True)
    # A field named like Field.source (DRF takes declared fields off the class; mypy can't tell).
    source = MemorySourceSerializer(  # type: ignore[assignment]
        read_only=True, allow_null=True, help_text="Where it came from; null if not from a message."
    )
    valid_from = serializers.DateTimeField(read_only=True)
    superseded_by = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The memory that replaced this one."
    )
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance: Memory) -> dict[str, Any]:
        return memory_payload(instance)


class MemoryCreateSerializer(serializers.Serializer):
    """Input of `POST cats/{id}/memories/`: a fact the human tells the cat to remember."""

    text = serializers.CharField(max_length=TEXT_MAX, help_text="One fact, 1 to 500 characters.")
    category = serializers.ChoiceField(
        choices=Memory.Category.choices, default=Memory.Category.OTHER
    )
    importance = serializers.IntegerField(
        min_value=1, max_value=5, default=3, help_text="1 (trivia) to 5 (core)."
    )
    pinned = serializers.BooleanField(default=False, help_text="Always recalled.")


class MemoryUpdateSerializer(serializers.Serializer):
    """Input of `PATCH memories/{id}/`: any of these fields. `status` "rejected" forgets the
    memory (as DELETE does) and "active" restores a forgotten or superseded one."""

    text = serializers.CharField(max_length=TEXT_MAX, required=False)
    category = serializers.ChoiceField(choices=Memory.Category.choices, required=False)
    importance = serializers.IntegerField(min_value=1, max_value=5, required=False)
    pinned = serializers.BooleanField(required=False)
    status = serializers.ChoiceField(
        choices=[Memory.Status.ACTIVE, Memory.Status.REJECTED], required=False
    )


class MemoryListQuerySerializer(serializers.Serializer):
    """Query of `GET cats/{id}/memories/`."""

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text=(
            'A question or words ("where do I work?"): the best matches ranked by the cat\'s '
            "recall, one page of at most 20, best first; part of a text matches too."
        ),
    )
    status = serializers.ChoiceField(
        choices=STATUS_FILTERS,
        default=Memory.Status.ACTIVE,
        help_text="active (default), superseded, rejected, or all.",
    )


class MemoryHistorySerializer(serializers.ModelSerializer):
    """One change of a memory: what, who (cat, user or staff; never a staff member's name), when.
    `old_text`/`new_text` are empty where the operation has none."""

    class Meta:
        model = MemoryHistory
        fields = ["id", "operation", "actor", "old_text", "new_text", "note", "created_at"]
        read_only_fields = fields


class MemoryCountsSerializer(serializers.Serializer):
    active = serializers.IntegerField()
    superseded = serializers.IntegerField()
    rejected = serializers.IntegerField()


class MemoryProfileSerializer(serializers.Serializer):
    """What a cat keeps about its human: the summary, the switch, how many memories."""

    cat = serializers.IntegerField(read_only=True)
    summary = serializers.CharField(read_only=True)
    enabled = serializers.BooleanField(
        read_only=True, help_text="Off: the cat neither learns nor recalls."
    )
    counts = MemoryCountsSerializer(read_only=True, help_text="Memories by status.")

    @staticmethod
    def shape(profile: MemoryProfile, counts: dict[str, int]) -> dict[str, Any]:
        """What this serializer renders, from a profile and `selectors.status_counts`."""
        return {
            "cat": profile.cat_id,
            "summary": profile.summary,
            "enabled": profile.enabled,
            "counts": counts,
        }


class MemoryProfileUpdateSerializer(serializers.Serializer):
    """Input of `PATCH cats/{id}/memory-profile/`."""

    summary = serializers.CharField(allow_blank=True, max_length=2000, required=False)
    enabled = serializers.BooleanField(required=False)


class RecallQuerySerializer(serializers.Serializer):
    """Query of `GET cats/{id}/recall/`."""

    q = serializers.CharField(max_length=4000, help_text="The text to recall for, as if said.")
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class RecalledSerializer(serializers.Serializer):
    """One thing recalled, in rank order."""

    kind = serializers.ChoiceField(choices=["fact", "episode"])
    id = serializers.IntegerField(help_text="The memory's id (fact) or the message's (episode).")
    text = serializers.CharField()
    score = serializers.FloatField(help_text="Recall's fused score: higher is nearer.")
    source_message = serializers.IntegerField(
        allow_null=True, help_text="The message a fact came from, or the episode's own."
    )
    conversation = serializers.IntegerField(
        allow_null=True, help_text="An episode's conversation (null for a fact)."
    )
    at = serializers.DateTimeField(help_text="When it was said (a fact: since when it holds).")
    pinned = serializers.BooleanField()


class RecallSerializer(serializers.Serializer):
    results = RecalledSerializer(many=True)
