"""Each settings module starts, or refuses to, the way its docstring promises."""

import pytest

from .support import manage

GOOD_SECRET = "k" * 25 + "Qz9-_xY8wV7uT6sR5qP4oN3mL2kJ1h"
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": GOOD_SECRET,
    "DJANGO_ALLOWED_HOSTS": "chat.example.com",
{%- if cookiecutter.use_redis %}
    "REDIS_URL": "redis://127.0.0.1:6379/0",
{%- endif %}
}
PRODUCTION = "config.settings.production"


def test_production_passes_the_deploy_check():
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", settings=PRODUCTION, env=PRODUCTION_ENV
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
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret}

    result = manage("check", settings=PRODUCTION, env=env)

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_requires_allowed_hosts():
    env = {**PRODUCTION_ENV, "DJANGO_ALLOWED_HOSTS": ""}

    result = manage("check", settings=PRODUCTION, env=env)

    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_local_settings_need_no_environment():
    result = manage("check", "--fail-level", "WARNING", settings="config.settings.local", env={})

    assert result.returncode == 0, result.stderr


def test_empty_variables_mean_their_defaults():
    """As in a .env copied from .env.example without filling every line in."""
    env = {"DATABASE_URL": "", "DJANGO_ALLOWED_HOSTS": "", "DJANGO_SECRET_KEY": ""}
    code = "from django.conf import settings; print(settings.DATABASES['default']['ENGINE'])"

    result = manage("shell", "--no-imports", "-c", code, settings="config.settings.local", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("django.db.backends.")
