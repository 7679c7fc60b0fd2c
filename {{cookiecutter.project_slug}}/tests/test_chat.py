"""The chat protocol through the real ASGI stack (origin check, router, consumer)."""

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from {{ cookiecutter.project_slug }}.chat.consumers import ChatConsumer
from {{ cookiecutter.project_slug }}.chat.protocol import CloseCode

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_closed_with(communicator: WebsocketCommunicator, code: int) -> None:
    output = await communicator.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": code}
    assert type(output["code"]) is int  # daphne refuses an IntEnum member


@pytest.fixture
def join(connect):
    """Open a websocket to a room and insist that it was accepted."""

    async def _join(room: str = "lobby") -> WebsocketCommunicator:
        communicator, connected = await connect(f"/ws/chat/{room}/")
        assert connected
        return communicator

    return _join


async def test_message_reaches_every_member_of_the_room(join):
    alice, bob = await join(), await join()

    await alice.send_json_to({"type": "chat.message", "message": "hello"})

    for member in (alice, bob):
        event = await member.receive_json_from(timeout=2)
        assert event["type"] == "chat.message"
        assert event["message"] == "hello"
        assert event["room"] == "lobby"
        assert isinstance(event["user"], str)
        assert event["user"]


async def test_message_stays_in_its_room(join):
    lobby, other = await join("lobby"), await join("other-room")

    await lobby.send_json_to({"type": "chat.message", "message": "only for the lobby"})

    assert (await lobby.receive_json_from(timeout=2))["message"] == "only for the lobby"
    assert await other.receive_nothing(timeout=0.2)


async def test_ping_gets_a_pong_for_the_sender_only(join):
    alice, bob = await join(), await join()

    await alice.send_json_to({"type": "ping"})

    assert await alice.receive_json_from(timeout=2) == {"type": "pong"}
    assert await bob.receive_nothing(timeout=0.2)


async def test_unicode_survives_the_round_trip(join):
    alice = await join()

    await alice.send_json_to({"type": "chat.message", "message": "héllo 👋 <b>&amp;</b>"})

    assert (await alice.receive_json_from(timeout=2))["message"] == "héllo 👋 <b>&amp;</b>"


@pytest.mark.parametrize(
    "room",
    [
        pytest.param("a" * 65, id="too-long"),
        pytest.param("caf%C3%A9", id="non-ascii"),
        pytest.param("a.b", id="dot"),
        pytest.param("a%20b", id="space"),
    ],
)
async def test_invalid_room_names_are_refused_at_the_handshake(connect, room):
    _, connected = await connect(f"/ws/chat/{room}/")

    assert not connected


async def test_longest_room_name_is_accepted(join):
    await join("a" * 64)


def chat_frame(text: str) -> str:
    """A chat.message frame as a client would send it (JSON escapes for non-ASCII)."""
    return json.dumps({"type": "chat.message", "message": text})


