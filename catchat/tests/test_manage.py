"""`manage.py` from a bare shell: a developer's command works, production keeps its settings, and
no model change lacks its migration."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SHOW_DEBUG = "from django.conf import settings; print(settings.DEBUG)"


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    bare = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    # Never connected to by `shell -c`: the settings only need a database that is not the
    # embedded one.
    bare.update(DATABASE_URL="postgres://x@127.0.0.1:1/unused", **env)
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=bare,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_command_from_a_bare_shell_runs_in_debug() -> None:
    # It failed with "Models aren't loaded yet" (the settings refuse to start without a key).
    done = _manage("shell", "-c", SHOW_DEBUG)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "True"


def test_with_a_secret_key_debug_stays_as_configured() -> None:
    done = _manage("shell", "-c", SHOW_DEBUG, SECRET_KEY=secrets.token_urlsafe(48))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "False"


def test_debug_off_without_a_key_says_why() -> None:
    done = _manage("makemigrations", "--check", "--dry-run", DEBUG="false")
    assert done.returncode != 0
    assert "SECRET_KEY is not set" in done.stderr
    assert "Models aren't loaded" not in done.stderr


@pytest.mark.django_db
def test_every_model_change_has_its_migration() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
