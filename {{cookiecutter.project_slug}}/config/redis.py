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

``BoundedRedisChannelLayer`` also keeps every socket of a process from stalling or starving
the others (docs/deploy.md, "Every socket ends clean"):

* A message for a socket that has gone is dropped, not kept for ever in a queue of its own.
* All of a process's sockets share one Redis list, so its capacity is per process
  (PROCESS_CAPACITY), not the 100 a single socket gets; a burst to one room cannot make
  another room's message miss. A message dropped for a full channel is logged at WARNING.
* A receive cancelled while redis-py writes a command may carry on for ever on Python 3.11,
  whose asyncio.wait_for can swallow a cancellation; such a receive now ends (and its
  socket's task with it) instead of holding a stopping server until its timeout.
* ``refresh_groups()`` renews many group memberships in one round trip, so live sockets
  stay members under a short group expiry while a killed process's members drop out.
"""

import asyncio
import logging
import math
import time
from collections.abc import Iterable
from typing import Any, Literal

import environ
from channels_redis.core import BoundedQueue, RedisChannelLayer
from channels_redis.utils import create_pool
from django.conf import settings
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
# Messages waiting for all the sockets of one process together (they share one Redis list):
# room for a burst of this many group messages before any is dropped.
PROCESS_CAPACITY = 10_000

logger = logging.getLogger(__name__)

LayerKind = Literal["core", "pubsub"]
BACKENDS: dict[str, str] = {
    "core": "config.redis.BoundedRedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's pool of connections to the master a Sentinel names, blocking at its
    ceiling like BlockingConnectionPool.
    """


class DroppedMessages:
    """Messages this process's channel layer dropped for full channels, counted for the
    operator (the "seeing it in production" metrics read `total`).
    """

    total = 0

    @classmethod
    def add(cls, count: int) -> None:
        cls.total += count


class LoggedQueue(BoundedQueue):
    """A socket's in-process queue (channels-redis' BoundedQueue): a message dropped
    because the socket is not reading fast enough is logged.
    """

    # In slots, not the instance dictionary: a waiting socket holds one of these.
    __slots__ = ("channel", "dropped")

    def __init__(self, channel: str, maxsize: int) -> None:
        super().__init__(maxsize)
        self.channel = channel
        self.dropped = 0

    def put_nowait(self, item: Any) -> None:
        if self.full():
            DroppedMessages.add(1)
            self.dropped += 1
            if math.log10(self.dropped).is_integer():  # the 1st, 10th, 100th...: no flood
                logger.warning(
                    "Dropped %d messages for %s: it reads slower than they come",
                    self.dropped,
                    self.channel,
                )
        super().put_nowait(item)


class ChannelQueues(dict[str, LoggedQueue]):
    """channels-redis' receive buffers: a LoggedQueue per channel of this process's.

    A channel is open from new_channel() until a receive on it is cancelled, as Channels
    does when a consumer stops. A message for a channel no longer open is dropped:
    channels-redis kept a queue for it for ever, one per socket that ended with a message
    on its way to it (3,700 after 8,000 sockets had come and gone in a busy room).
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self.live: set[str] = set()

    def __missing__(self, channel: str) -> LoggedQueue:
        queue = LoggedQueue(channel, self.capacity)
        if channel in self.live:
            self[channel] = queue
        return queue

    def opened(self, channel: str) -> None:
        self.live.add(channel)

    def closed(self, channel: str) -> None:
        self.live.discard(channel)
        self.pop(channel, None)


class ChannelFullAsWarning(logging.Filter):
    """Raise channels-redis' note of a group message that a full channel did not get (an
    INFO line naming the group) to WARNING: that is a lost message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if "over capacity in group" in str(record.msg) and record.levelno < logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            if isinstance(record.args, tuple) and record.args and isinstance(record.args[0], int):
                DroppedMessages.add(record.args[0])  # how many channels missed it
        return True


