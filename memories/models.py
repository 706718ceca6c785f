"""What a cat knows about its human: a profile per (user, cat), memories, and their history.

A memory is never erased by the cat: an update supersedes the old memory (kept, linked through
`superseded_by`), "forget that" rejects it, and every change is a MemoryHistory row with its
actor. Cats and messages are referred to by string: this app does not import `cats`.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models.functions import MD5, Lower, Replace
from django.utils import timezone
from pgvector.django import VectorField


def text_key(text: models.Expression | models.F | models.Value) -> models.Func:
    """SQL: a short key of a fact's text for duplicate lookups, as coarse as needed for two texts
    that `memories.services.normalized` finds equal to have equal keys: NFKC, lowercase (plus
    "ß" as "ss" and a final sigma as a sigma, where Python's casefold differs from PostgreSQL's
    lower), letters and digits only, hashed (a fixed size for the index, whatever the text).
    Coarser than `normalized` ("ice-cream" and "icecream" share a key), so a key only finds the
    candidates, and `normalized` decides. Exotic case foldings (Cherokee, a few Greek letters
    with two accents) may still differ: such a same fact would be stored twice, never lost.

    Indexed per profile for active memories (`memories_memory_text_key`): keep this expression
    and that index's in step (a migration), or the lookup falls back to the profile's rows.
    """
    nfkc = models.Func(text, template="normalize(%(expressions)s, NFKC)")
    sharp_s = Replace(Lower(nfkc), models.Value("ß"), models.Value("ss"))
    folded = models.Func(sharp_s, models.Value("ς"), models.Value("σ"), function="translate")
    letters = models.Func(
        folded,
        models.Value("[^[:alnum:]]+"),
        models.Value(""),
        models.Value("g"),
        function="regexp_replace",
    )
    return MD5(letters)


class MemoryProfile(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_profiles"
    )
    cat = models.OneToOneField("cats.Cat", on_delete=models.CASCADE, related_name="memory_profile")
    summary = models.TextField(blank=True, help_text="What the cat knows of its human, briefly.")
    enabled = models.BooleanField(
        default=True, help_text="Off: the cat neither learns nor recalls."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"What cat {self.cat_id} knows of user {self.user_id}"


class Memory(models.Model):
    class Category(models.TextChoices):
        IDENTITY = "identity"
        PREFERENCE = "preference"
        PEOPLE = "people"
        PETS = "pets"
        WORK = "work"
        PLACE = "place"
        HEALTH = "health"
        ROUTINE = "routine"
        EVENT = "event"
        OTHER = "other"

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUPERSEDED = "superseded"
        REJECTED = "rejected"

    # No index of its own: (profile, status) below serves every lookup by profile.
    profile = models.ForeignKey(
        MemoryProfile, on_delete=models.CASCADE, related_name="memories", db_index=False
    )
    text = models.CharField(max_length=500, help_text="One fact, in the human's own language.")
    category = models.CharField(max_length=12, choices=Category.choices, default=Category.OTHER)
    importance = models.PositiveSmallIntegerField(default=3, help_text="1 (trivia) to 5 (core).")
    pinned = models.BooleanField(default=False, help_text="Always recalled.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    # What the fact fills ("home", "pet:rex"): a new fact for a filled slot supersedes the old.
    slot = models.CharField(max_length=80, blank=True)
    source_message = models.ForeignKey(
        "cats.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_quote = models.CharField(max_length=300, blank=True)
    valid_from = models.DateTimeField(default=timezone.now)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="supersedes"
    )
    # Vectors of two models never mix: recall compares only vectors of the current model.
    embedding = VectorField(null=True, blank=True)
    embedding_model = models.CharField(max_length=80, blank=True)
    # 'simple': no stemming, language-agnostic; full text is there for names and rare words.
    search = models.GeneratedField(
        expression=SearchVector("text", config="simple"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-pinned", "-importance", "-created_at", "-id"]
        indexes = [
            models.Index(fields=["profile", "status"]),
            GinIndex(fields=["search"], name="memories_memory_search"),
            # Learning's lookups (memories.learning._existing): the same fact already known, the
            # memory filling a slot. Without them, each message read every active memory.
            models.Index(
                models.F("profile"),
                text_key(models.F("text")),
                name="memories_memory_text_key",
                condition=models.Q(status="active"),
            ),
            models.Index(
                fields=["profile", "slot"],
                name="memories_memory_slot",
                condition=models.Q(status="active") & ~models.Q(slot=""),
            ),
        ]
        verbose_name_plural = "memories"

    def __str__(self) -> str:
        return self.text


class MemoryHistory(models.Model):
    class Operation(models.TextChoices):
        ADD = "add"
        UPDATE = "update"  # the text was corrected in place (by the user or staff)
        SUPERSEDE = "supersede"  # replaced by a newer memory
        REJECT = "reject"  # forgotten
        RESTORE = "restore"
        PIN = "pin"
        UNPIN = "unpin"
        CHANGE = "change"  # category or importance

    class Actor(models.TextChoices):
        CAT = "cat"
        USER = "user"
        STAFF = "staff"

    memory = models.ForeignKey(Memory, on_delete=models.CASCADE, related_name="history")
    operation = models.CharField(max_length=12, choices=Operation.choices)
    old_text = models.CharField(max_length=500, blank=True)
    new_text = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=8, choices=Actor.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "memory history"

    def __str__(self) -> str:
        return f"{self.operation} by {self.actor}"


class ExtractionJob(models.Model):
    """One user message to learn from, queued in the turn's transaction (durable: a crash or
    restart leaves it pending, and the worker picks it up). Unique per message, so no message
    is extracted twice."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    # How `error` begins when the message is not to be learned: the human asked to forget it
    # ("forget it"), or memory was switched off before it was learned (never learned again,
    # whatever happens to the message), or the human edited it or showed another version of it
    # (learned again if it is shown again: `memories.learning.job_requeue`).
    FORGOTTEN = "forgotten"
    MEMORY_OFF = "memory off"
    TAKEN_BACK = "taken back"

    message = models.OneToOneField(
        "cats.Message", on_delete=models.CASCADE, related_name="extraction_job"
    )
    profile = models.ForeignKey(MemoryProfile, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    # The message as a recall query, as the chat turn computed it: learning reuses it (to find
    # the facts a new one may update) instead of embedding the message again.
    query_vector = VectorField(null=True, blank=True)
    query_model = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="memories_job_pending",
                condition=~models.Q(status="done"),
            )
        ]

    def __str__(self) -> str:
        return f"extraction of message {self.message_id}: {self.status}"


