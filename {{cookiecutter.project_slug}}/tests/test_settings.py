"""Each settings module starts, or refuses to, the way its docstring promises."""

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from .support import PROJECT_DIR, load_settings, manage

GOOD_SECRET = "k" * 25 + "Qz9-_xY8wV7uT6sR5qP4oN3mL2kJ1h"
PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": GOOD_SECRET,
    "DJANGO_ALLOWED_HOSTS": "chat.example.com",
{%- if cookiecutter.use_redis %}
    "REDIS_URL": "redis://127.0.0.1:6379/0",
{%- endif %}
}


def test_production_passes_the_deploy_check():
    """In a fresh process, through Django's own check framework."""
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        settings="config.settings.production",
        env=PRODUCTION_ENV,
    )

    assert result.returncode == 0, result.stderr


def test_production_settings_are_secure(monkeypatch):
    production = load_settings("production", PRODUCTION_ENV, monkeypatch)

    assert production.DEBUG is False
    assert production.SECRET_KEY == GOOD_SECRET
    assert production.ALLOWED_HOSTS == ["chat.example.com"]
    assert production.SESSION_COOKIE_SECURE
    assert production.CSRF_COOKIE_SECURE
    assert production.SECURE_SSL_REDIRECT
    assert production.SECURE_HSTS_PRELOAD is False  # only when asked for


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("", id="missing"),
        pytest.param("django-insecure-local-development-only", id="development-key"),
        pytest.param("short", id="short"),
        pytest.param("a" * 60, id="repetitive"),
    ],
)
def test_production_refuses_a_weak_secret_key(monkeypatch, secret):
    env = {**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret}

    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        load_settings("production", env, monkeypatch)


def test_production_requires_allowed_hosts(monkeypatch):
    env = {**PRODUCTION_ENV, "DJANGO_ALLOWED_HOSTS": ""}

    with pytest.raises(ImproperlyConfigured, match="DJANGO_ALLOWED_HOSTS"):
        load_settings("production", env, monkeypatch)


def test_local_settings_need_no_environment(monkeypatch):
    local = load_settings("local", {}, monkeypatch)

    assert local.DEBUG is True
    assert local.SECRET_KEY.startswith("django-insecure-")
    assert "localhost" in local.ALLOWED_HOSTS


def test_log_level_comes_from_django_log_level(monkeypatch):
    """One level for the console: the root logger's, and Django's, which only propagates."""
    assert load_settings("local", {}, monkeypatch).LOGGING["root"]["level"] == "INFO"

    quiet = load_settings(
        "production", {**PRODUCTION_ENV, "DJANGO_LOG_LEVEL": "WARNING"}, monkeypatch
    )

    assert quiet.LOGGING["root"]["level"] == "WARNING"
    assert quiet.LOGGING["loggers"]["django"] == {
        "handlers": [],
        "level": "WARNING",
        "propagate": True,
    }


def test_empty_variables_mean_their_defaults(monkeypatch):
    """As in a .env copied from .env.example without filling every line in."""
    env = {"DATABASE_URL": "", "DJANGO_ALLOWED_HOSTS": "", "DJANGO_SECRET_KEY": ""}

    local = load_settings("local", env, monkeypatch)

    assert local.DATABASES["default"]["ENGINE"].startswith("django.db.backends.")


def dot_env_reads(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list:
    """The files settings module `name` asks django-environ to read, under `env`."""
    reads = []
    monkeypatch.setattr(environ.Env, "read_env", lambda *args, **kwargs: reads.append(args[-1]))
    load_settings(name, env, monkeypatch)
    return reads


def test_production_never_reads_dot_env(monkeypatch):
    """Not even when DJANGO_READ_DOT_ENV asks: a checkout's development key must not
    become the production key.
    """
    env = {**PRODUCTION_ENV, "DJANGO_READ_DOT_ENV": "1"}

    assert dot_env_reads("production", env, monkeypatch) == []


def test_local_settings_read_dot_env(monkeypatch):
    reads = dot_env_reads("local", {"DJANGO_READ_DOT_ENV": "1"}, monkeypatch)

    assert reads == [PROJECT_DIR / ".env"]


def test_production_websocket_origins_are_the_sites_https_pages_and_trusted_origins(
    monkeypatch,
):
    env = {
        **PRODUCTION_ENV,
        "DJANGO_ALLOWED_HOSTS": "chat.example.com,.example.org",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://ops.example.com:8443",
    }
    production = load_settings("production", env, monkeypatch)

    assert production.WEBSOCKET_ALLOWED_ORIGINS == [
        "https://chat.example.com",
        "https://.example.org",
        "https://ops.example.com:8443",
    ]


@pytest.mark.parametrize("hosts", ["*", "chat.example.com,*"])
def test_production_refuses_a_wildcard_allowed_host(monkeypatch, hosts):
    env = {**PRODUCTION_ENV, "DJANGO_ALLOWED_HOSTS": hosts}

    with pytest.raises(ImproperlyConfigured, match="'\\*' accepts any Host header"):
        load_settings("production", env, monkeypatch)


def test_production_names_every_missing_variable_at_once_without_a_traceback():
    """In a fresh process, as a deployment meets it: one line per problem, exit 1."""
    result = manage("check", settings="config.settings.production", env={})

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Production settings refuse to start:"
    missing = ["DJANGO_SECRET_KEY must be set", "DJANGO_ALLOWED_HOSTS must list"]
{%- if cookiecutter.use_redis %}
    missing.append("REDIS_URL (or REDIS_SENTINELS) must be set")
{%- endif %}
    assert len(lines) == 1 + len(missing), lines
    for line, expected in zip(lines[1:], missing, strict=True):
        assert line.startswith(f"- {expected}"), line


def test_production_sends_mail_through_email_url(monkeypatch):
    env = {
        **PRODUCTION_ENV,
        "EMAIL_URL": "smtp+tls://mailer:s3cret@smtp.example.com:587",
        "DJANGO_DEFAULT_FROM_EMAIL": "chat@example.com",
    }
    production = load_settings("production", env, monkeypatch)

    assert production.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
    assert (production.EMAIL_HOST, production.EMAIL_PORT) == ("smtp.example.com", 587)
    assert (production.EMAIL_HOST_USER, production.EMAIL_HOST_PASSWORD) == ("mailer", "s3cret")
    assert production.EMAIL_USE_TLS is True
    assert production.DEFAULT_FROM_EMAIL == production.SERVER_EMAIL == "chat@example.com"
    assert production.PASSWORD_RESET_BY_EMAIL is True


def test_production_without_email_url_sends_nothing_and_offers_no_reset(monkeypatch):
    production = load_settings("production", PRODUCTION_ENV, monkeypatch)

    assert production.EMAIL_BACKEND == "django.core.mail.backends.dummy.EmailBackend"
    assert production.PASSWORD_RESET_BY_EMAIL is False


def test_production_mail_needs_a_sender(monkeypatch):
    env = {**PRODUCTION_ENV, "EMAIL_URL": "smtp://smtp.example.com:25"}

    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEFAULT_FROM_EMAIL must be set"):
        load_settings("production", env, monkeypatch)


def test_local_settings_print_mail(monkeypatch):
    local = load_settings("local", {}, monkeypatch)

    assert local.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"
    assert local.PASSWORD_RESET_BY_EMAIL is True
