"""The accounts REST API (`/api/v1/`, see accounts/api_urls.py): sign-up, tokens, log-out, and
the signed-in person (`me/`). Thin: parse, call one service, serialize. Authentication and the
error shape come from settings.REST_FRAMEWORK.

Sign-up and token requests are throttled per client address (scopes "register" and "token";
the sign-up page shares "register"), and token requests share the log-in lockout with the
log-in pages (accounts/login_throttle.py); a 429 carries `Retry-After`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status as http
from rest_framework.exceptions import AuthenticationFailed, ErrorDetail, Throttled, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import login_throttle
from accounts.models import User
from accounts.serializers import (
    RefreshSerializer,
    RegisteredSerializer,
    RegisterSerializer,
    TokenObtainSerializer,
    TokenPairSerializer,
    TokenRefreshSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from accounts.services import (
    AccountInputError,
    refresh_token_revoke,
    token_pair,
    user_delete,
    user_register,
    user_update,
)
from catchat.rest import FIELD_ERRORS_SCHEMA, ErrorSerializer

_ACCESS = "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIn0.c2lnbmF0dXJl"
_REFRESH = "eyJhbGciOiJIUzI1NiJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.c2lnbmF0dXJl"
_ALICE = {
    "id": 1,
    "username": "alice",
    "email": "alice@example.com",
    "date_joined": "2025-05-01T09:30:00Z",
}


def _error(description: str, name: str, detail: str, **extra: Any) -> OpenApiResponse:
    return OpenApiResponse(
        ErrorSerializer,
        description=description,
        examples=[OpenApiExample(name, value={"detail": detail, **extra})],
    )


_FIELD_ERRORS = FIELD_ERRORS_SCHEMA


def _field_errors_response(description: str, name: str, value: dict[str, list[str]]) -> Any:
    return OpenApiResponse(
        _FIELD_ERRORS, description=description, examples=[OpenApiExample(name, value=value)]
    )


UNAUTHENTICATED = _error(
    "No or bad credentials", "Not signed in", "Authentication credentials were not provided."
)
THROTTLED = _error(
    "Too many requests from this address (see the Retry-After header)",
    "Throttled",
    "Request was throttled. Expected available in 360 seconds.",
)
LOCKED_OUT = OpenApiResponse(
    ErrorSerializer,
    description="Too many requests from this address, or too many failed log-ins for this "
    "username or address at any log-in (see the Retry-After header)",
    examples=[
        OpenApiExample(
            "Throttled",
            value={"detail": "Request was throttled. Expected available in 12 seconds."},
        ),
        OpenApiExample(
            "Locked out",
            value={"detail": "Too many failed log-in attempts. Please try again in 15 minutes."},
        ),
    ],
)
BAD_TOKEN = _error(
    "Invalid, expired or already used refresh token",
    "Already used",
    "Token is blacklisted",
    code="token_not_valid",
)


class LockedOut(Throttled):
    """A 429 with Retry-After whose detail is the log-in pages' own message."""

    def __init__(self, wait: int) -> None:
        super().__init__(wait=wait)
        # Not Throttled's "Expected available in N seconds.": the pages' message says it.
        self.detail = ErrorDetail(login_throttle.refusal(wait), code=self.default_code)


def _user(request: Request) -> User:
    # IsAuthenticated (the default permission) has run: a real User, not AnonymousUser.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


def _field_errors(exc: AccountInputError) -> ValidationError:
    return ValidationError(exc.errors)


@extend_schema(
    tags=["auth"],
    summary="Sign up",
    request=RegisterSerializer,
    responses={
        201: RegisteredSerializer,
        400: _field_errors_response(
            "Field errors: a taken username, a weak password, a bad email.",
            "Taken username, weak password",
            {
                "username": ["A user with that username already exists."],
                "password": ["This password is too short. It must contain at least 8 characters."],
            },
        ),
        429: THROTTLED,
    },
    examples=[
        OpenApiExample(
            "Sign up",
            request_only=True,
            value={"username": "alice", "password": "correct horse battery", "email": ""},
        ),
        OpenApiExample(
            "Signed in at once",
            response_only=True,
            status_codes=["201"],
            value={"user": _ALICE, "access": _ACCESS, "refresh": _REFRESH},
        ),
    ],
)
class RegisterView(APIView):
    """`POST auth/register/`: create an account and sign in with it (201 with the user and a
    token pair, so an app needs no second request)."""

    # Credentials sent along are ignored: the throttle counts by address, always.
    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_scope = "register"

    def post(self, request: Request) -> Response:
        incoming = RegisterSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            user = user_register(**incoming.validated_data)
        except AccountInputError as exc:
            raise _field_errors(exc) from exc
        body = {"user": UserSerializer(user).data, **token_pair(user)}
        return Response(body, status=http.HTTP_201_CREATED)


