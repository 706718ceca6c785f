"""ASGI entry point: HTTP through Django, WebSockets through Channels (see catchat.ws_auth), and
the lifespan protocol for servers that speak it (uvicorn under `make run WORKERS=N`): at
shutdown, replies in flight get CHAT_SHUTDOWN_GRACE_S to finish, the rest end `interrupted`.
daphne (one process) has no lifespan: `catchat.serve` hooks the same shutdown into Twisted.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchat.settings")
# Django must be set up before the consumers (and their models) are imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from catchat.body_limit import limit_body_size  # noqa: E402
from catchat.routing import websocket_urlpatterns  # noqa: E402
from catchat.ws_auth import websocket_stack  # noqa: E402
from cats import chat  # noqa: E402

router = ProtocolTypeRouter(
    {
        # Bodies over REQUEST_MAX_BODY_BYTES are refused (413) before Django buffers them.
        "http": limit_body_size(django_asgi_app, max_bytes=lambda: settings.REQUEST_MAX_BODY_BYTES),
        "websocket": websocket_stack(URLRouter(websocket_urlpatterns)),
    }
)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    else:
        await router(scope, receive, send)


async def lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if settings.CHAT_SWEEP:
                chat.start_sweeper()  # replies another worker left behind when it died
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await chat.shutdown(settings.CHAT_SHUTDOWN_GRACE_S)
            await send({"type": "lifespan.shutdown.complete"})
            return
