"""Forms for people: sign-up on Django's UserCreationForm, bound to the custom user model, and
log-in (the page's and the admin's) on Django's forms with the log-in lockout
(accounts/login_throttle.py)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
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


class _LockoutMixin(AuthenticationForm):
    """Refuses to check any password while the username or the address is locked out
    (accounts/login_throttle.py); counts a failed password, forgets a username's failures once
    it logs in.

    `retry_after` is then the seconds to wait (the log-in view answers 429 with it).
    """

    retry_after: int | None = None

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        address = login_throttle.client_address(self.request) if self.request else ""
        wait = login_throttle.wait_seconds(username=username, address=address)
        if wait:
            self.retry_after = wait
            raise ValidationError(login_throttle.refusal(wait), code="throttled")
        try:
            cleaned = super().clean()
        except ValidationError:
            # Only a wrong password counts: the right one of someone the page refuses (a
            # non-staff account at the admin) is no guess.
            if self.user_cache is None:
                login_throttle.record_failure(username=username, address=address)
            raise
        if self.user_cache is not None:
            login_throttle.forget_username(username)
        return cleaned


class LoginForm(_LockoutMixin, AuthenticationForm):
    """The log-in page's form."""


class AdminLoginForm(_LockoutMixin, AdminAuthenticationForm):
    """The admin's log-in form (set on admin.site in accounts/admin.py)."""


# --- the account page (accounts/views.py) ----------------------------------------------------


class ProfileForm(forms.Form):
    """Username and email. The rules (a free username whatever its case) are the service's,
    `accounts.services.user_update`; this checks only the shape of each value."""

    username = forms.CharField(
        max_length=150,
        validators=[User.username_validator],
        help_text="Letters, digits and @/./+/-/_ only.",
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    email = forms.EmailField(
        required=False,
        help_text="Where a password reset link is sent.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )


class DeleteAccountForm(forms.Form):
    """A typed confirmation: the account's username, exactly as it is spelled."""

    confirmation = forms.CharField(
        label="Type your username to confirm",
        max_length=150,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_confirmation(self) -> str:
        typed: str = self.cleaned_data["confirmation"]
        if typed != self.user.username:
            raise ValidationError(
                "That is not your username: type it exactly to delete the account.",
                code="mismatch",
            )
        return typed
