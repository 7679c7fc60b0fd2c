"""Settings for the test suite: the in-memory channel layer, and the project's database.

The database is base's, the one the project runs on (DATABASE_URL, or the default URL):
Django's test runner puts an in-memory database in place of a SQLite file, and creates a
test_ database beside a PostgreSQL one, dropped afterwards. The tests that need a real
Redis read REDIS_URL themselves.
"""

from .base import *  # noqa: F403
from .base import IN_MEMORY_CHANNEL_LAYER

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-used-anywhere-else"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "localhost"]

CHANNEL_LAYERS = {"default": IN_MEMORY_CHANNEL_LAYER}

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
