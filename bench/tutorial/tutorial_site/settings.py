"""The Channels tutorial's project, as the benchmark's reference: same Django, Channels
and daphne as the baked project, the tutorial's consumer plus a ping/pong handler.
"""

import os

SECRET_KEY = "benchmark-reference-only-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "daphne",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "channels",
    "chat",
]
MIDDLEWARE = []
ROOT_URLCONF = "tutorial_site.urls"
ASGI_APPLICATION = "tutorial_site.asgi.application"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
USE_TZ = True
REDIS_URL = os.environ.get("REDIS_URL", "")
CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Same redis-py 8 fixes as the baked project, so only the consumers differ.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": 2000}]
            },
        }
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}