@extend_schema(
    tags=["auth"],
    summary="Log in: get a token pair",
    request=TokenObtainSerializer,
    responses={
        200: TokenPairSerializer,
        400: _field_errors_response(
            "A field is missing.", "No password", {"password": ["This field is required."]}
        ),
        401: _error(
            "Wrong username or password",
            "Wrong password",
            "No active account found with the given credentials",
            code="no_active_account",
        ),
        429: LOCKED_OUT,
    },
    examples=[
        OpenApiExample(
            "Log in",
            request_only=True,
            value={"username": "alice", "password": "correct horse battery"},
        ),
        OpenApiExample(
            "Token pair",
            response_only=True,
            status_codes=["200"],
            value={"access": _ACCESS, "refresh": _REFRESH},
        ),
    ],
)
class TokenView(TokenObtainPairView):
    """`POST auth/token/`: trade a username and password for a token pair.

    Shares the log-in lockout (accounts/login_throttle.py) with the log-in pages: a locked
    username or address is a 429 with Retry-After before any password is checked.
    """

    throttle_scope = "token"

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username = request.data.get("username") if isinstance(request.data, dict) else None
        username = username if isinstance(username, str) else ""
        address = login_throttle.client_address(request)
        wait = login_throttle.wait_seconds(username=username, address=address)
        if wait:
            raise LockedOut(wait)
        try:
            response = super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            login_throttle.record_failure(username=username, address=address)
            raise
        login_throttle.forget_username(username)
        return response


@extend_schema(
    tags=["auth"],
    summary="Refresh: trade a refresh token for a new pair",
    request=RefreshSerializer,
    responses={200: TokenPairSerializer, 401: BAD_TOKEN},
    examples=[
        OpenApiExample("Refresh", request_only=True, value={"refresh": _REFRESH}),
        OpenApiExample(
            "New pair",
            response_only=True,
            status_codes=["200"],
            value={"access": _ACCESS, "refresh": _REFRESH},
        ),
    ],
)
class TokenRefreshRotateView(TokenRefreshView):
    """`POST auth/token/refresh/`: a new access token AND a new refresh token; the refresh
    token sent is blacklisted, so it works once (a stolen copy is useless after)."""

    serializer_class = TokenRefreshSerializer


@extend_schema(
    tags=["auth"],
    summary="Log out: end this session",
    request=RefreshSerializer,
    responses={
        204: None,
        400: _field_errors_response(
            "The refresh token is invalid, expired, already used, or not yours.",
            "Already used",
            {"refresh": ["Token is blacklisted"]},
        ),
        401: UNAUTHENTICATED,
    },
    examples=[OpenApiExample("Log out", request_only=True, value={"refresh": _REFRESH})],
)
class LogoutView(APIView):
    """`POST auth/logout/` with the session's refresh token: blacklists it (204), so it can
    mint no more access tokens. The access token in hand expires on its own (15 minutes)."""

    def post(self, request: Request) -> Response:
        incoming = RefreshSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            refresh_token_revoke(user=_user(request), refresh=incoming.validated_data["refresh"])
        except AccountInputError as exc:
            raise _field_errors(exc) from exc
        return Response(status=http.HTTP_204_NO_CONTENT)


_ME_EXAMPLE = OpenApiExample("Alice", response_only=True, status_codes=["200"], value=_ALICE)


class MeView(APIView):
    """`GET|PATCH|DELETE me/`: the signed-in person."""

    @extend_schema(
        tags=["me"],
        summary="Who am I",
        responses={200: UserSerializer, 401: UNAUTHENTICATED},
        examples=[_ME_EXAMPLE],
    )
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(_user(request)).data)

    @extend_schema(
        tags=["me"],
        summary="Change my username or email",
        request=UserUpdateSerializer,
        responses={
            200: UserSerializer,
            400: _field_errors_response(
                "Field errors, e.g. a taken username.",
                "Taken",
                {"username": ["A user with that username already exists."]},
            ),
            401: UNAUTHENTICATED,
        },
        examples=[
            OpenApiExample("New email", request_only=True, value={"email": "al@example.org"}),
            _ME_EXAMPLE,
        ],
    )
    def patch(self, request: Request) -> Response:
        incoming = UserUpdateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            user = user_update(user=_user(request), **incoming.validated_data)
        except AccountInputError as exc:
            raise _field_errors(exc) from exc
        return Response(UserSerializer(user).data)

    @extend_schema(
        tags=["me"],
        summary="Delete my account and all my data",
        description="Deletes the account with its cats, conversations, messages, care events "
        "and memories, for good; every refresh token of the account is blacklisted. "
        "`GET me/export/` first to keep a copy.",
        request=None,
        responses={204: None, 401: UNAUTHENTICATED},
    )
    def delete(self, request: Request) -> Response:
        user_delete(user=_user(request))
        # A browser signed in with the session cookie is signed out too.
        request.session.flush()
        return Response(status=http.HTTP_204_NO_CONTENT)
