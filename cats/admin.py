from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from catchat.admin_tools import ReadOnlyInline, RecordAdmin
from cats.models import CareEvent, Cat, Conversation, Message
from cats.services import cat_reset_vitals, cat_state

RECENT_CARE_EVENTS = 20


def _state(cat: Cat) -> dict[str, Any]:
    """The cat's vitals and mood now, computed from the row (no query), once per row and page:
    the changelist asks for five columns of it."""
    cached: dict[str, Any] | None = getattr(cat, "_admin_state", None)
    if cached is None:
        cached = cat_state(cat)
        cat._admin_state = cached  # type: ignore[attr-defined]
    return cached


class RecentCareEventsFormSet(BaseInlineFormSet):
    _recent: QuerySet[CareEvent]

    def get_queryset(self) -> QuerySet[CareEvent]:
        # Newest first (CareEvent.Meta.ordering); a cat cared for daily has thousands.
        # The admin's own queryset cannot be sliced: the formset filters it by cat afterwards.
        # Kept, like the base class's: every form asks for it, and a fresh slice is a query.
        if not hasattr(self, "_recent"):
            self._recent = super().get_queryset().select_related("actor")[:RECENT_CARE_EVENTS]
        return self._recent


class CareEventInline(ReadOnlyInline):
    model = CareEvent
    formset = RecentCareEventsFormSet
    verbose_name_plural = f"Recent care events (newest {RECENT_CARE_EVENTS})"
    fields = readonly_fields = ("created_at", "action", "accepted", "reason", "effect", "actor")
    show_change_link = True


@admin.register(Cat)
class CatAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "hunger_now",
        "energy_now",
        "affection_now",
        "fun_now",
        "mood_now",
        "created_at",
    ]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner"]
    # Vitals change only through services, under a row lock: staff reset them with the action.
    readonly_fields = [
        "vitals_now",
        "care_history",
        "created_at",
        "hunger",
        "energy",
        "affection",
        "fun",
        "vitals_at",
        "asleep_until",
        "mood",
    ]
    fieldsets = [
        (None, {"fields": ["owner", "name", "personality", "coat", "created_at"]}),
        ("Right now", {"fields": ["vitals_now", "care_history"]}),
        (
            "Stored vitals (as settled at 'vitals at'; they drift from there)",
            {
                "classes": ["collapse"],
                "fields": [
                    "hunger",
                    "energy",
                    "affection",
                    "fun",
                    "vitals_at",
                    "asleep_until",
                    "mood",
                ],
            },
        ),
    ]
    inlines = [CareEventInline]
    actions = ["reset_vitals"]

    @admin.display(description="hunger")
    def hunger_now(self, cat: Cat) -> int:
        return int(_state(cat)["hunger"])

    @admin.display(description="energy")
    def energy_now(self, cat: Cat) -> int:
        return int(_state(cat)["energy"])

    @admin.display(description="affection")
    def affection_now(self, cat: Cat) -> int:
        return int(_state(cat)["affection"])

    @admin.display(description="fun")
    def fun_now(self, cat: Cat) -> int:
        return int(_state(cat)["fun"])

    @admin.display(description="mood")
    def mood_now(self, cat: Cat) -> str:
        state = _state(cat)
        return f"{state['mood']} (asleep)" if state["asleep"] else str(state["mood"])

    @admin.display(description="vitals")
    def vitals_now(self, cat: Cat) -> str:
        if cat.pk is None:
            return "-"
        state = _state(cat)
        needs = ", ".join(state["needs"]) or "nothing urgent"
        return (
            f"hunger {state['hunger']}, energy {state['energy']}, "
            f"affection {state['affection']}, fun {state['fun']}; "
            f"mood {self.mood_now(cat)}; needs: {needs}"
        )

    @admin.display(description="care history")
    def care_history(self, cat: Cat) -> str:
        if cat.pk is None:
            return "-"
        url = reverse("admin:cats_careevent_changelist") + f"?cat__id__exact={cat.pk}"
        return format_html('<a href="{}">All care events of {}</a>', url, cat.name)

    @admin.action(description="Reset vitals", permissions=["change"])
    def reset_vitals(self, request: HttpRequest, queryset: QuerySet[Cat]) -> None:
        cats = list(queryset)
        for cat in cats:
            cat_reset_vitals(cat=cat)
        self.message_user(
            request,
            f"Reset the vitals of {len(cats)} cat{'s' if len(cats) != 1 else ''}.",
            messages.SUCCESS,
        )


@admin.register(CareEvent)
class CareEventAdmin(RecordAdmin):
    list_display = ["created_at", "cat", "owner", "action", "accepted", "reason", "actor"]
    list_filter = ["action", "accepted"]
    list_select_related = ["cat__owner", "actor"]
    search_fields = ["cat__name", "cat__owner__username"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "cat",
        "actor",
        "action",
        "accepted",
        "reason",
        "effect",
        "created_at",
    )

    @admin.display(description="owner", ordering="cat__owner__username")
    def owner(self, event: CareEvent) -> str:
        return str(event.cat.owner)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["role", "text", "status", "kept", "model", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0
    show_change_link = True


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "cat", "created_at", "updated_at"]
    list_select_related = ["cat"]
    search_fields = ["title", "cat__name", "cat__owner__username"]
    raw_id_fields = ["cat"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "role",
        "status",
        "kept",
        "conversation",
        "model",
        "latency_ms",
        "created_at",
    ]
    list_filter = ["role", "status", "kept", "model"]
    list_select_related = ["conversation"]
    search_fields = ["text", "client_id"]
    # Ids, not menus: a menu would list every message there is.
    raw_id_fields = ["conversation", "reply_to", "edit_of", "branch_of"]
    readonly_fields = ["client_id", "usage", "latency_ms", "ttft_ms", "stream_seq", "created_at"]
