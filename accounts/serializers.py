"""REST shapes for people (PRODUCT.md "Shapes"): what goes in, what comes out. No rules here:
`accounts.services` decides (free usernames, password strength); these only check input types
and render output. Some exist only to document the API for OpenAPI.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import (
    TokenRefreshSerializer as SimpleJWTTokenRefreshSerializer,
)
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from accounts.services import refresh_token_spend

USERNAME_MAX = User._meta.get_field("username").max_length  # 150
USERNAME_HELP = "Up to 150 characters: letters, digits and @ . + - _ only."


def _username_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        max_length=USERNAME_MAX,
        validators=[UnicodeUsernameValidator()],
        help_text=USERNAME_HELP,
        **kwargs,
    )


class UserSerializer(serializers.ModelSerializer):
    """The signed-in person, as `GET me/` shows them."""

    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined"]
        read_only_fields = fields

    # Not an EmailField: the output is "" when none was given, which is no e-mail address.
    email = serializers.CharField(read_only=True, help_text="Empty if none was given.")


class RegisterSerializer(serializers.Serializer):
    """Input of `POST auth/register/`."""

    username = _username_field()
    password = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=128,
        style={"input_type": "password"},
        help_text="Checked by the password rules: at least 8 characters, not too common, not "
        "all digits, not too like the username or email.",
    )
    email = serializers.EmailField(
        required=False, allow_blank=True, default="", help_text="Optional."
    )


class UserUpdateSerializer(serializers.Serializer):
    """Input of `PATCH me/`: any of these fields."""

    username = _username_field(required=False)
    email = serializers.EmailField(
        required=False, allow_blank=True, help_text="An empty string removes it."
    )


class TokenPairSerializer(serializers.Serializer):
    """A session: a short-lived access token for `Authorization: Bearer <access>`, and a
    refresh token that trades itself for a new pair at `auth/token/refresh/` (once)."""

    access = serializers.CharField(help_text="JWT, valid for 15 minutes.")
    refresh = serializers.CharField(help_text="JWT, valid for 14 days; single use.")


class RegisteredSerializer(TokenPairSerializer):
    """What `POST auth/register/` answers: the new account, already signed in."""

    user = UserSerializer()


class TokenObtainSerializer(serializers.Serializer):
    """Input of `POST auth/token/` (documentation; simplejwt's own serializer does the work)."""

    username = serializers.CharField()
    password = serializers.CharField(write_only=True, style={"input_type": "password"})


class RefreshSerializer(serializers.Serializer):
    """A refresh token: the input of `auth/token/refresh/` and `auth/logout/`."""

    refresh = serializers.CharField(help_text="A refresh token from auth/token/ or auth/register/.")


class _SingleUseRefreshToken(RefreshToken):
    def blacklist(self) -> BlacklistedToken:
        return refresh_token_spend(token=self)


class TokenRefreshSerializer(SimpleJWTTokenRefreshSerializer):
    """simplejwt's refresh (rotation, blacklist after rotation), with two gaps closed: a refresh
    token sent by several requests at once rotates for one of them only (simplejwt's blacklist
    checks, then writes; accounts.services.refresh_token_spend lets one write win), and a token
    whose user no longer exists is a 401, not a server error (simplejwt 5.5 lets the
    DoesNotExist through)."""

    token_class = _SingleUseRefreshToken

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        try:
            return super().validate(attrs)
        except User.DoesNotExist as exc:
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            ) from exc
