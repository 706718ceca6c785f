from __future__ import annotations

from django.contrib import admin

from cats.models import Cat, Conversation, Message


@admin.register(Cat)
class CatAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "coat", "created_at"]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner"]


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["role", "text", "status", "model", "created_at"]
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
    list_display = ["id", "role", "status", "conversation", "model", "latency_ms", "created_at"]
    list_filter = ["role", "status", "model"]
    list_select_related = ["conversation"]
    search_fields = ["text", "client_id"]
    raw_id_fields = ["conversation", "reply_to"]
    readonly_fields = ["client_id", "usage", "latency_ms", "ttft_ms", "stream_seq", "created_at"]
