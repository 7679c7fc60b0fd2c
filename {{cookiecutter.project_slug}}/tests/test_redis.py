# channels-redis ships no type information:
# mypy: disable-error-code="import-untyped"
"""The Redis channel layers (core and pub/sub), against the real Redis at REDIS_URL."""

import asyncio
import contextlib
import socket
import time
import uuid

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.core.checks import INFO, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from redis.asyncio import Connection, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from uvicorn.protocols.utils import ClientDisconnected

from {{ cookiecutter.project_slug }}.core.health import check_channel_layer
from {{ cookiecutter.project_slug }}.core.websocket import SkipDatabaseCleanupMixin, SocketConsumer

from config.redis import (
    BACKENDS,
    BoundedRedisChannelLayer,
    ChannelQueues,
    DroppedMessages,
    LayerKind,
    redis_channel_layer,
)

from .support import load_settings, require_service


@pytest.fixture
def redis_url() -> str:
    return require_service("REDIS_URL")


@pytest.fixture(params=list(BACKENDS))
def kind(request) -> LayerKind:
    """Tests that take it run on both layers REDIS_CHANNEL_LAYER offers."""
    return request.param


@pytest.fixture
def redis_settings(settings, redis_url, kind):
    """Run the test on the production channel-layer configuration, on the real Redis."""
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(redis_url, kind)}
    return settings


@pytest.fixture
async def layer(redis_settings, kind):
    layer = get_channel_layer()
    expected = {"core": RedisChannelLayer, "pubsub": RedisPubSubChannelLayer}[kind]
    assert isinstance(layer, expected)
    yield layer
    # The core layer's flush() would delete keys other runs share; pub/sub's only closes.
    await (layer.close_pools() if kind == "core" else layer.flush())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


GONE_GROUP = f"test.gone.{uuid.uuid4().hex}"


def group() -> str:
    """A group name no other test run uses (the machine's Redis is shared)."""
    return f"test.{uuid.uuid4().hex}"


async def test_send_and_receive_through_redis(layer):
    channel = await layer.new_channel()

    await layer.send(channel, {"type": "test.message", "text": "over redis"})

    assert (await layer.receive(channel))["text"] == "over redis"


async def test_group_send_reaches_every_member(layer):
    name = group()
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add(name, channel)

    await layer.group_send(name, {"type": "test.message", "text": "to all"})

    for channel in channels:
        assert (await layer.receive(channel))["text"] == "to all"
    for channel in channels:
        await layer.group_discard(name, channel)


@pytest.mark.parametrize("kind", ["core"])  # pub/sub keeps its groups in the process
async def test_hundreds_leaving_at_once_leave_no_stale_members(layer, redis_url):
    """redis-py 8's default pool (raising at its ceiling) made group_discard fail here."""
    name = group()
    members = [f"{name}.member{i}" for i in range(300)]
    await asyncio.gather(*(layer.group_add(name, member) for member in members))

    await asyncio.gather(*(layer.group_discard(name, member) for member in members))

    connection = layer.connection(layer.consistent_hash(name))
    assert await connection.zcard(layer._group_key(name)) == 0


async def test_a_connection_redis_closed_is_retried_not_lost(redis_url, kind):
    """Redis closes the layer's pooled connections (as a restart does): the next group
    operations go through on fresh ones; before, the first failed and left its member.
    """
    name = f"test-{uuid.uuid4().hex[:12]}"
    config = redis_channel_layer(redis_url, kind)["CONFIG"]
    config["hosts"][0]["client_name"] = name
    layer_class = {"core": BoundedRedisChannelLayer, "pubsub": RedisPubSubChannelLayer}[kind]
    layer = layer_class(**config)
    observer = Redis.from_url(redis_url)
    room, channel = group(), await layer.new_channel()
    try:
        await layer.group_add(room, channel)
        for client in await observer.client_list():
            if client["name"] == name:
                await observer.client_kill_filter(_id=client["id"])

        for _ in range(3):
            await layer.group_discard(room, channel)
            await layer.group_add(room, channel)
        await layer.group_send(room, {"type": "test.message", "text": "after"})
        assert (await asyncio.wait_for(layer.receive(channel), timeout=5))["text"] == "after"
        await layer.group_discard(room, channel)
        if kind == "core":
            assert await observer.zcard(layer._group_key(room)) == 0
    finally:
        await (layer.close_pools() if kind == "core" else layer.flush())
        await observer.aclose()


