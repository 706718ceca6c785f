"""Project URLs: wiring only (imports apps, imported by none)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from catchat import health, landing
from cats import chat_api

# The REST API, version 1: each app mounts its own `api_urls` here (PRODUCT.md "REST API").
api_v1: list[URLPattern | URLResolver] = [
    path("health/", health.HealthView.as_view(), name="health"),
    path("", include("accounts.api_urls")),
    path("", include("cats.api_urls")),
    path("", include("memories.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

# The first design's routes, kept for the clients written against it.
api_aliases: list[URLPattern] = [
    path("", health.HealthView.as_view(), name="health-alias"),
    path("cat/state", chat_api.FirstCatStateView.as_view(), name="cat-state-alias"),
    path("chat", chat_api.ChatView.as_view(), name="chat-alias"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/", include(api_aliases)),
    path("accounts/", include("accounts.urls")),
    path("account/", include("accounts.account_urls")),
    path("settings/", RedirectView.as_view(pattern_name="account", permanent=False)),
    path("cats/", include("cats.urls")),
    # "What <cat> remembers" lives with the memories, under the cat's own address.
    path("cats/", include("memories.urls")),
    # A visitor sees what CatChat is; a logged-in user goes on to their cats.
    path("", landing.landing, name="home"),
]

# Under /api/ an unknown address is JSON like every other API error; pages keep Django's.
handler404 = "catchat.rest.not_found"
