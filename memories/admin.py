"""The memories curation desk: staff search, filter, correct, pin, unpin, reject and restore.

Every write goes through `memories.services` with actor "staff" and the staff member as
`actor_user`, so it lands in the memory's history and reaches the owner's open tabs, exactly
as the human's own corrections do. Nothing here erases a memory (rejecting keeps it, with its
history), so memories and profiles cannot be deleted from the admin; deleting the account or
the cat does that.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from accounts.models import User
from catchat.admin_tools import ReadOnlyInline, RecordAdmin
from memories.models import Episode, ExtractionJob, Memory, MemoryHistory, MemoryProfile
from memories.profiles import profile_update
from memories.services import memory_create, memory_edit, memory_reject, memory_restore

STAFF = MemoryHistory.Actor.STAFF
# What staff may change on an existing memory; the rest is provenance or the services' to set.
EDITABLE = ["text", "category", "importance", "pinned"]


def _staff(request: HttpRequest) -> User:
    # The admin site has checked that a staff member is logged in.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


def _memories(count: int) -> str:
    return f"{count} memor{'y' if count == 1 else 'ies'}"


def _message_link(message_id: int | None) -> str:
    if message_id is None:
        return "-"
    url = reverse("admin:cats_message_change", args=[message_id])
    return format_html('<a href="{}">message {}</a>', url, message_id)


class ChangedByFilter(admin.SimpleListFilter):
    """Memories with at least one change (history row) by the cat, the human or staff."""

    title = "changed by"
    parameter_name = "changed_by"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(value), str(label)) for value, label in MemoryHistory.Actor.choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Memory]) -> QuerySet[Memory]:
        actor = self.value()
        if actor not in MemoryHistory.Actor.values:
            return queryset
        # EXISTS rather than a join: one row per memory however many changes match.
        changes = MemoryHistory.objects.filter(memory=OuterRef("pk"), actor=actor)
        return queryset.filter(Exists(changes))


class SourceFilter(admin.SimpleListFilter):
    """Memories learned from a chat message, or not (added by hand, or the message is gone)."""

    title = "source"
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("message", "from a message"), ("none", "no source message")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Memory]) -> QuerySet[Memory]:
        if self.value() == "message":
            return queryset.filter(source_message__isnull=False)
        if self.value() == "none":
            return queryset.filter(source_message__isnull=True)
        return queryset


class MemoryHistoryInline(ReadOnlyInline):
    model = MemoryHistory
    fields = readonly_fields = (
        "created_at",
        "operation",
        "actor",
        "actor_user",
        "old_text",
        "new_text",
        "note",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[MemoryHistory]:
        return super().get_queryset(request).select_related("actor_user")


class MemoryAdminForm(ModelForm):
    importance = forms.IntegerField(min_value=1, max_value=5, initial=3)

    class Meta:
        model = Memory
        fields = ["profile", *EDITABLE, "source_message", "source_quote"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        profile, message = cleaned.get("profile"), cleaned.get("source_message")
        # A memory's source is a message of its own cat's conversations.
        if profile is not None and message is not None:
            if message.conversation.cat_id != profile.cat_id:
                self.add_error("source_message", "That message is not from this cat's chats.")
        return cleaned


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    form = MemoryAdminForm
    list_display = [
        "short_text",
        "cat",
        "user",
        "category",
        "importance",
        "pinned",
        "status",
        "source",
        "updated_at",
    ]
    list_display_links = ["short_text"]
    list_select_related = ["profile__cat", "profile__user"]
    list_filter = [
        ("profile__cat", admin.RelatedOnlyFieldListFilter),
        ("profile__user", admin.RelatedOnlyFieldListFilter),
        "category",
        "status",
        "pinned",
        ChangedByFilter,
        SourceFilter,
    ]
    search_fields = ["text", "source_quote", "profile__user__username", "profile__cat__name"]
    raw_id_fields = ["profile", "source_message"]
    date_hierarchy = "created_at"
    inlines = [MemoryHistoryInline]
    actions = ["pin", "unpin", "reject", "restore"]

    ADD_FIELDS = ("profile", *EDITABLE, "source_message", "source_quote")
    CHANGE_FIELDS = (
        "profile",
        *EDITABLE,
        "status",
        "source",
        "source_quote",
        "slot",
        "valid_from",
        "superseded_by",
        "embedding_model",
        "created_at",
        "updated_at",
    )

    def get_fields(self, request: HttpRequest, obj: Memory | None = None) -> tuple[str, ...]:
        return self.ADD_FIELDS if obj is None else self.CHANGE_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: Memory | None = None) -> list[str]:
        if obj is None:
            return []
        return [name for name in self.CHANGE_FIELDS if name not in EDITABLE]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # reject instead: the memory and its history stay

    @admin.display(description="memory", ordering="text")
    def short_text(self, memory: Memory) -> str:
        return Truncator(memory.text).chars(80)

    @admin.display(description="cat", ordering="profile__cat__name")
    def cat(self, memory: Memory) -> str:
        return str(memory.profile.cat)

    @admin.display(description="user", ordering="profile__user__username")
    def user(self, memory: Memory) -> str:
        return str(memory.profile.user)

    @admin.display(description="source message", ordering="source_message")
    def source(self, memory: Memory) -> str:
        return _message_link(memory.source_message_id)

    def save_model(self, request: HttpRequest, obj: Memory, form: ModelForm, change: bool) -> None:
        """Through the services, never a raw save: the history records the staff member."""
        data = form.cleaned_data
        if change:
            # `obj` already carries the form's values; the service compares with the stored ones.
            stored = Memory.objects.select_related("profile").get(pk=obj.pk)
            saved = memory_edit(
                memory=stored,
                actor=STAFF,
                actor_user=_staff(request),
                **{name: data[name] for name in EDITABLE},
            )
        else:
            message = data.get("source_message")
            saved = memory_create(
                profile=data["profile"],
                text=data["text"],
                category=data["category"],
                importance=data["importance"],
                pinned=data["pinned"],
                source_message_id=message.pk if message is not None else None,
                quote=data.get("source_quote", ""),
                actor=STAFF,
                actor_user=_staff(request),
            )
        # The admin goes on with `obj` (log entry, redirect): make it the saved memory.
        for field in Memory._meta.concrete_fields:
            if not field.generated:
                setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding, obj._state.db = False, saved._state.db

    def _each(self, queryset: QuerySet[Memory]) -> list[Memory]:
        return list(queryset.select_related("profile"))

    @admin.action(description="Pin the selected memories", permissions=["change"])
    def pin(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        memories = self._each(queryset.filter(pinned=False))
        for memory in memories:
            memory_edit(memory=memory, actor=STAFF, actor_user=_staff(request), pinned=True)
        self.message_user(request, f"Pinned {_memories(len(memories))}.", messages.SUCCESS)

    @admin.action(description="Unpin the selected memories", permissions=["change"])
    def unpin(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        memories = self._each(queryset.filter(pinned=True))
        for memory in memories:
            memory_edit(memory=memory, actor=STAFF, actor_user=_staff(request), pinned=False)
        self.message_user(request, f"Unpinned {_memories(len(memories))}.", messages.SUCCESS)

    @admin.action(description="Reject (forget) the selected memories", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        memories = self._each(queryset.exclude(status=Memory.Status.REJECTED))
        for memory in memories:
            memory_reject(memory=memory, actor=STAFF, actor_user=_staff(request))
        self.message_user(request, f"Rejected {_memories(len(memories))}.", messages.SUCCESS)

    @admin.action(description="Restore the selected memories", permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        memories = self._each(queryset.exclude(status=Memory.Status.ACTIVE))
        for memory in memories:
            memory_restore(memory=memory, actor=STAFF, actor_user=_staff(request))
        self.message_user(request, f"Restored {_memories(len(memories))}.", messages.SUCCESS)


class ProfileMemoryInline(ReadOnlyInline):
    model = Memory
    verbose_name_plural = "memories"
    fields = readonly_fields = ("text", "category", "importance", "pinned", "status", "updated_at")
    show_change_link = True


@admin.register(MemoryProfile)
class MemoryProfileAdmin(admin.ModelAdmin):
    list_display = ["cat", "user", "enabled", "active_memories", "all_memories", "updated_at"]
    list_select_related = ["cat", "user"]
    list_filter = ["enabled"]
    search_fields = ["cat__name", "user__username", "summary"]
    fields = ["cat", "user", "enabled", "summary", "created_at", "updated_at"]
    readonly_fields = ["cat", "user", "created_at", "updated_at"]
    inlines = [ProfileMemoryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[MemoryProfile]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_active=Count("memories", filter=Q(memories__status=Memory.Status.ACTIVE)),
                n_all=Count("memories"),
            )
        )

    @admin.display(description="active memories", ordering="n_active")
    def active_memories(self, profile: MemoryProfile) -> int:
        return int(profile.n_active)  # type: ignore[attr-defined]

    @admin.display(description="all memories", ordering="n_all")
    def all_memories(self, profile: MemoryProfile) -> int:
        return int(profile.n_all)  # type: ignore[attr-defined]

    # A profile comes with its cat (cats.services.cat_create) and goes with it.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: MemoryProfile, form: ModelForm, change: bool
    ) -> None:
        stored = MemoryProfile.objects.get(pk=obj.pk)
        saved = profile_update(
            profile=stored,
            enabled=form.cleaned_data["enabled"],
            summary=form.cleaned_data["summary"],
        )
        obj.updated_at = saved.updated_at


@admin.register(MemoryHistory)
class MemoryHistoryAdmin(RecordAdmin):
    list_display = ["created_at", "memory", "operation", "actor", "actor_user", "note"]
    list_filter = ["operation", "actor"]
    list_select_related = ["memory", "actor_user"]
    search_fields = ["memory__text", "old_text", "new_text", "actor_user__username"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "memory",
        "operation",
        "actor",
        "actor_user",
        "old_text",
        "new_text",
        "note",
        "created_at",
    )

    # Unlike other records, the history is never deleted, not even by staff.
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ExtractionJob)
class ExtractionJobAdmin(RecordAdmin):
    """The queue of messages to learn from (memories.learning): to see what failed and why."""

    list_display = ["message_id", "profile", "status", "attempts", "error", "created_at"]
    list_filter = ["status"]
    fields = readonly_fields = (
        "message",
        "profile",
        "status",
        "attempts",
        "claimed_at",
        "error",
        "created_at",
        "finished_at",
    )


@admin.register(Episode)
class EpisodeAdmin(RecordAdmin):
    """What the human said, as the cat recalls it (memories.episodes): to see what a reply was
    given. An episode is the message's: it is removed with its message (or its conversation),
    or by "forget that" in the chat; staff may delete one so that it is never recalled."""

    list_display = ["said_at", "short_text", "profile", "embedding_model"]
    list_select_related = ["profile__cat", "profile__user"]
    search_fields = ["text", "profile__user__username", "profile__cat__name"]
    date_hierarchy = "said_at"
    fields = readonly_fields = (
        "message",
        "profile",
        "conversation_id",
        "said_at",
        "before",
        "text",
        "after",
        "embedding_model",
    )

    @admin.display(description="text")
    def short_text(self, obj: Episode) -> str:
        return Truncator(obj.text).chars(80)
