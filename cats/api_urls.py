"""REST routes of the cats app, mounted under `/api/v1/` by catchat/urls.py."""

from __future__ import annotations

from django.urls import path

from cats import api, chat_api

app_name = "cats_api"
urlpatterns = [
    path("chat/", chat_api.ChatView.as_view(), name="chat"),
    path("cats/", api.CatListView.as_view(), name="cat-list"),
    path("cats/<int:cat_id>/", api.CatDetailView.as_view(), name="cat-detail"),
    path("cats/<int:cat_id>/state/", api.CatStateView.as_view(), name="state"),
    path("cats/<int:cat_id>/actions/", api.CatActionsView.as_view(), name="actions"),
    path("cats/<int:cat_id>/import/", api.CatImportView.as_view(), name="import"),
    path(
        "cats/<int:cat_id>/conversations/",
        api.ConversationListView.as_view(),
        name="conversation-list",
    ),
    path(
        "conversations/<int:conversation_id>/",
        api.ConversationDetailView.as_view(),
        name="conversation-detail",
    ),
    path(
        "conversations/<int:conversation_id>/messages/",
        api.MessageListView.as_view(),
        name="message-list",
    ),
    path("messages/<int:message_id>/keep/", api.MessageKeepView.as_view(), name="message-keep"),
]