class Episode(models.Model):
    """One message the human wrote, recallable as it is: what was said and when, with no
    extraction. The cat remembers the conversation, not only the facts drawn from it.

    Its key is the message's: an episode leaves with its message (deleting a conversation
    forgets what was said in it). Made only while the profile is switched on (a message written
    with memory off is never recalled, even after the switch goes back on). `text` is the
    message's text as said; `before` and `after` are the cat's lines around it, if any (what a
    short "yes, yesterday!" answered). The vector embeds the three as one passage, and the
    full-text vector holds their words (why, measured: `memories.episodes`).
    """

    message = models.OneToOneField(
        "cats.Message", on_delete=models.CASCADE, primary_key=True, related_name="episode"
    )
    # No index of its own: (profile, said_at) below serves every lookup by profile.
    profile = models.ForeignKey(
        MemoryProfile, on_delete=models.CASCADE, related_name="episodes", db_index=False
    )
    conversation_id = models.BigIntegerField(help_text="The message's conversation (a link).")
    text = models.TextField()
    before = models.TextField(blank=True, help_text="The cat's line just before, if any.")
    after = models.TextField(blank=True, help_text="The cat's answer, if any.")
    said_at = models.DateTimeField()
    embedding = VectorField(null=True, blank=True)
    embedding_model = models.CharField(max_length=80, blank=True)
    search = models.GeneratedField(
        expression=SearchVector("before", "text", "after", config="simple"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["said_at", "message_id"]
        indexes = [models.Index(fields=["profile", "said_at"])]

    def __str__(self) -> str:
        return self.text[:60]