@pytest.mark.parametrize(
    ("error", "calls"),
    [
        pytest.param(RedisConnectionError("closed"), 2, id="connection-error-retried"),
        pytest.param(RedisTimeoutError("slow"), 1, id="timeout-not-retried"),
    ],
)
async def test_only_commands_that_never_reached_redis_are_retried(error, calls):
    """A connection error means the command never ran: retried. A timeout may have run
    (a group_send would deliver twice): raised. Checked on a connection made as the
    layer's are (redis-py's Retry retries timeouts unless told otherwise).
    """
    host = redis_channel_layer("redis://127.0.0.1:6379/0")["CONFIG"]["hosts"][0]
    connection = Connection(retry=host["retry"], retry_on_error=host["retry_on_error"])
    attempts = 0

    async def command() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise error
        return "done"

    async def on_failure(failed: Exception) -> None:
        pass

    if calls == 1:
        with pytest.raises(type(error)):
            await connection.retry.call_with_retry(command, on_failure)
    else:
        assert await connection.retry.call_with_retry(command, on_failure) == "done"
    assert attempts == calls


def test_configuration_outlasts_the_blocking_receive():
    """The socket timeout must exceed BRPOP's block, or idle consumers are cut off."""
    host = redis_channel_layer("redis://127.0.0.1:6379/0")["CONFIG"]["hosts"][0]

    assert host["socket_timeout"] > RedisChannelLayer.brpop_timeout


async def test_a_burst_waits_for_the_pool_instead_of_opening_connections(redis_url):
    """The core layer's pool blocks at its ceiling: 500 concurrent commands, at most 5
    connections to Redis (counted by Redis itself), none of them failing.
    """
    name = f"test-{uuid.uuid4().hex[:12]}"
    config = redis_channel_layer(redis_url, "core")["CONFIG"]
    config["hosts"][0] |= {"max_connections": 5, "client_name": name}
    layer = BoundedRedisChannelLayer(**config)
    observer = Redis.from_url(redis_url)
    room = group()
    members = [f"{room}.member{i}" for i in range(500)]
    seen: list[int] = []

    async def count_connections() -> None:
        while True:
            clients = await observer.client_list()
            seen.append(sum(client["name"] == name for client in clients))
            await asyncio.sleep(0.005)

    counting = asyncio.ensure_future(count_connections())
    try:
        await asyncio.gather(*(layer.group_add(room, member) for member in members))
        await asyncio.gather(*(layer.group_discard(room, member) for member in members))
    finally:
        counting.cancel()
        await layer.close_pools()
        await observer.aclose()

    assert 0 < max(seen) <= 5


async def test_idle_receive_outlasts_redis_clients_default_timeout(redis_url):
    """An idle reader waits past redis-py 8's 5 s default socket timeout, then receives.
    Both layers wait at once: the wait is the test.
    """

    async def idle_then_receive(layer) -> str:
        channel = await layer.new_channel()
        receiving = asyncio.ensure_future(layer.receive(channel))
        await asyncio.sleep(RedisChannelLayer.brpop_timeout + 1.5)
        assert not receiving.done(), receiving.exception() if receiving.done() else None
        await layer.send(channel, {"type": "test.message", "text": "still listening"})
        return (await asyncio.wait_for(receiving, timeout=5))["text"]

    configs = [redis_channel_layer(redis_url, "core"), redis_channel_layer(redis_url, "pubsub")]
    core, pubsub = (import_string(c["BACKEND"])(**c["CONFIG"]) for c in configs)
    try:
        received = await asyncio.gather(idle_then_receive(core), idle_then_receive(pubsub))
    finally:
        await core.close_pools()
        await pubsub.flush()

    assert list(received) == ["still listening", "still listening"]


