"""WSGI entry point (HTTP only; the chat needs the ASGI app in catchat.asgi)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchat.settings")
application = get_wsgi_application()