def _warn_of_lost_messages() -> None:
    """Have channels-redis' logger report lost group messages at WARNING, whatever level
    the project logs at (its only INFO line is that note).
    """
    channels_redis_logger = logging.getLogger("channels_redis.core")
    if not any(isinstance(f, ChannelFullAsWarning) for f in channels_redis_logger.filters):
        channels_redis_logger.addFilter(ChannelFullAsWarning())
    if channels_redis_logger.getEffectiveLevel() > logging.INFO:
        channels_redis_logger.setLevel(logging.INFO)


def _honour_cancellation() -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class BoundedRedisChannelLayer(RedisChannelLayer):
    """channels-redis' core layer with a blocking connection pool per Redis host, a
    capacity per process, and receives that always end when cancelled.
    """

    # How long one BZPOPMIN waits: also the longest a receive whose cancellation was lost
    # (see _brpop_with_clean) runs on. An idle process sends two commands this often.
    brpop_timeout = 1

    def __init__(self, *args: Any, group_expiry: int | None = None, **kwargs: Any) -> None:
        # Members not renewed this long leave their groups (channels-redis' default: a day).
        if group_expiry is None:
            group_expiry = settings.WS_GROUP_EXPIRY_SECONDS
        super().__init__(*args, group_expiry=group_expiry, **kwargs)
        self.receive_buffer = ChannelQueues(self.capacity)
        _warn_of_lost_messages()

    async def new_channel(self, prefix: str = "specific") -> str:
        channel: str = await super().new_channel(prefix)
        self.receive_buffer.opened(channel)
        return channel

    def channel_closed(self, channel: str) -> None:
        """Drop what is left for `channel`, whose consumer has ended (core.websocket's
        SocketConsumer says so; a consumer stopped by an error never cancels its receive).
        """
        self.receive_buffer.closed(channel)

    async def receive(self, channel: str) -> Any:
        try:
            return await super().receive(channel)
        except asyncio.CancelledError:
            # Its consumer is ending (Channels cancels the receive as a consumer stops).
            self.receive_buffer.closed(channel)
            raise

    async def _brpop_with_clean(self, index: int, channel: str, timeout: float) -> Any:  # noqa: ASYNC109
        # channels-redis retries an empty BZPOPMIN for ever. On Python 3.11, redis-py's
        # writes go through asyncio.wait_for, which swallows a cancellation that arrives as
        # the write completes (CPython gh-86296, fixed in 3.12): the cancelled receive then
        # never returns, and neither does its consumer. Honour it here; a message already
        # popped stays in the backup queue, which the next receive puts back.
        _honour_cancellation()
        member = await super()._brpop_with_clean(index, channel, timeout)
        _honour_cancellation()
        return member

    async def refresh_groups(self, memberships: Iterable[tuple[str, str]]) -> None:
        """Renew these (group, channel) memberships and drop every member of those groups
        that has not been renewed within group_expiry (a killed process's).
        """
        now = time.time()
        by_shard: dict[int, dict[bytes, dict[str, float]]] = {}
        for group, channel in memberships:
            shard = by_shard.setdefault(self.consistent_hash(group), {})
            shard.setdefault(self._group_key(group), {})[channel] = now
        for index, groups in by_shard.items():
            pipe = self.connection(index).pipeline(transaction=False)
            for key, members in groups.items():
                pipe.zadd(key, members)
                pipe.zremrangebyscore(key, min=0, max=int(now) - self.group_expiry)
                pipe.expire(key, self.group_expiry)
            await pipe.execute()

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


def _layer(kind: LayerKind, host: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {"hosts": [host]}
    if kind == "core":
        # The pub/sub layer keeps no list per process in Redis.
        config["channel_capacity"] = {"specific.*": PROCESS_CAPACITY}
    return {"BACKEND": BACKENDS[kind], "CONFIG": config}


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
    return _layer(kind, host)


def redis_channel_layer(url: str, kind: LayerKind = "core") -> dict[str, Any]:
    """The CHANNEL_LAYERS entry for the Redis at `url` (redis:// or rediss://)."""
    return _layer(kind, {"address": url, **_connection_settings()})