async def test_health_check_leaves_no_channel_behind(layer, kind):
    """The pub/sub layer subscribes per channel: a health check must unsubscribe."""
    await check_channel_layer()  # the layer's connections are open: count from here
    before = len(layer.channels) if kind == "pubsub" else len(layer.receive_buffer)

    for _ in range(3):
        await check_channel_layer()

    after = len(layer.channels) if kind == "pubsub" else len(layer.receive_buffer)
    assert after == before


@pytest.mark.django_db
def test_health_uses_the_redis_layer(client, redis_settings):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json()["checks"]["channel_layer"] == "ok"


@pytest.mark.django_db
def test_health_names_an_unreachable_redis(client, settings):
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(f"redis://127.0.0.1:{free_port()}/0")}

    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"].startswith("failed")


def test_production_requires_redis_url(monkeypatch):
    env = {
        "DJANGO_SECRET_KEY": "k" * 25 + "Qz9-_xY8wV7uT6sR5qP4oN3mL2kJ1h",
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
    }

    with pytest.raises(ImproperlyConfigured, match=r"REDIS_URL \(or REDIS_SENTINELS\) must be set"):
        load_settings("production", env, monkeypatch)


def test_local_settings_fall_back_to_memory_and_a_system_check_says_so(monkeypatch, settings):
    local = load_settings("local", {}, monkeypatch)
    settings.CHANNEL_LAYERS = local.CHANNEL_LAYERS

    (message,) = [m for m in run_checks() if m.id == "core.I001"]

    assert local.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert "REDIS_URL" in str(message.hint)
    assert message.level == INFO  # shown by runserver and `check`, failing neither


def test_the_channel_layer_check_is_silent_when_redis_is_configured(settings):
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer("redis://cache.internal:6379/1")}

    assert [m.id for m in run_checks() if str(m.id).startswith("core.")] == []


def test_settings_use_redis_when_redis_url_is_set(monkeypatch):
    local = load_settings("local", {"REDIS_URL": "redis://cache.internal:6379/1"}, monkeypatch)

    layer = local.CHANNEL_LAYERS["default"]
    assert layer["BACKEND"] == "config.redis.BoundedRedisChannelLayer"
    assert layer["CONFIG"]["hosts"][0]["address"] == "redis://cache.internal:6379/1"


@pytest.mark.parametrize("kind", list(BACKENDS))
def test_production_accepts_sentinels_instead_of_a_url(monkeypatch, kind):
    env = {
        "DJANGO_SECRET_KEY": "k" * 25 + "Qz9-_xY8wV7uT6sR5qP4oN3mL2kJ1h",
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        "REDIS_SENTINELS": "sentinel-1:26379, sentinel-2:26379,[::1]:26380",
        "REDIS_CHANNEL_LAYER": kind,
    }

    production = load_settings("production", env, monkeypatch)

    layer = production.CHANNEL_LAYERS["default"]
    assert layer["BACKEND"] == BACKENDS[kind]
    host = layer["CONFIG"]["hosts"][0]
    assert host["sentinels"] == [("sentinel-1", 26379), ("sentinel-2", 26379), ("::1", 26380)]
    assert host["master_name"] == "mymaster"
    assert host["socket_timeout"] > RedisChannelLayer.brpop_timeout


