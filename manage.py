#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import environ


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchat.settings")
    # What the settings will read (the environment wins over .env).
    environ.Env.read_env(Path(__file__).resolve().parent / ".env", overwrite=False)
    # Like `make`: with no SECRET_KEY anywhere, a command is a developer's, in DEBUG (the
    # settings' dev-only key). Production brings its key, and its DEBUG stays as configured.
    if not os.environ.get("SECRET_KEY"):
        os.environ.setdefault("DEBUG", "true")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    # Django would swallow a settings error here and fail later as "Models aren't loaded yet";
    # reading a setting first shows the settings' own message (e.g. SECRET_KEY with DEBUG=false).
    settings.INSTALLED_APPS  # noqa: B018
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
