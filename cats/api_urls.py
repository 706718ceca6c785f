"""REST routes of the cats app, mounted under `/api/v1/` by catchat/urls.py."""

from __future__ import annotations

from django.urls import path

from cats import api

app_name = "cats_api"
urlpatterns = [
    path("cats/<int:cat_id>/state/", api.CatStateView.as_view(), name="state"),
    path("cats/<int:cat_id>/actions/", api.CatActionsView.as_view(), name="actions"),
]