def test_the_sentinel_master_name_comes_from_the_environment(monkeypatch):
    env = {"REDIS_SENTINELS": "sentinel:26379", "REDIS_SENTINEL_MASTER": "chat"}

    local = load_settings("local", env, monkeypatch)

    assert local.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["master_name"] == "chat"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": "redis://a:6379/0", "REDIS_SENTINELS": "b:26379"}, "not both"),
        ({"REDIS_SENTINELS": "sentinel"}, "host:port, not 'sentinel'"),
        ({"REDIS_SENTINELS": "sentinel:http"}, "host:port"),
        ({"REDIS_SENTINELS": "sentinel:70000"}, "host:port"),
    ],
)
def test_bad_redis_settings_are_refused_with_the_reason(monkeypatch, env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings("local", env, monkeypatch)


def test_redis_channel_layer_selects_the_pubsub_layer(monkeypatch):
    env = {"REDIS_URL": "redis://cache.internal:6379/1", "REDIS_CHANNEL_LAYER": "pubsub"}
    local = load_settings("local", env, monkeypatch)

    layer = local.CHANNEL_LAYERS["default"]
    assert layer["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert layer["CONFIG"]["hosts"][0]["socket_timeout"] > RedisChannelLayer.brpop_timeout


def test_an_unknown_redis_channel_layer_is_refused(monkeypatch):
    env = {"REDIS_URL": "redis://cache.internal:6379/1", "REDIS_CHANNEL_LAYER": "kafka"}

    with pytest.raises(ImproperlyConfigured, match="REDIS_CHANNEL_LAYER must be one of core"):
        load_settings("local", env, monkeypatch)


async def test_a_cancelled_receive_ends_even_when_the_cancellation_was_swallowed(redis_url):
    """On Python 3.11, asyncio.wait_for (redis-py's writes) can swallow a cancellation; the
    stock layer's receive then polled Redis for ever and its socket's task never ended.
    """
    layer = BoundedRedisChannelLayer(**redis_channel_layer(redis_url, "core")["CONFIG"])
    channel = await layer.new_channel()

    async def receive_after_a_swallowed_cancellation() -> None:
        # What wait_for does when the awaited write completes as it is cancelled:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)
        await layer.receive(channel)

    receiving = asyncio.ensure_future(receive_after_a_swallowed_cancellation())
    await asyncio.sleep(0.1)
    receiving.cancel()
    try:
        done, _ = await asyncio.wait([receiving], timeout=3)
        assert done, "the receive went on after its task was cancelled"
        assert receiving.cancelled()
    finally:
        receiving.cancel()
        await layer.close_pools()


def test_the_group_expiry_is_the_projects(settings, redis_url):
    settings.WS_GROUP_EXPIRY_SECONDS = 42
    layer = BoundedRedisChannelLayer(**redis_channel_layer(redis_url, "core")["CONFIG"])

    assert layer.group_expiry == 42


async def test_refresh_groups_renews_members_and_drops_expired_ones(redis_url):
    config = redis_channel_layer(redis_url, "core")["CONFIG"]
    layer = BoundedRedisChannelLayer(**config, group_expiry=60)
    room, live, dead = group(), await layer.new_channel(), await layer.new_channel()
    connection = layer.connection(layer.consistent_hash(room))
    key = layer._group_key(room)
    try:
        # A member of a killed process, last renewed 61 s ago, and a live one.
        await connection.zadd(key, {dead: time.time() - 61, live: time.time() - 50})

        await layer.refresh_groups([(room, live)])

        members = await connection.zrange(key, 0, -1, withscores=True)
        assert [member.decode() for member, _ in members] == [live]
        assert members[0][1] > time.time() - 5
        assert 0 < await connection.ttl(key) <= 60
    finally:
        await connection.delete(key)
        await layer.close_pools()


async def test_a_burst_to_one_room_drops_nothing_for_another_room(redis_url):
    """All of a process's sockets share one Redis list: with channels-redis' default
    capacity (100) a burst to room A made the members of room B miss messages.
    """
    layer = BoundedRedisChannelLayer(**redis_channel_layer(redis_url, "core")["CONFIG"])
    room_a, room_b = group(), group()
    busy, quiet = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(room_a, busy)
    await layer.group_add(room_b, quiet)
    try:
        for index in range(2000):  # nobody reads room A meanwhile
            await layer.group_send(room_a, {"type": "test.message", "text": str(index)})
        await layer.group_send(room_b, {"type": "test.message", "text": "for room B"})

        assert (await asyncio.wait_for(layer.receive(quiet), timeout=10))["text"] == "for room B"
    finally:
        for room, channel in ((room_a, busy), (room_b, quiet)):
            await layer.group_discard(room, channel)
        await layer.close_pools()  # room A's messages expire with the layer's expiry (60 s)


async def test_a_message_a_full_channel_misses_is_a_warning_naming_the_group(redis_url, caplog):
    config = redis_channel_layer(redis_url, "core")["CONFIG"]
    config["channel_capacity"] = {"specific.*": 1}
    layer = BoundedRedisChannelLayer(**config)
    dropped_before = DroppedMessages.total
    room, channel = group(), await layer.new_channel()
    await layer.group_add(room, channel)
    try:
        for _ in range(2):
            await layer.group_send(room, {"type": "test.message", "text": "hi"})
    finally:
        await layer.group_discard(room, channel)
        await layer.close_pools()

    [record] = [r for r in caplog.records if r.name == "channels_redis.core"]
    assert record.levelname == "WARNING"
    assert room in record.getMessage()
    assert DroppedMessages.total == dropped_before + 1


async def test_a_message_a_slow_socket_misses_is_a_warning_and_counted(caplog):
    queue = ChannelQueues(capacity=2)["specific.test!slow"]
    dropped_before = DroppedMessages.total
    for number in range(12):
        queue.put_nowait({"n": number})

    assert [queue.get_nowait()["n"] for _ in range(2)] == [10, 11]  # the newest kept
    assert DroppedMessages.total == dropped_before + 10
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [  # the 1st and the 10th drop, not every one
        "Dropped 1 messages for specific.test!slow: it reads slower than they come",
        "Dropped 10 messages for specific.test!slow: it reads slower than they come",
    ]


async def test_messages_for_a_gone_consumer_are_not_kept(redis_url):
    """A socket that ended with messages on their way to it: another consumer of the
    process pops them from the process's Redis list, and channels-redis used to keep them
    in a new queue for ever (a leak per socket in a busy room).
    """
    layer = BoundedRedisChannelLayer(**redis_channel_layer(redis_url, "core")["CONFIG"])
    gone, live = await layer.new_channel(), await layer.new_channel()
    try:
        receiving = asyncio.ensure_future(layer.receive(gone))
        await asyncio.sleep(0.1)
        receiving.cancel()  # as Channels does when a consumer stops
        with contextlib.suppress(asyncio.CancelledError):
            await receiving

        await layer.send(gone, {"type": "test.message", "text": "too late"})
        await layer.send(live, {"type": "test.message", "text": "for the living"})
        received = await asyncio.wait_for(layer.receive(live), timeout=5)

        assert received["text"] == "for the living"
        assert gone not in layer.receive_buffer
    finally:
        await layer.close_pools()


@pytest.mark.parametrize("kind", ["core"])  # pub/sub keeps no receive buffers
async def test_a_consumer_ended_by_an_error_leaves_no_channel_open(redis_settings, kind):
    """A send to a client already gone ends a consumer by an exception, after which
    Channels cancels no receive: SocketConsumer tells the layer the channel is closed.
    """
    layer = get_channel_layer()

    class Member(SkipDatabaseCleanupMixin, SocketConsumer):
        async def connect(self) -> None:
            await self.join(GONE_GROUP)
            await self.accept()

        async def gone_message(self, event: dict) -> None:
            await self.send(text_data="to nobody")

    incoming: asyncio.Queue = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    accepted = asyncio.Event()

    async def send(message: dict) -> None:
        if message["type"] == "websocket.accept":
            accepted.set()
            return
        raise ClientDisconnected

    scope = {"type": "websocket", "path": "/ws/gone/", "headers": [], "subprotocols": []}
    consumer = asyncio.ensure_future(Member.as_asgi()(scope, incoming.get, send))
    await asyncio.wait_for(accepted.wait(), timeout=5)
    await layer.group_send(GONE_GROUP, {"type": "gone.message"})
    await asyncio.wait_for(consumer, timeout=5)

    assert layer.receive_buffer.live == set()
