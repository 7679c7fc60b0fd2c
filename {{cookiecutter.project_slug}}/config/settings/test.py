"""Settings for the test suite: hermetic by default (in-memory channel layer, SQLite).

DATABASE_URL, when set, runs the whole suite on that database (PostgreSQL in CI);
the tests that need a real Redis read REDIS_URL themselves.
"""

from .base import *  # noqa: F403
from .base import IN_MEMORY_CHANNEL_LAYER, env

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-used-anywhere-else"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "localhost"]

CHANNEL_LAYERS = {"default": IN_MEMORY_CHANNEL_LAYER}
DATABASE_URL = env.str("DATABASE_URL", default="") or "sqlite://:memory:"
DATABASES = {"default": env.db_url_config(DATABASE_URL)}

# Every health request runs the checks: tests change what they check between requests.
HEALTH_CACHE_SECONDS = 0

# Fast hashing: the tests create users, they do not need to resist brute force.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Serve static files from the finders: the tests never run collectstatic.
WHITENOISE_AUTOREFRESH = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
