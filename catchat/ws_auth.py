"""WebSocket authentication: the Origin rule and JWT bearer tokens (PRODUCT.md, "WebSocket").

- A connection that sends an `Origin` must send an allowed one (ALLOWED_HOSTS or
  CSRF_TRUSTED_ORIGINS), whatever its credentials: this stops cross-site WebSocket hijacking
  through the session cookie. A bad Origin is refused at the handshake (HTTP 403).
- `Authorization: Bearer <access JWT>` authenticates non-browser clients.
- A connection without an `Origin` is served only with a bearer token: the session cookie alone
  is not trusted there (channels' AllowedHostsOriginValidator would refuse such clients outright,
  which locks out phone apps and scripts).

One middleware does all of it, and hands the consumer a scope with `user` (a User or
AnonymousUser, resolved once) and `auth` (`bearer`, `session` or `none`). Not channels'
`AuthMiddlewareStack`: each of its four layers stays suspended for the socket's whole life with a
copy of the scope, a lazy session and a lazy user (about 5 KB per idle socket, half of it for
bearer clients that have no session at all). Nothing downstream reads `scope["session"]` or
`scope["cookies"]`, so they are not kept.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any
from urllib.parse import urlparse

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http import parse_cookie
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

Scope = dict[str, Any]


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


async def _user_for_session(scope: Scope) -> Any:
    """The user of the session cookie, as channels' AuthMiddlewareStack finds it (the session's
    auth hash verified; AnonymousUser without a valid session)."""
    cookie = _header(scope, b"cookie")
    cookies = parse_cookie(cookie) if cookie is not None else {}
    store = import_module(settings.SESSION_ENGINE).SessionStore
    session = store(cookies.get(settings.SESSION_COOKIE_NAME))
    return await get_user({"session": session})


class WebSocketAuth(OriginValidator):
    """The Origin rule (channels' matching of allowed origins, but a missing Origin passes) and
    the user, in one layer, in front of the URL router."""

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("WebSocketAuth serves WebSocket connections only")
        found = await self._authenticate(scope)
        if found is None:
            return await WebsocketDenier()(scope, receive, send)
        user, auth = found
        # This frame lives as long as the socket: it keeps only the scope it passes on (the
        # token and the parsed Origin died with `_authenticate`).
        return await self.application({**scope, "user": user, "auth": auth}, receive, send)

    async def _authenticate(self, scope: Scope) -> tuple[Any, str] | None:
        """(user, how) for the connection, or None when its Origin is not allowed."""
        origin = None
        for key, value in scope.get("headers", []):
            if key == b"origin":  # the last one counts, as for channels' OriginValidator
                origin = urlparse(value.decode("latin1"))
        if origin is not None and not self.validate_origin(origin):
            return None
        authorization = _header(scope, b"authorization")
        if authorization is not None:
            scheme, _, raw = authorization.partition(" ")
            if scheme.lower() == "bearer" and raw.strip():
                return await _user_for_token(raw.strip()), "bearer"
            return AnonymousUser(), "bearer"
        if origin is None:
            return AnonymousUser(), "none"
        return await _user_for_session(scope), "session"


def websocket_stack(app: Any) -> Any:
    allowed = list(settings.ALLOWED_HOSTS) + list(settings.CSRF_TRUSTED_ORIGINS)
    return WebSocketAuth(app, allowed)
