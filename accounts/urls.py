from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    # Django's view and form, with throttling of failed attempts (accounts/login_throttle.py).
    path("login/", views.LoginView.as_view(), name="login"),
    # Django 5 accepts only POST here: a GET link could log people out from another site.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
