"""Each settings module starts, or refuses to, the way its docstring promises."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent
GOOD_SECRET = "k" * 25 + "Qz9-_xY8wV7uT6sR5qP4oN3mL2kJ1h"
{%- if cookiecutter.use_redis %}
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": GOOD_SECRET,
    "DJANGO_ALLOWED_HOSTS": "chat.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}
{%- else %}
PRODUCTION_ENV = {"DJANGO_SECRET_KEY": GOOD_SECRET, "DJANGO_ALLOWED_HOSTS": "chat.example.com"}
{%- endif %}


def manage(*args: str, settings: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh process, with only `env` on top of a clean environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REDIS_"))}
    base.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env={**base, **env, "DJANGO_SETTINGS_MODULE": settings, "DJANGO_READ_DOT_ENV": "0"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_passes_the_deploy_check():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING",
        settings="config.settings.production", env=PRODUCTION_ENV,
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("", id="missing"),
        pytest.param("django-insecure-local-development-only", id="development-key"),
        pytest.param("short", id="short"),
        pytest.param("a" * 60, id="repetitive"),
    ],
)
def test_production_refuses_a_weak_secret_key(secret):
    result = manage("check", settings="config.settings.production", env={**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret})

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_requires_allowed_hosts():
    env = {**PRODUCTION_ENV, "DJANGO_ALLOWED_HOSTS": ""}

    result = manage("check", settings="config.settings.production", env=env)

    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_local_settings_need_no_environment():
    result = manage("check", "--fail-level", "WARNING", settings="config.settings.local", env={})

    assert result.returncode == 0, result.stderr
