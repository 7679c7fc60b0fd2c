"""Helpers shared by the tests: handshake headers, real services, manage.py in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
ORIGIN = (b"origin", b"http://testserver")


def require_service(variable: str) -> str:
    """The URL of a real service from the environment.

    Without it the test is skipped with a visible reason; with REQUIRE_SERVICES=1
    (as in CI) a missing service is a failure instead.
    """
    url = os.environ.get(variable, "")
    if not url:
        reason = f"{variable} is not set: this test needs the real service"
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return url


def manage(*args: str, settings: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh process, with `env` on top of an environment cleared of
    the project's variables (DJANGO_*, DATABASE_URL, REDIS_URL) and of .env.
    """
    ours = ("DJANGO_", "DATABASE_URL", "REDIS_URL")
    clean = {name: value for name, value in os.environ.items() if not name.startswith(ours)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env={**clean, "DJANGO_READ_DOT_ENV": "0", "DJANGO_SETTINGS_MODULE": settings, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
