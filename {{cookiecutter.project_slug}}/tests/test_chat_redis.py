"""The chat over the real Redis at REDIS_URL, on both Redis layers, including a push from
another process.
"""

import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from config.redis import BACKENDS, redis_channel_layer

from .support import manage, require_service

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def redis_url() -> str:
    return require_service("REDIS_URL")


@pytest.fixture(params=list(BACKENDS))
def kind(request) -> str:
    """Each test runs on both layers REDIS_CHANNEL_LAYER offers."""
    return request.param


@pytest.fixture
async def redis_layer(settings, redis_url, kind):
    """The production channel-layer configuration on the real Redis, closed after the test."""
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(redis_url, kind)}
    yield
    layer = get_channel_layer()
    # The core layer's flush() would delete keys other runs share; pub/sub's only closes.
    await (layer.close_pools() if kind == "core" else layer.flush())


@pytest.fixture
async def join(redis_layer, connect):
    async def _join(room: str):
        communicator, connected = await connect(f"/ws/chat/{room}/")
        assert connected
        return communicator

    return _join


def unique_room() -> str:
    """Rooms are groups in a Redis other test runs share: never reuse a name."""
    return f"room-{uuid.uuid4().hex[:12]}"


async def test_chat_message_crosses_redis(join):
    room = unique_room()
    alice, bob = await join(room), await join(room)

    await alice.send_json_to({"type": "chat.message", "message": "via redis"})

    for member in (alice, bob):
        assert (await member.receive_json_from(timeout=3))["message"] == "via redis"


async def test_broadcast_command_in_another_process_reaches_the_room(join, redis_url, kind):
    room = unique_room()
    alice = await join(room)
    settings = "config.settings.local"
    env = {"REDIS_URL": redis_url, "REDIS_CHANNEL_LAYER": kind}

    result = await sync_to_async(manage)(
        "broadcast", room, "from another process", settings=settings, env=env
    )

    assert result.returncode == 0, result.stderr
    event = await alice.receive_json_from(timeout=5)
    assert event == {
        "type": "chat.message",
        "message": "from another process",
        "user": "server",
        "room": room,
    }
