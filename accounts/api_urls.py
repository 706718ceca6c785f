"""REST routes of the accounts app, mounted under `/api/v1/` by catchat/urls.py.

`me/export/` gathers data from every app, so its view lives with the wiring (catchat/export.py);
a urls module is wiring too, so importing it here keeps the app layers as STYLE.md draws them.
"""

from __future__ import annotations

from django.urls import path

from accounts import api
from catchat.export import UserExportView

app_name = "accounts_api"
urlpatterns = [
    path("auth/register/", api.RegisterView.as_view(), name="register"),
    path("auth/token/", api.TokenView.as_view(), name="token"),
    path("auth/token/refresh/", api.TokenRefreshRotateView.as_view(), name="token-refresh"),
    path("auth/logout/", api.LogoutView.as_view(), name="logout"),
    path("me/", api.MeView.as_view(), name="me"),
    path("me/export/", UserExportView.as_view(), name="me-export"),
]
