"""Forms for people: sign-up on Django's UserCreationForm, bound to the custom user model."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import UserCreationForm

from accounts.models import User


class SignUpForm(UserCreationForm):
    # Optional: a password reset needs it, but nobody should be turned away for lacking one.
    email = forms.EmailField(required=False, help_text="Optional.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")
