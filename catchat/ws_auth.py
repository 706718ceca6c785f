"""WebSocket authentication: the Origin rule and JWT bearer tokens (PRODUCT.md, "WebSocket").

- A connection that sends an `Origin` must send an allowed one (ALLOWED_HOSTS or
  CSRF_TRUSTED_ORIGINS), whatever its credentials: this stops cross-site WebSocket hijacking
  through the session cookie. A bad Origin is refused at the handshake (HTTP 403).
- `Authorization: Bearer <access JWT>` authenticates non-browser clients.
- A connection without an `Origin` is served only with a bearer token: the session cookie alone
  is not trusted there (channels' AllowedHostsOriginValidator would refuse such clients outright,
  which locks out phone apps and scripts).
"""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

Scope = dict[str, Any]


class BrowserOriginValidator(OriginValidator):
    """Like channels' validator, but a missing Origin passes (bearer clients send none)."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin1"))
    return None


@database_sync_to_async
def _user_for_token(raw: str) -> Any:
    try:
        token = AccessToken(raw)  # type: ignore[arg-type]
    except TokenError:
        return AnonymousUser()
    user_id = token.get(jwt_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return user or AnonymousUser()


class BearerOrSessionMiddleware:
    """Sits inside AuthMiddlewareStack: replaces the session user per the rules above."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        authorization = _header(scope, b"authorization")
        if authorization is not None:
            scheme, _, raw = authorization.partition(" ")
            if scheme.lower() == "bearer" and raw.strip():
                user = await _user_for_token(raw.strip())
            else:
                user = AnonymousUser()
            scope = {**scope, "user": user, "auth": "bearer"}
        elif _header(scope, b"origin") is None:
            scope = {**scope, "user": AnonymousUser(), "auth": "none"}
        else:
            scope = {**scope, "auth": "session"}
        return await self.app(scope, receive, send)


def websocket_stack(app: Any) -> Any:
    allowed = list(settings.ALLOWED_HOSTS) + list(settings.CSRF_TRUSTED_ORIGINS)
    return BrowserOriginValidator(AuthMiddlewareStack(BearerOrSessionMiddleware(app)), allowed)