BAD_FRAMES = [
    pytest.param("{not json", "invalid_json", id="malformed-json"),
    pytest.param("[1, 2]", "not_an_object", id="array"),
    pytest.param('"just a string"', "not_an_object", id="string"),
    pytest.param("null", "not_an_object", id="null"),
    pytest.param("", "empty_frame", id="empty-text"),
    pytest.param(b"\x00\x01", "binary_frame", id="binary"),
    pytest.param(b"", "binary_frame", id="empty-binary"),
    pytest.param("[" * 100_000 + "]" * 100_000, "frame_too_large", id="huge-nesting"),
    # Under the frame limit, deeper than CPython's JSON parser goes (3.13 parses 8,000).
    pytest.param("[" * 12_000 + "]" * 12_000, "invalid_json", id="deep-nesting"),
    pytest.param('{"type": "ping", "n": ' + "9" * 5_000 + "}", "invalid_json", id="huge-int"),
    pytest.param('{"type": "shout"}', "unknown_type", id="unknown-type"),
    pytest.param('{"type": "websocket.disconnect"}', "unknown_type", id="internal-type"),
    pytest.param('{"type": "chat_message"}', "unknown_type", id="handler-name"),
    pytest.param('{"type": ["ping"]}', "unknown_type", id="unhashable-type"),
    pytest.param('{"message": "hi"}', "unknown_type", id="missing-type"),
    pytest.param('{"type": "chat.message"}', "invalid_message", id="missing-message"),
    pytest.param('{"type": "chat.message", "message": 42}', "invalid_message", id="number"),
    pytest.param('{"type": "chat.message", "message": "  "}', "invalid_message", id="blank"),
    # Valid JSON, not text a room may see (the rules: tests/test_protocol.py).
    pytest.param(chat_frame("\ud800"), "invalid_message", id="lone-surrogate"),
    pytest.param(chat_frame("a\x00b"), "invalid_message", id="nul"),
    pytest.param(chat_frame("\u200b"), "invalid_message", id="zero-width"),
    pytest.param(chat_frame("\u202eevil"), "invalid_message", id="bidi-left-open"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
async def test_bad_input_gets_an_error_event_and_the_socket_stays_open(join, frame, code):
    alice = await join()

    key = "bytes" if isinstance(frame, bytes) else "text"
    await alice.send_input({"type": "websocket.receive", key: frame})  # send_to() refuses empties

    error = await alice.receive_json_from(timeout=2)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["detail"]
    await alice.send_json_to({"type": "ping"})
    assert await alice.receive_json_from(timeout=2) == {"type": "pong"}


async def test_too_long_message_is_refused(join, settings):
    settings.WS_MAX_MESSAGE_CHARS = 10
    alice = await join()

    await alice.send_json_to({"type": "chat.message", "message": "x" * 11})

    assert (await alice.receive_json_from(timeout=2))["code"] == "message_too_long"


async def test_message_at_the_length_limit_is_delivered(join, settings):
    settings.WS_MAX_MESSAGE_CHARS = 10
    alice = await join()

    await alice.send_json_to({"type": "chat.message", "message": "x" * 10})

    assert (await alice.receive_json_from(timeout=2))["message"] == "x" * 10


async def test_repeated_bad_input_closes_with_4400(join, settings):
    settings.WS_MAX_BAD_MESSAGES = 3
    alice, bob = await join(), await join()

    for _ in range(3):
        await alice.send_to(text_data="{not json")
        assert (await alice.receive_json_from(timeout=2))["code"] == "invalid_json"

    await assert_closed_with(alice, CloseCode.TOO_MANY_BAD_MESSAGES)
    await bob.send_json_to({"type": "ping"})
    assert await bob.receive_json_from(timeout=2) == {"type": "pong"}


async def test_flood_is_rate_limited_with_4429_and_others_are_unaffected(
    join, connect, other_user, settings
):
    settings.WS_RATE_PER_SECOND = 1
    settings.WS_RATE_BURST = 5
    flooder = await join()
    bystander, accepted = await connect("/ws/chat/lobby/", **other_user)
    assert accepted

    for _ in range(6):
        await flooder.send_json_to({"type": "ping"})
    for _ in range(5):
        assert await flooder.receive_json_from(timeout=2) == {"type": "pong"}
    error = await flooder.receive_json_from(timeout=2)

    assert error["code"] == "rate_limited"
    await assert_closed_with(flooder, CloseCode.RATE_LIMITED)
    await bystander.send_json_to({"type": "chat.message", "message": "still here"})
    assert (await bystander.receive_json_from(timeout=2))["message"] == "still here"


async def test_rate_limit_refills_over_time(join, settings):
    settings.WS_RATE_PER_SECOND = 20
    settings.WS_RATE_BURST = 2
    alice = await join()

    for _ in range(4):
        await alice.send_json_to({"type": "ping"})
        assert await alice.receive_json_from(timeout=2) == {"type": "pong"}
        await asyncio.sleep(0.1)


async def test_zero_rate_turns_the_limit_off(join, settings):
    settings.WS_RATE_PER_SECOND = 0
    settings.WS_RATE_BURST = 1
    alice = await join()

    for _ in range(50):
        await alice.send_json_to({"type": "ping"})
    for _ in range(50):
        assert await alice.receive_json_from(timeout=2) == {"type": "pong"}


async def test_the_rate_limit_is_shared_by_a_users_sockets(join, settings):
    settings.WS_RATE_PER_SECOND = 0.1
    settings.WS_RATE_BURST = 4
    first, second = await join(), await join()

    for socket in (first, first, second, second):
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from(timeout=2) == {"type": "pong"}
    await second.send_json_to({"type": "ping"})

    assert (await second.receive_json_from(timeout=2))["code"] == "rate_limited"
    await assert_closed_with(second, CloseCode.RATE_LIMITED)


async def test_reconnecting_does_not_refill_the_bucket(join, settings):
    settings.WS_RATE_PER_SECOND = 0.1
    settings.WS_RATE_BURST = 3
    first = await join()
    for _ in range(3):
        await first.send_json_to({"type": "ping"})
        assert await first.receive_json_from(timeout=2) == {"type": "pong"}
    await first.disconnect()

    again = await join()
    await again.send_json_to({"type": "ping"})

    assert (await again.receive_json_from(timeout=2))["code"] == "rate_limited"


async def test_a_user_holds_at_most_ws_max_connections_per_user_sockets(
    join, connect, other_user, settings
):
    settings.WS_MAX_CONNECTIONS_PER_USER = 3
    held = [await join() for _ in range(3)]

    fourth, accepted = await connect("/ws/chat/lobby/")
    assert accepted  # accepted, then closed: a browser sees the code, not a bare 1006
    await assert_closed_with(fourth, CloseCode.RATE_LIMITED)
    _, others_accepted = await connect("/ws/chat/lobby/", **other_user)
    assert others_accepted

    await held[0].disconnect()
    replacement = await join()
    await replacement.send_json_to({"type": "ping"})
    assert await replacement.receive_json_from(timeout=2) == {"type": "pong"}


async def test_a_refused_socket_does_not_count(join, connect, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 1
    held = await join()
    for _ in range(3):
        refused, _ = await connect("/ws/chat/lobby/")
        await assert_closed_with(refused, CloseCode.RATE_LIMITED)
        await refused.disconnect()
    await held.disconnect()

    await join()  # had a refusal counted, this one would be refused too


async def test_zero_turns_the_socket_limit_off(join, settings):
    settings.WS_MAX_CONNECTIONS_PER_USER = 0

    sockets = [await join() for _ in range(25)]

    await sockets[-1].send_json_to({"type": "ping"})
    assert await sockets[-1].receive_json_from(timeout=2) == {"type": "pong"}


async def test_messages_skip_channels_per_message_database_hop(join, monkeypatch):
    """ChatConsumer (SkipDatabaseCleanupMixin) leaves out Channels' per-message database hop."""
    calls = []

    async def counting() -> None:
        calls.append(1)

    monkeypatch.setattr("channels.consumer.aclose_old_connections", counting)
    alice = await join()

    for _ in range(3):
        await alice.send_json_to({"type": "ping"})
        assert await alice.receive_json_from(timeout=2) == {"type": "pong"}

    assert calls == []


async def test_handlers_reach_the_database_through_database_sync_to_async(join, monkeypatch):
    """Without the dispatch hop, database_sync_to_async still gives every call a usable
    connection, message after message, as in a handler a team adds.
    """

    async def handle_ping(self, payload: dict) -> None:
        count = await database_sync_to_async(get_user_model().objects.count)()
        await self.send(text_data=json.dumps({"type": "pong", "users": count}))

    monkeypatch.setattr(ChatConsumer, "handle_ping", handle_ping)
    alice = await join()
    expected = await database_sync_to_async(get_user_model().objects.count)()

    for _ in range(3):
        await alice.send_json_to({"type": "ping"})
        assert await alice.receive_json_from(timeout=2) == {"type": "pong", "users": expected}


async def test_leaving_removes_the_member_from_the_group(join):
    alice = await join("leavers")
    layer = get_channel_layer()
    assert len(layer.groups["chat.leavers"]) == 1

    await alice.disconnect()

    assert "chat.leavers" not in layer.groups or not layer.groups["chat.leavers"]


async def test_a_lone_surrogate_closes_nobody(join):
    """Valid JSON that is not valid Unicode: the sender gets an error, the room carries on."""
    alice, bob = await join("surrogates"), await join("surrogates")

    await alice.send_to(text_data=chat_frame("\ud800"))

    assert (await alice.receive_json_from(timeout=2))["code"] == "invalid_message"
    assert await bob.receive_nothing(timeout=0.2)
    for member in (alice, bob):
        await member.send_json_to({"type": "ping"})
        assert await member.receive_json_from(timeout=2) == {"type": "pong"}


async def test_text_with_newlines_and_closed_bidi_is_delivered_unchanged(join):
    alice = await join()
    text = "first line\n\u202eevil\u202c\t\u05e9\u05dc\u05d5\u05dd"

    await alice.send_json_to({"type": "chat.message", "message": text})

    assert (await alice.receive_json_from(timeout=2))["message"] == text


async def test_a_delivery_failure_is_the_senders_error_event(join, monkeypatch, settings):
    """The layer fails to send (Redis away, an encoding error): the sender is told, its
    socket stays open, and it is not counted as the client's bad message.
    """
    settings.WS_MAX_BAD_MESSAGES = 2
    alice = await join()

    async def failing_group_send(group: str, message: dict) -> None:
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(get_channel_layer(), "group_send", failing_group_send)
    for _ in range(3):
        await alice.send_json_to({"type": "chat.message", "message": "lost"})
        assert (await alice.receive_json_from(timeout=2))["code"] == "delivery_failed"

    await alice.send_json_to({"type": "ping"})
    assert await alice.receive_json_from(timeout=2) == {"type": "pong"}


async def test_a_bad_event_from_server_code_is_dropped_not_fatal(join):
    """An event no client could have sent (server code bypassing broadcast()) reaches the
    members as nothing at all, and closes none of them.
    """
    alice = await join("dropped")

    event = {"type": "chat.message", "message": "\ud800", "user": "server"}
    await get_channel_layer().group_send("chat.dropped", event)

    assert await alice.receive_nothing(timeout=0.2)
    await alice.send_json_to({"type": "ping"})
    assert await alice.receive_json_from(timeout=2) == {"type": "pong"}
