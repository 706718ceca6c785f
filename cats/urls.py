from __future__ import annotations

from django.urls import path

from cats import views

app_name = "cats"
urlpatterns = [
    path("", views.cat_list, name="list"),
    path("<int:cat_id>/", views.chat_page, name="chat"),
    path("<int:cat_id>/edit/", views.cat_edit, name="edit"),
    path("<int:cat_id>/delete/", views.cat_remove, name="delete"),
    path(
        "<int:cat_id>/conversations/<int:conversation_id>/rename/",
        views.conversation_rename_page,
        name="conversation-rename",
    ),
    path(
        "<int:cat_id>/conversations/<int:conversation_id>/delete/",
        views.conversation_remove,
        name="conversation-delete",
    ),
]
