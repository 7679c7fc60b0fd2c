"""SkipDatabaseCleanupMixin: messages skip Channels' per-message database hop, and
database_sync_to_async still hands every call a usable connection.
"""

import pytest
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from {{ cookiecutter.project_slug }}.core.websocket import SkipDatabaseCleanupMixin

pytestmark = pytest.mark.django_db(transaction=True)


class CountUsers(SkipDatabaseCleanupMixin, AsyncJsonWebsocketConsumer):
    """Answers every message with the number of users: database work, the allowed way."""

    async def receive_json(self, content: object, **kwargs: object) -> None:
        count = await database_sync_to_async(get_user_model().objects.count)()
        await self.send_json({"users": count})


@pytest.fixture
async def counter():
    communicator = WebsocketCommunicator(CountUsers.as_asgi(), "/ws/count/")
    connected, _ = await communicator.connect()
    assert connected
    yield communicator
    await communicator.disconnect()


async def test_messages_skip_the_per_message_database_hop(counter, monkeypatch):
    calls = []

    async def counting() -> None:
        calls.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counting)

    for _ in range(3):
        await counter.send_json_to({})
        assert "users" in await counter.receive_json_from(timeout=2)

    assert calls == []


async def test_database_work_succeeds_message_after_message(counter):
    expected = await database_sync_to_async(get_user_model().objects.count)()

    for _ in range(3):
        await counter.send_json_to({})
        assert await counter.receive_json_from(timeout=2) == {"users": expected}


async def test_database_sync_to_async_cleans_up_around_each_call(monkeypatch):
    """The clean-up the mixin skips runs in database_sync_to_async, before and after each
    call, in the thread that uses the connection. (Checked directly: Channels' test
    communicator turns this clean-up off while it runs an application.)
    """
    calls = []
    monkeypatch.setattr("channels.db.close_old_connections", lambda: calls.append(1))

    await database_sync_to_async(get_user_model().objects.count)()

    assert len(calls) == 2
