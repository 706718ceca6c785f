"""Sign-up. Log-in and log-out are Django's own views (see accounts/urls.py)."""

from __future__ import annotations

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.forms import SignUpForm


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("cats:list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        # Straight into the app: asking for the password again right after choosing it is friction.
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("cats:list")
    return render(request, "accounts/signup.html", {"form": form})
