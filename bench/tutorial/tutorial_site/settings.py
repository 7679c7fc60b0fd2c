"""The Channels tutorial's project, as the benchmark's reference: same Django, Channels
and daphne as the baked project, the tutorial's consumer plus a ping/pong handler.
"""

import os

# The benchmark gives this app the project's key and copies the project's logged-in session
# and user into its database, so one session cookie authenticates a client of either:
# handshakes cost the same lookups (bench/lineup.py, log_in).
SECRET_KEY = os.environ.get("BENCH_SECRET_KEY", "benchmark-reference-only-" + "x" * 40)
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
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_DATABASE", ":memory:"),
    }
}
USE_TZ = True
REDIS_URL = os.environ.get("REDIS_URL", "")
REDIS_LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": REDIS_LAYERS[os.environ.get("REDIS_CHANNEL_LAYER", "core")],
            # Same redis-py 8 fixes as the baked project, so only the consumers differ.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15, "max_connections": 2000}]
            },
        }
        if REDIS_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}
