"""Password rules of our own, beside Django's (settings.AUTH_PASSWORD_VALIDATORS), so the sign-up
page, REST sign-up and every password change apply them alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

if TYPE_CHECKING:
    from accounts.models import User


class NotBlankValidator:
    """Refuses a password that is empty or only whitespace: eight spaces pass the length rule,
    yet anyone would guess them."""

    def validate(self, password: str, user: User | None = None) -> None:
        if not password.strip():
            raise ValidationError(
                "This password is blank: it is only spaces.",
                code="password_blank",
            )

    def get_help_text(self) -> str:
        return "Your password can’t be only spaces."
