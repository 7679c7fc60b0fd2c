"""Settings for production: DJANGO_SETTINGS_MODULE=config.settings.production.

Refuses to start with a missing or development secret key, without ALLOWED_HOSTS or with
"*" in them,
{%- if cookiecutter.use_redis %}
or without REDIS_URL (or REDIS_SENTINELS),
{%- endif %}
and passes `manage.py check --deploy --fail-level WARNING`. Reads only the real
environment: base.py reads no .env file under these settings.
"""

from django.core.exceptions import ImproperlyConfigured
{%- if cookiecutter.use_redis %}

from config.redis import channel_layer_from_env
{%- endif %}

from .base import *  # noqa: F403
from .base import env


def _require_secret_key(value: str) -> str:
    """Refuse keys that Django's deploy check calls insecure, before anything uses them."""
    if not value:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set in production.")
    if value.startswith("django-insecure") or len(value) < 50 or len(set(value)) < 5:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not a production key: use at least 50 random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    return value


DEBUG = False
SECRET_KEY = _require_secret_key(env.str("DJANGO_SECRET_KEY", default=""))

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the host names this site serves.")
if "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "DJANGO_ALLOWED_HOSTS must name this site's hosts: '*' accepts any Host header and "
        "any websocket Origin."
    )
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Websocket Origins, compared by scheme, host and port (core/websocket.py): this site's
# own pages over HTTPS on the default port, and each trusted origin exactly.
WEBSOCKET_ALLOWED_ORIGINS = [f"https://{host}" for host in ALLOWED_HOSTS] + CSRF_TRUSTED_ORIGINS
{%- if cookiecutter.use_redis %}

redis_layer = channel_layer_from_env(env)
if not redis_layer:
    raise ImproperlyConfigured(
        "REDIS_URL (or REDIS_SENTINELS) must be set in production: the in-memory channel "
        "layer cannot reach consumers in other server processes."
    )
CHANNEL_LAYERS = {"default": redis_layer}
{%- endif %}

# HTTPS, behind a proxy that terminates TLS (deploy/nginx.conf). The scheme comes from the
# ASGI scope, which uvicorn's --proxy-headers sets from X-Forwarded-Proto only for a client
# in FORWARDED_ALLOW_IPS. No SECURE_PROXY_SSL_HEADER: Django would read that header from
# any client, so one reaching an app host directly could claim HTTPS.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# /health/ answers before this redirect: load balancers probe over plain HTTP.
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# Start low and raise to a year (31536000) once HTTPS is known to work everywhere.
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading is a promise browsers keep for months: ask for it knowingly, once a year-long
# max-age is in place (https://hstspreload.org lists the conditions). Off by default, so
# the deploy check's reminder about it (security.W021) is silenced on purpose.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
