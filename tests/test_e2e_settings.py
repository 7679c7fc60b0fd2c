"""Settings as a deployment meets them: production reads the real environment only."""

import subprocess

import pytest

from harness.commands import clean_env
from harness.served import Served

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["defaults"])
def e2e_name(request) -> str:
    return request.param


def manage(served: Served, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """manage.py in the served copy, with only `env` of the project's variables, so its
    .env file is the only other source of settings.
    """
    return subprocess.run(
        [str(served.python), "manage.py", *args],
        cwd=served.path,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key_beside_a_dot_env(served):
    """The baked .env holds a development key; production must not take it."""
    assert "DJANGO_SECRET_KEY=" in (served.path / ".env").read_text(encoding="utf-8")

    result = manage(
        served,
        "check",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="chat.example.test",
        REDIS_URL=served.env["REDIS_URL"],
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set in production" in result.stderr


def test_local_settings_do_read_the_dot_env(served):
    """The same checkout under local settings takes the key from .env, as documented."""
    key = (served.path / ".env").read_text(encoding="utf-8").splitlines()[0].split("=", 1)[1]
    code = "from django.conf import settings; print(settings.SECRET_KEY)"

    result = manage(
        served,
        *("shell", "-v", "0", "-c", code),
        DJANGO_SETTINGS_MODULE="config.settings.local",
        PYTHONWARNINGS="ignore",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == key
