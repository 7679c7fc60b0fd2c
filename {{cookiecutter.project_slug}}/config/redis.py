# channels-redis ships no type information:
# mypy: disable-error-code="import-untyped"
"""Redis channel layer configuration, tuned for redis-py 8.

Two layers, chosen with REDIS_CHANNEL_LAYER:

* ``core`` (the default): channels-redis' RedisChannelLayer. Messages wait in Redis lists
  (capacity 100 per channel, expiry 60 s) and group members are Redis sorted sets.
* ``pubsub``: channels-redis' RedisPubSubChannelLayer (marked beta upstream). A group
  message is published once and fanned out inside each process: half the CPU per
  delivery of ``core`` on a 500-member room (docs of the template's benchmark), a
  SUBSCRIBE round trip per connection, and nothing is kept for a process that is not
  listening.

Two redis-py 8 defaults break the core layer unless overridden (channels_redis#422):

* a 5 s socket timeout, the same time ``RedisChannelLayer.receive`` blocks on BRPOP:
  every idle consumer's read times out and its websocket is closed with 1011;
* an async pool that raises instead of waiting once it holds ``max_connections``: when
  hundreds of clients leave at once, ``group_discard`` fails with "Too many connections"
  and the members stay in the group until ``group_expiry``. Raising the ceiling instead
  lets a burst (a flood of health checks, of handshakes) open a Redis connection per
  request until Redis refuses every process its clients. ``BoundedRedisChannelLayer``
  gives the core layer a blocking pool: at most MAX_CONNECTIONS per process, and a burst
  waits its turn. The pub/sub layer needs no such thing: it sends one command at a time
  per Redis host and keeps a single subscriber connection.
"""

from typing import Any, Literal

import environ
from channels_redis.core import RedisChannelLayer
from channels_redis.utils import create_pool
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio import BlockingConnectionPool, ConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# Longer than the BRPOP block, so an idle read is never mistaken for a dead server.
SOCKET_TIMEOUT_SECONDS = RedisChannelLayer.brpop_timeout + 10
# Per server process (Redis accepts 10,000 clients by default: room for 100 processes).
MAX_CONNECTIONS = 100
# How long a command waits for a free pooled connection before it fails.
POOL_TIMEOUT_SECONDS = 10.0
# A pooled connection that Redis closed (a restart, a failover, a killed client) fails the
# first command sent on it, and a group_add or group_discard lost that way leaves a member
# behind for a day. Such a command never reached Redis: it is retried on a fresh
# connection. Timeouts are not retried: a command that timed out may have run, and a
# group_send must not deliver twice.
RETRY = Retry(
    ExponentialBackoff(cap=1.0, base=0.05), retries=3, supported_errors=(RedisConnectionError,)
)
RETRY_ON_ERROR = [RedisConnectionError]

LayerKind = Literal["core", "pubsub"]
BACKENDS: dict[str, str] = {
    "core": "config.redis.BoundedRedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's pool of connections to the master a Sentinel names, blocking at its
    ceiling like BlockingConnectionPool.
    """


class BoundedRedisChannelLayer(RedisChannelLayer):
    """channels-redis' core layer with a blocking connection pool per Redis host."""

    def create_pool(self, index: int) -> ConnectionPool:
        host = dict(self.hosts[index])
        if "address" in host:
            return BlockingConnectionPool.from_url(
                host.pop("address"), timeout=POOL_TIMEOUT_SECONDS, **host
            )
        if "master_name" in host:
            sentinel = Sentinel(
                host.pop("sentinels"), sentinel_kwargs=host.pop("sentinel_kwargs", None)
            )
            return BlockingSentinelConnectionPool(
                host.pop("master_name"), sentinel, timeout=POOL_TIMEOUT_SECONDS, **host
            )
        return create_pool(host)


def channel_layer_from_env(env: environ.Env) -> dict[str, Any] | None:
    """The Redis CHANNEL_LAYERS entry that the environment asks for: REDIS_URL, or
    REDIS_SENTINELS (comma-separated host:port) with REDIS_SENTINEL_MASTER (default
    "mymaster"), and REDIS_CHANNEL_LAYER. None when neither is set (local settings then
    fall back to the in-memory layer, production refuses to start).
    """
    url = env.str("REDIS_URL", default="")
    sentinels = env.list("REDIS_SENTINELS", default=[])
    kind = env.str("REDIS_CHANNEL_LAYER", default="core")
    if kind not in BACKENDS:
        raise ImproperlyConfigured(
            f"REDIS_CHANNEL_LAYER must be one of {', '.join(BACKENDS)}, not {kind!r}"
        )
    if url and sentinels:
        raise ImproperlyConfigured("Set REDIS_URL or REDIS_SENTINELS, not both.")
    if sentinels:
        master = env.str("REDIS_SENTINEL_MASTER", default="mymaster")
        return redis_sentinel_channel_layer(parse_sentinels(sentinels), master, kind)
    return redis_channel_layer(url, kind) if url else None


def parse_sentinels(entries: list[str]) -> list[tuple[str, int]]:
    """REDIS_SENTINELS' entries as (host, port); ImproperlyConfigured names a bad one."""
    sentinels = []
    for entry in entries:
        host, _, port = entry.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ImproperlyConfigured(
                f"REDIS_SENTINELS entries must be host:port, not {entry.strip()!r}"
            )
        sentinels.append((host.strip("[]"), int(port)))
    return sentinels


def _connection_settings() -> dict[str, Any]:
    return {
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "max_connections": MAX_CONNECTIONS,
        "retry": RETRY,
        "retry_on_error": RETRY_ON_ERROR,
    }


def redis_sentinel_channel_layer(
    sentinels: list[tuple[str, int]], master: str, kind: LayerKind = "core"
) -> dict[str, Any]:
    """The CHANNEL_LAYERS entry for the Redis master that these Sentinels name. After a
    failover, a connection to the old master fails, is retried, and the retry asks the
    Sentinels for the new one: no restart needed.
    """
    host = {
        "sentinels": sentinels,
        "master_name": master,
        "sentinel_kwargs": {"socket_timeout": 2.0, "socket_connect_timeout": 2.0},
        **_connection_settings(),
    }
    return {"BACKEND": BACKENDS[kind], "CONFIG": {"hosts": [host]}}


def redis_channel_layer(url: str, kind: LayerKind = "core") -> dict[str, Any]:
    """The CHANNEL_LAYERS entry for the Redis at `url` (redis:// or rediss://)."""
    return {
        "BACKEND": BACKENDS[kind],
        "CONFIG": {
            "hosts": [{"address": url, **_connection_settings()}],
        },
    }
