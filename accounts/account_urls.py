"""The account page's routes, mounted at `/account/` by catchat/urls.py.

The export hands the page the same document as REST `me/export/` (catchat/export.py, which reads
every app); a URL module is wiring, so importing it here keeps the app layers as STYLE.md draws
them (as accounts/api_urls.py does).
"""

from __future__ import annotations

from django.urls import path

from accounts import views
from catchat.export import export_filename, user_export

urlpatterns = [
    path("", views.account, name="account"),
    path("profile/", views.profile_update, name="account-profile"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "export/",
        views.ExportView.as_view(export=user_export, filename=export_filename),
        name="account-export",
    ),
    path("delete/", views.account_delete, name="account-delete"),
]
