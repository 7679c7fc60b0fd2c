"""Redis channel layer configuration, tuned for redis-py 8.

Two redis-py 8 defaults break channels-redis unless overridden (channels_redis#422):

* a 5 s socket timeout, the same time ``RedisChannelLayer.receive`` blocks on BRPOP:
  every idle consumer's read times out and its websocket is closed with 1011;
* an async pool of 100 connections that raises instead of waiting: when hundreds of
  clients leave at once, ``group_discard`` fails with "Too many connections" and the
  members stay in the group until ``group_expiry``.
"""

from typing import Any

from channels_redis.core import RedisChannelLayer

# Longer than the BRPOP block, so an idle read is never mistaken for a dead server.
SOCKET_TIMEOUT_SECONDS = RedisChannelLayer.brpop_timeout + 10
# Per server process; Redis itself accepts 10,000 clients by default.
MAX_CONNECTIONS = 2000


def redis_channel_layer(url: str) -> dict[str, Any]:
    """The CHANNEL_LAYERS entry for the Redis at `url` (redis:// or rediss://)."""
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": url,
                    "socket_timeout": SOCKET_TIMEOUT_SECONDS,
                    "max_connections": MAX_CONNECTIONS,
                }
            ],
        },
    }
