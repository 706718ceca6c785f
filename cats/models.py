from __future__ import annotations

from django.conf import settings
from django.db import models


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

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name


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
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:40]}"
