"""REST routes of the memories app, mounted under `/api/v1/` by catchat/urls.py."""

from __future__ import annotations

from django.urls import path

from memories import api

app_name = "memories_api"
urlpatterns = [
    path("cats/<int:cat_id>/memory-profile/", api.MemoryProfileView.as_view(), name="profile"),
    path("cats/<int:cat_id>/memories/", api.MemoryListView.as_view(), name="list"),
    path("cats/<int:cat_id>/recall/", api.RecallView.as_view(), name="recall"),
    path("memories/<int:memory_id>/", api.MemoryDetailView.as_view(), name="detail"),
    path("memories/<int:memory_id>/history/", api.MemoryHistoryView.as_view(), name="history"),
]
