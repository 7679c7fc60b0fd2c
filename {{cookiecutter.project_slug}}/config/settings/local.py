"""Settings for development on a laptop: `python manage.py runserver`."""
{%- if cookiecutter.use_redis %}

from config.redis import channel_layer_from_env
{%- endif %}

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)

# The post-generation hook wrote a fresh key to .env; this fallback only keeps a fresh
# clone without .env working, and production refuses any key of this shape.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="django-insecure-local-development-only")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

# Mail (a password reset link, say) is printed to the console, not sent.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
{%- if cookiecutter.use_redis %}

# Redis when REDIS_URL is set; otherwise base's in-memory layer, which a system check
# (core/checks.py) points out.
redis_layer = channel_layer_from_env(env)
if redis_layer:
    CHANNEL_LAYERS = {"default": redis_layer}
{%- endif %}
