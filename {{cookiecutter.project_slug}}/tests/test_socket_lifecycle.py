"""SocketConsumer: disconnect() runs once and every group is left however a socket ends,
and GroupRenewal keeps live members in their groups under a short group expiry.
"""

import asyncio
import types
from typing import Any

import pytest
from autobahn.exception import Disconnected
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from uvicorn.protocols.utils import ClientDisconnected

from {{ cookiecutter.project_slug }}.core.websocket import (
    ABNORMAL_CLOSURE,
    GroupRenewal,
    SkipDatabaseCleanupMixin,
    SocketConsumer,
)

# Channels closes stale database connections as a socket ends, which touches the database.
pytestmark = pytest.mark.django_db(transaction=True)

GROUP = "lifecycle"


class Member(SkipDatabaseCleanupMixin, SocketConsumer):
    """Joins GROUP, forwards its messages, and records each disconnect() call. (No database
    work: the mixin spares it Channels' per-message database clean-up.)
    """

    ended: list[int]

    async def connect(self) -> None:
        await self.join(GROUP)
        await self.join(f"{GROUP}.second")
        await self.accept()

    async def disconnect(self, code: int) -> None:
        type(self).ended.append(code)

    async def lifecycle_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])

    async def websocket_close_now(self, event: dict[str, Any]) -> None:
        await self.close(code=4400)


@pytest.fixture
def member_class() -> type[Member]:
    return type("RecordingMember", (Member,), {"ended": []})


def members(group: str = GROUP) -> set[str]:
    return set(get_channel_layer().groups.get(group, {}))


class PeerGone:
    """An ASGI server's side of a socket whose peer leaves after the handshake: receive()
    waits for ever, send() raises as the server does (uvicorn's error, or daphne's).
    """

    def __init__(self, gone: type[Exception] = ClientDisconnected) -> None:
        self.gone = gone
        self.accepted = asyncio.Event()
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.incoming.put_nowait({"type": "websocket.connect"})

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.accept":
            self.accepted.set()
            return
        raise self.gone("client disconnected")

    def start(self, app: Any) -> asyncio.Task[None]:
        scope = {"type": "websocket", "path": "/ws/lifecycle/", "headers": [], "subprotocols": []}
        return asyncio.ensure_future(app(scope, self.receive, self.send))


async def test_a_close_frame_runs_disconnect_once_and_leaves_every_group(member_class):
    communicator = WebsocketCommunicator(member_class.as_asgi(), "/ws/lifecycle/")
    assert (await communicator.connect())[0]
    assert len(members()) == 1

    await communicator.disconnect(code=1000)

    assert member_class.ended == [1000]
    assert members() == set()
    assert members(f"{GROUP}.second") == set()


@pytest.mark.parametrize("gone", [ClientDisconnected, Disconnected], ids=["uvicorn", "daphne"])
async def test_a_send_to_a_peer_already_gone_ends_the_consumer_cleanly(member_class, gone):
    """Before SocketConsumer, the send's error ended the consumer with disconnect() never
    called and the socket left in its groups (and daphne logged a traceback).
    """
    peer = PeerGone(gone)
    task = peer.start(member_class.as_asgi())
    await asyncio.wait_for(peer.accepted.wait(), timeout=5)

    await get_channel_layer().group_send(GROUP, {"type": "lifecycle.message", "text": "hi"})
    await asyncio.wait_for(task, timeout=5)

    assert member_class.ended == [ABNORMAL_CLOSURE]
    assert members() == set()
    assert members(f"{GROUP}.second") == set()


async def test_a_cancelled_consumer_runs_disconnect_and_leaves(member_class):
    """A stopping server cancels what is left of its sockets' tasks."""
    peer = PeerGone()
    task = peer.start(member_class.as_asgi())
    await asyncio.wait_for(peer.accepted.wait(), timeout=5)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)

    assert member_class.ended == [ABNORMAL_CLOSURE]
    assert members() == set()


async def test_a_consumer_whose_connect_fails_still_cleans_up(member_class):
    class FailsAfterJoining(member_class):  # type: ignore[valid-type,misc]
        async def connect(self) -> None:
            await self.join(GROUP)
            raise RuntimeError("boom")

    peer = PeerGone()
    task = peer.start(FailsAfterJoining.as_asgi())
    with pytest.raises(RuntimeError):
        await asyncio.wait_for(task, timeout=5)

    assert member_class.ended == [ABNORMAL_CLOSURE]
    assert members() == set()


class StrictServer(PeerGone):
    """A server that, as uvicorn does, raises on anything sent after websocket.close."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        if self.sent and self.sent[-1]["type"] == "websocket.close":
            raise RuntimeError(f"{message['type']} after websocket.close")
        self.sent.append(message)
        if message["type"] == "websocket.accept":
            self.accepted.set()


async def test_group_messages_after_the_server_closed_the_socket_are_dropped(member_class):
    """The chat closes a socket (4400, 4429) while room messages keep arriving for it:
    they used to reach the server after the close frame, which uvicorn raises on.
    """
    server = StrictServer()
    task = server.start(member_class.as_asgi())
    await asyncio.wait_for(server.accepted.wait(), timeout=5)
    layer = get_channel_layer()
    await layer.group_send(GROUP, {"type": "lifecycle.message", "text": "before"})
    await asyncio.sleep(0.05)
    [channel] = members()
    await layer.send(channel, {"type": "websocket.close_now"})  # the server closes it
    await asyncio.sleep(0.05)
    await layer.group_send(GROUP, {"type": "lifecycle.message", "text": "after"})
    await server.incoming.put({"type": "websocket.disconnect", "code": 4400})
    await asyncio.wait_for(task, timeout=5)

    assert [m["type"] for m in server.sent] == [
        "websocket.accept",
        "websocket.send",
        "websocket.close",
    ]
    assert member_class.ended == [4400]


class Clock:
    """Stands in for the time module of Channels' in-memory layer."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


async def test_renewal_keeps_live_members_and_lets_dead_ones_expire(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("channels.layers.time", types.SimpleNamespace(time=clock.time))
    layer = InMemoryChannelLayer(group_expiry=60)
    renewal = GroupRenewal()
    live, dead = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("room", live)
    await layer.group_add("room", dead)  # a member of a process that was killed
    renewal.members[layer] = {live: ["room"]}

    for _ in range(4):  # 80 s: past the expiry
        clock.now += 20
        await renewal.renew()
    await layer.group_send("room", {"type": "test"})  # the layer drops expired members here

    assert set(layer.groups["room"]) == {live}
    renewal.members.clear()


async def test_renewal_runs_by_itself_a_third_of_the_expiry_apart(settings):
    settings.WS_GROUP_EXPIRY_SECONDS = 0.3
    added: list[tuple[str, str]] = []

    class Layer:
        async def group_add(self, group: str, channel: str) -> None:
            added.append((group, channel))

        async def group_discard(self, group: str, channel: str) -> None:
            """Nothing to discard in this test."""

    renewal, layer = GroupRenewal(), Layer()
    renewal.add(layer, "room", "a-channel")
    async with asyncio.timeout(5):  # every 0.1 s: three renewals well within this
        while len(added) < 3:  # noqa: ASYNC110 (the renewals are what is awaited)
            await asyncio.sleep(0.05)
    assert set(added) == {("room", "a-channel")}

    renewal.discard(layer, "room", "a-channel")
    await asyncio.sleep(0.15)
    assert renewal.members == {}
