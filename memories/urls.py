"""The page "what <cat> remembers", mounted under `cats/` by catchat/urls.py."""

from __future__ import annotations

from django.urls import path

from memories import views

app_name = "memories"
urlpatterns = [
    path("<int:cat_id>/memories/", views.memory_page, name="page"),
    path("<int:cat_id>/memories/switch/", views.profile_switch, name="switch"),
    path(
        "<int:cat_id>/memories/<int:memory_id>/<slug:action>/",
        views.memory_action,
        name="action",
    ),
]
