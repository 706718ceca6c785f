"""Forms for people: sign-up on Django's UserCreationForm, bound to the custom user model, and
log-in on Django's AuthenticationForm with throttling (accounts/login_throttle.py)."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.core.exceptions import ValidationError

from accounts import login_throttle
from accounts.models import User


class SignUpForm(UserCreationForm):
    # Optional: a password reset needs it, but nobody should be turned away for lacking one.
    email = forms.EmailField(required=False, help_text="Optional.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class LoginForm(AuthenticationForm):
    """Refuses to check any password while the username or the address is throttled.

    `retry_after` is then the seconds to wait (the view answers 429 with it).
    """

    retry_after: int | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        address = login_throttle.client_address(self.request) if self.request else ""
        wait = login_throttle.wait_seconds(username=username, address=address)
        if wait:
            self.retry_after = wait
            minutes = math.ceil(wait / 60)
            raise ValidationError(
                "Too many failed log-in attempts. Please try again in %(minutes)d minute%(s)s.",
                code="throttled",
                params={"minutes": minutes, "s": "" if minutes == 1 else "s"},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            login_throttle.record_failure(username=username, address=address)
            raise
        if self.user_cache is not None:
            login_throttle.forget_username(username)
        return cleaned
