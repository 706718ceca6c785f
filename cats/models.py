from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone


class Cat(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cats"
    )
    name = models.CharField(max_length=40)
    personality = models.CharField(
        max_length=300,
        blank=True,
        help_text="A few words on character: 'shy, curious, a little dramatic'.",
    )
    coat = models.CharField(max_length=40, blank=True, help_text="Coat colour, free text.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Vitals as last settled at `vitals_at`; current values are computed from the time passed
    # (cats.vitals.settle), so no job has to tick them. Written only under a row lock.
    hunger = models.FloatField(default=20.0)
    energy = models.FloatField(default=80.0)
    affection = models.FloatField(default=60.0)
    fun = models.FloatField(default=60.0)
    vitals_at = models.DateTimeField(default=timezone.now)
    asleep_until = models.DateTimeField(null=True, blank=True)
    mood = models.CharField(max_length=20, default="content")

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


class CareEvent(models.Model):
    """One care action, accepted or refused, with who did it and what it changed."""

    class Action(models.TextChoices):
        FEED = "feed"
        PLAY = "play"
        PET = "pet"
        SLEEP = "sleep"

    cat = models.ForeignKey(Cat, on_delete=models.CASCADE, related_name="care_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    accepted = models.BooleanField(default=True)
    reason = models.CharField(max_length=20, blank=True, help_text="Why the cat refused.")
    effect = models.JSONField(default=dict, blank=True, help_text="Change of each vital.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["cat", "action", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} ({'ok' if self.accepted else self.reason})"


class Conversation(models.Model):
    cat = models.ForeignKey(Cat, on_delete=models.CASCADE, related_name="conversations")
    title = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["cat", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        CAT = "cat"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        ERROR = "error"
        INTERRUPTED = "interrupted"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=8, choices=Role.choices)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.COMPLETE)
    # The user's idempotency key for a send: a resend with the same key is the same message.
    client_id = models.UUIDField(null=True, blank=True, unique=True, default=None)
    # A cat reply answers one user message; a regenerated reply answers the same one.
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    model = models.CharField(max_length=80, blank=True)
    usage = models.JSONField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Send to last token.")
    ttft_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Send to first token.")
    # The last delta `seq` whose text is included in `text` (lets a reconnecting tab resume).
    stream_seq = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True)
    mood = models.CharField(max_length=20, blank=True, help_text="The cat's mood as it wrote.")
    memories_used = ArrayField(models.BigIntegerField(), default=list, blank=True)
    # The human's earlier messages the reply was given as episodes (memories.models.Episode).
    episodes_used = ArrayField(models.BigIntegerField(), default=list, blank=True)
    # An edited user message is a new message, a version of the first one (`edit_of`, null for
    # the first); the earlier versions stay, each with the turns that followed it (its branch).
    edit_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="edits",
        db_index=False,  # a partial index below: most messages are no edit
    )
    # Whether the message is on the conversation's shown path: shown, read back to the model
    # and learned from. Of the replies to one user message (regenerated ones are kept as
    # alternatives) one is kept; of the versions of a user message, one.
    kept = models.BooleanField(default=True)
    # A message that followed a version of a user message, hidden while another version is
    # shown: that version (showing it again shows them again, `cats.services.versions`).
    branch_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # a partial index below
    )
    # A streaming reply belongs to a live process only while its lease runs: the process
    # renews it as it writes; past it, the reply is `interrupted` (the process died).
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at", "id"]),
            models.Index(
                fields=["status"],
                name="cats_message_streaming",
                condition=models.Q(status="streaming"),
            ),
            models.Index(
                fields=["edit_of"],
                name="cats_message_edit_of",
                condition=models.Q(edit_of__isnull=False),
            ),
            models.Index(
                fields=["branch_of"],
                name="cats_message_branch_of",
                condition=models.Q(branch_of__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"
