"""WebSocket authentication: the Origin rule and JWT bearer tokens (PRODUCT.md, "WebSocket").

- A connection that sends an `Origin` must send an allowed one (ALLOWED_HOSTS or
  CSRF_TRUSTED_ORIGINS), whatever its credentials: this stops cross-site WebSocket hijacking
  through the session cookie. A bad Origin is refused at the handshake (HTTP 403).
- The session cookie is trusted only from an Origin Django's CSRF check would trust for a form:
  http or https (the socket's own: https for wss or a TLS proxy), an allowed host on the port
  the socket was opened on (the Host header's), or an entry of CSRF_TRUSTED_ORIGINS. Another
  port of an allowed host is another site (another local app, say); it is refused at the
  handshake too.
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
from urllib.parse import ParseResult, urlparse

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from catchat.daphne_close import allow_server_close_codes

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
        allow_server_close_codes()  # before any socket of this process may close with 1008
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
        if not _trusted_for_session(scope, origin):
            return None
        return await _user_for_session(scope), "session"


DEFAULT_PORTS = {"http": 80, "https": 443}


def _trusted_for_session(scope: Scope, origin: ParseResult) -> bool:
    """Whether a session-cookie socket may come from `origin`: as Django's CSRF check trusts a
    form's Origin (CsrfViewMiddleware._origin_verified), with the port of an allowed host
    compared against the port the socket was opened on."""
    raw = origin.geturl().lower()
    trusted = [o.lower() for o in settings.CSRF_TRUSTED_ORIGINS]
    if raw in trusted:
        return True
    try:
        port = origin.port or DEFAULT_PORTS.get(origin.scheme)
    except ValueError:  # a port out of range
        return False
    if origin.scheme not in DEFAULT_PORTS or port is None or origin.hostname is None:
        return False
    # CSRF_TRUSTED_ORIGINS' wildcards: https://*.example.com
    for pattern in (urlparse(o) for o in trusted if "*" in o):
        if pattern.scheme == origin.scheme and is_same_domain(
            origin.netloc, pattern.netloc.lstrip("*")
        ):
            return True
    scheme = "https" if _secure(scope) else "http"
    if origin.scheme != scheme:
        return False
    # ALLOWED_HOSTS spells an IPv6 address in brackets; urlparse's hostname drops them.
    domain = f"[{origin.hostname}]" if ":" in origin.hostname else origin.hostname
    if not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    served = _served_port(scope, scheme)
    # None: a scope with neither a Host header nor `server`, which no server sends (only
    # in-process test harnesses): the port cannot be compared there.
    return served is None or served == port


def _secure(scope: Scope) -> bool:
    """The socket is wss, or reached us through a TLS proxy trusted by SECURE_PROXY_SSL_HEADER
    (as HttpRequest.is_secure)."""
    if scope.get("scheme") == "wss":
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        meta_name, secure_value = proxy
        name = meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1")
        value = _header(scope, name)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return False


def _served_port(scope: Scope, scheme: str) -> int | None:
    """The port the client opened the socket on: the Host header's (the default port of the
    scheme when it names none), else the server's own."""
    host = _header(scope, b"host")
    if host is not None:
        _, port = split_domain_port(host)
        if port:
            return int(port) if port.isdigit() else -1
        return DEFAULT_PORTS[scheme]
    server = scope.get("server")
    if server and server[1] is not None:
        return int(server[1])
    return None


def websocket_stack(app: Any) -> Any:
    allowed = list(settings.ALLOWED_HOSTS) + list(settings.CSRF_TRUSTED_ORIGINS)
    return WebSocketAuth(app, allowed)
