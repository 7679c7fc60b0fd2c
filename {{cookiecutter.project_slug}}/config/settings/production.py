"""Settings for production: DJANGO_SETTINGS_MODULE=config.settings.production.

Refuses to start, naming every problem at once, with a missing or development secret key,
without ALLOWED_HOSTS or with "*" in them,
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

# Every refusal is collected and reported together, one line each (config/startup.py
# prints them without a traceback): a deployment missing three variables learns all three.
refusals: list[str] = []


def _secret_key_refusal(value: str) -> str | None:
    """Refuse keys that Django's deploy check calls insecure, before anything uses them."""
    if not value:
        return "DJANGO_SECRET_KEY must be set in production."
    if value.startswith("django-insecure") or len(value) < 50 or len(set(value)) < 5:
        return (
            "DJANGO_SECRET_KEY is not a production key: use at least 50 random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )
    return None


DEBUG = False
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if refusal := _secret_key_refusal(SECRET_KEY):
    refusals.append(refusal)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    refusals.append("DJANGO_ALLOWED_HOSTS must list the host names this site serves.")
if "*" in ALLOWED_HOSTS:
    refusals.append(
        "DJANGO_ALLOWED_HOSTS must name this site's hosts: '*' accepts any Host header and "
        "any websocket Origin."
    )
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Websocket Origins, compared by scheme, host and port (core/websocket.py): this site's
# own pages over HTTPS on the default port, and each trusted origin exactly.
WEBSOCKET_ALLOWED_ORIGINS = [f"https://{host}" for host in ALLOWED_HOSTS] + CSRF_TRUSTED_ORIGINS
{%- if cookiecutter.use_redis %}

try:
    redis_layer = channel_layer_from_env(env)
except ImproperlyConfigured as error:
    refusals.append(str(error))
else:
    if redis_layer:
        CHANNEL_LAYERS = {"default": redis_layer}
    else:
        refusals.append(
            "REDIS_URL (or REDIS_SENTINELS) must be set in production: the in-memory channel "
            "layer cannot reach consumers in other server processes."
        )
{%- endif %}

# Email through EMAIL_URL (django-environ's forms, e.g.
# smtp+tls://user:password@smtp.example.com:587). Without it no mail leaves and password
# reset by email is off: its link is not shown, its pages answer 404 (docs/deploy.md).
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    globals().update(env.email_url_config(EMAIL_URL))
else:
    EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
PASSWORD_RESET_BY_EMAIL = bool(EMAIL_URL)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="")
if EMAIL_URL and not DEFAULT_FROM_EMAIL:
    refusals.append("DJANGO_DEFAULT_FROM_EMAIL must be set with EMAIL_URL: mail needs a sender.")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

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

if refusals:
    raise ImproperlyConfigured(
        "Production settings refuse to start:\n" + "\n".join(f"- {r}" for r in refusals)
    )
