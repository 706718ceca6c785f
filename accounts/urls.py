from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from accounts import views

# Password reset by e-mail: Django's views, our templates (and limits on the mail sent,
# accounts/reset_throttle.py). The "sent" page is the same whether the address belongs to an
# account or not (Django's view never says), so it reveals nothing.
password_reset = [
    path(
        "password-reset/",
        views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html"
        ),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
]

urlpatterns = [
    # `/accounts/` itself is where people look for their account.
    path("", RedirectView.as_view(pattern_name="account", permanent=False)),
    path("signup/", views.signup, name="signup"),
    # Django's view and form, with throttling of failed attempts (accounts/login_throttle.py).
    path("login/", views.LoginView.as_view(), name="login"),
    # Django 5 accepts only POST here: a GET link could log people out from another site.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    *password_reset,
]
