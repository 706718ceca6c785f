"""Project URLs: wiring only (imports apps, imported by none)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("cats/", include("cats.urls")),
    # The cats list requires a login, so a stranger lands on the log-in page from here.
    path("", RedirectView.as_view(pattern_name="cats:list", permanent=False), name="home"),
]
