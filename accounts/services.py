"""Writes for people: sign-up, profile changes, log-out of one session, and deleting an account
with everything it owns.

Refusals are `AccountInputError` with errors by field, which the REST API answers as a 400 with
field errors (and a form could show beside its fields).
"""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from catchat import realtime

USERNAME_TAKEN = "A user with that username already exists."
NOT_YOUR_TOKEN = "This refresh token does not belong to you."  # noqa: S105 - a message


class AccountInputError(Exception):
    """Input the account services refuse, as messages by field name."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _username_taken(username: str, *, other_than: User | None = None) -> bool:
    # Case-insensitive, as Django's sign-up form checks: "Alice" and "alice" would be two
    # people nobody can tell apart.
    users = User.objects.filter(username__iexact=username)
    if other_than is not None:
        users = users.exclude(pk=other_than.pk)
    return users.exists()


def user_register(*, username: str, password: str, email: str = "") -> User:
    """Create an account. The password must pass settings.AUTH_PASSWORD_VALIDATORS (which also
    compare it with the username and email); the username must be free, whatever its case.

    Raises AccountInputError with every refused field at once.
    """
    username = User.normalize_username(username)
    email = User.objects.normalize_email(email)
    errors: dict[str, list[str]] = {}
    if _username_taken(username):
        errors["username"] = [USERNAME_TAKEN]
    try:
        validate_password(password, user=User(username=username, email=email))
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise AccountInputError(errors)
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError as exc:
        # Two sign-ups for one name at once: the unique index decides, the loser is told.
        raise AccountInputError({"username": [USERNAME_TAKEN]}) from exc


def user_update(*, user: User, username: str | None = None, email: str | None = None) -> User:
    """Change the username (if free, whatever its case) and/or the email. None keeps a field.

    Raises AccountInputError when the username is taken.
    """
    fields: list[str] = []
    if username is not None:
        username = User.normalize_username(username)
        if username != user.username:
            if _username_taken(username, other_than=user):
                raise AccountInputError({"username": [USERNAME_TAKEN]})
            user.username = username
            fields.append("username")
    if email is not None:
        email = User.objects.normalize_email(email)
        if email != user.email:
            user.email = email
            fields.append("email")
    if fields:
        try:
            with transaction.atomic():
                user.save(update_fields=fields)
        except IntegrityError as exc:
            raise AccountInputError({"username": [USERNAME_TAKEN]}) from exc
    return user


def token_pair(user: User) -> dict[str, str]:
    """A new session for `user`: a refresh token (recorded as outstanding, so it can be
    blacklisted) and an access token."""
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def refresh_token_revoke(*, user: User, refresh: str) -> None:
    """Log out one session: blacklist `refresh`, which must be a valid, unexpired refresh token
    of `user` (someone else's token is refused, so nobody can end another person's session).

    Raises AccountInputError (field `refresh`) otherwise.
    """
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]  # a str is what it decodes
    except TokenError as exc:
        raise AccountInputError({"refresh": [str(exc)]}) from exc
    if str(token.payload.get(jwt_settings.USER_ID_CLAIM)) != str(user.pk):
        raise AccountInputError({"refresh": [NOT_YOUR_TOKEN]})
    token.blacklist()


def refresh_token_spend(*, token: RefreshToken) -> BlacklistedToken:
    """Blacklist `token` as its rotation spends it, once: of several requests spending one
    refresh token at once, exactly one gets the blacklist row; the others raise TokenError
    ("Token is blacklisted"), as a later request would. The blacklist's unique index decides (a
    check before the write, as simplejwt's get_or_create does, lets all of them through).
    """
    token.outstand()  # the row the blacklist points at: made at issue, again if it was lost
    outstanding = OutstandingToken.objects.get(jti=token.payload[jwt_settings.JTI_CLAIM])
    try:
        with transaction.atomic():
            return BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError as exc:
        raise TokenError("Token is blacklisted") from exc


def user_delete(*, user: User) -> None:
    """Delete the account and everything it owns, in one transaction.

    Every refresh token of the user still outstanding is blacklisted first, so none of them
    can mint an access token again; those token records outlive the user (simplejwt sets their
    user to NULL) because the blacklist is what refuses them. The database does the rest: cats
    (with their care events, conversations, messages, extraction jobs) and memory profiles
    (with memories and history) cascade from the user.

    Once it has committed, every open WebSocket of the user, in every process, gets an
    `unauthenticated` error frame and is closed with 4401.
    """
    with transaction.atomic():
        realtime.close_user_sockets_on_commit(
            user.pk,
            code=4401,  # the WebSocket's "no or bad credentials"
            frame={
                "type": "error",
                "code": "unauthenticated",
                "detail": "This account was deleted.",
            },
        )
        live = OutstandingToken.objects.filter(
            user=user, blacklistedtoken__isnull=True, expires_at__gt=timezone.now()
        )
        BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
        )
        user.delete()
