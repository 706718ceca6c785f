"""Project URLs: wiring only (imports apps, imported by none)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

# The REST API, version 1: each app mounts its own `api_urls` here (PRODUCT.md "REST API").
api_v1 = [
    path("", include("cats.api_urls")),
    path("", include("memories.api_urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("accounts/", include("accounts.urls")),
    path("cats/", include("cats.urls")),
    # "What <cat> remembers" lives with the memories, under the cat's own address.
    path("cats/", include("memories.urls")),
    # The cats list requires a login, so a stranger lands on the log-in page from here.
    path("", RedirectView.as_view(pattern_name="cats:list", permanent=False), name="home"),
]
