"""The chat protocol over a real socket: a baked project with the chat, under daphne or
uvicorn (E2E_SERVERS).
"""

import asyncio
import contextlib
import json
import time
import uuid

import pytest
import websockets

from harness.client import (
    connect,
    drain,
    health,
    receive_json,
    refused_status,
    send_json,
    ws_headers,
)
from harness.served import OTHER_USERNAME, USERNAME, login
from harness.servers import Uvicorn, wait_until
from harness.variants import CHAT_VARIANTS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=CHAT_VARIANTS)
def e2e_name(request) -> str:
    return request.param


def room() -> str:
    return f"e2e-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("name", ["a" * 65, "bad.name", "caf%C3%A9", "white%20space"])
def test_invalid_room_names_are_refused_with_403(server, served, headers, name):
    assert asyncio.run(refused_status(server, f"/ws/chat/{name}/", headers)) == 403


def test_broadcast_reaches_the_room_and_only_the_room(server, served, headers):
    async def scenario():
        here, there = room(), room()
        async with (
            await connect(server, f"/ws/chat/{here}/", headers) as alice,
            await connect(server, f"/ws/chat/{here}/", headers) as bob,
            await connect(server, f"/ws/chat/{there}/", headers) as carol,
        ):
            await send_json(alice, {"type": "chat.message", "message": "hello room"})
            for member in (alice, bob):
                event = await receive_json(member)
                assert event["type"] == "chat.message"
                assert event["message"] == "hello room"
                assert event["room"] == here
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(carol.recv(), 0.5)

    asyncio.run(scenario())


def chat_frame(text: str) -> str:
    """A chat.message frame as a client sends it (non-ASCII as JSON escapes)."""
    return json.dumps({"type": "chat.message", "message": text})


BAD_FRAMES = [
    pytest.param("{not json", "invalid_json", id="malformed-json"),
    pytest.param("[1, 2]", "not_an_object", id="array"),
    pytest.param('"text"', "not_an_object", id="string"),
    pytest.param("", "empty_frame", id="empty-text"),
    pytest.param(b"\x00\xff", "binary_frame", id="binary"),
    pytest.param(b"", "binary_frame", id="empty-binary"),
    pytest.param("[" * 20_000 + "]" * 20_000, "frame_too_large", id="huge-nesting"),
    pytest.param("[" * 12_000 + "]" * 12_000, "invalid_json", id="deep-nesting"),
    pytest.param('{"type": "ping", "n": ' + "9" * 5_000 + "}", "invalid_json", id="huge-number"),
    pytest.param('{"type": "shout"}', "unknown_type", id="unknown-type"),
    pytest.param('{"type": "websocket.disconnect"}', "unknown_type", id="internal-type"),
    pytest.param('{"type": "chat_message", "message": "x"}', "unknown_type", id="handler-name"),
    pytest.param('{"type": "chat.message"}', "invalid_message", id="missing-message"),
    pytest.param('{"type": "chat.message", "message": ["x"]}', "invalid_message", id="non-string"),
    pytest.param(
        '{"type": "chat.message", "message": "' + "x" * 2001 + '"}',
        "message_too_long",
        id="oversized-message",
    ),
    # Valid JSON whose text is not text: a lone surrogate once closed a whole room.
    pytest.param(chat_frame("\ud800"), "invalid_message", id="lone-surrogate"),
    pytest.param(chat_frame("a\x00b"), "invalid_message", id="nul"),
    pytest.param(chat_frame("\u200b\u200d"), "invalid_message", id="zero-width-only"),
    pytest.param(chat_frame("\u202eevil"), "invalid_message", id="bidi-override-left-open"),
]


@pytest.mark.parametrize(("frame", "code"), BAD_FRAMES)
def test_bad_frames_get_an_error_event_and_the_socket_stays_open(
    server, served, headers, frame, code
):
    if code == "frame_too_large" and isinstance(server, Uvicorn):
        # The production command refuses a frame no valid message fits in before the
        # consumer sees it (config/serve.py): 1009, message too big. daphne lets it through.
        async def refused() -> int | None:
            async with await connect(server, f"/ws/chat/{room()}/", headers) as socket:
                await socket.send(frame)
                return (await drain(socket, limit=1))[1]

        assert asyncio.run(refused()) == 1009
        return

    async def scenario():
        async with await connect(server, f"/ws/chat/{room()}/", headers) as socket:
            await socket.send(frame)
            error = await receive_json(socket)
            assert error["type"] == "error"
            assert error["code"] == code
            await send_json(socket, {"type": "ping"})
            assert await receive_json(socket) == {"type": "pong"}

    asyncio.run(scenario())


def test_a_lone_surrogate_closes_no_member_of_the_room(server, served, headers):
    """The attack that closed every member (in-memory layer) or the sender and left a
    stale group member (Redis): now the sender's error event, and the room chats on.
    """

    async def scenario():
        name = room()
        async with (
            await connect(server, f"/ws/chat/{name}/", headers) as sender,
            await connect(server, f"/ws/chat/{name}/", headers) as member,
        ):
            await sender.send(chat_frame("\ud800"))
            assert (await receive_json(sender))["code"] == "invalid_message"
            await send_json(member, {"type": "chat.message", "message": "still here"})
            for socket in (member, sender):
                assert (await receive_json(socket))["message"] == "still here"

    asyncio.run(scenario())


def test_repeated_bad_input_is_closed_with_4400(server, served, headers):
    async def scenario():
        async with await connect(server, f"/ws/chat/{room()}/", headers) as socket:
            for _ in range(10):
                await socket.send("{not json")
            events, code = await drain(socket, limit=11)
            assert [event["code"] for event in events] == ["invalid_json"] * 10
            assert code == 4400

    asyncio.run(scenario())


# The project's defaults, which the servers shared by the other tests lift (harness.served).
DEFAULT_LIMITS = {
    "WS_RATE_PER_SECOND": "10",
    "WS_RATE_BURST": "20",
    "WS_MAX_CONNECTIONS_PER_USER": "20",
}


@pytest.fixture
def limited(served):
    """A server of the variant with the project's default per-user limits."""
    with served.new_server(**DEFAULT_LIMITS) as running:
        yield running


def two_users(served, server) -> list[tuple[dict[str, str], str | None]]:
    """Handshake headers and source address of two users: two accounts, or two guests
    on two loopback addresses.
    """
    if served.auth:
        return [
            (ws_headers(server, login(server.base_url, username)), None)
            for username in (USERNAME, OTHER_USERNAME)
        ]
    return [(ws_headers(server), None), (ws_headers(server), "127.0.0.2")]


def test_flood_is_closed_with_4429_and_others_are_unaffected(served, limited):
    (flooder_headers, _), (other_headers, other_source) = two_users(served, limited)

    async def scenario():
        name = room()
        async with (
            await connect(limited, f"/ws/chat/{name}/", flooder_headers) as flooder,
            await connect(
                limited, f"/ws/chat/{name}/", other_headers, source=other_source
            ) as bystander,
        ):
            for _ in range(40):  # the default burst is 20
                await send_json(flooder, {"type": "ping"})
            events, code = await drain(flooder, limit=41)
            assert f"Closing websocket /ws/chat/{name}/ with 4429 (RATE_LIMITED)" in limited.log()
            # The close frame can be lost on a loaded machine: the server closes its socket
            # with the flood still unread, and TCP resets the connection (1006, no frame).
            if code is not None:
                assert code == 4429
                assert events[-1]["code"] == "rate_limited"
            assert len(events) <= 21
            await send_json(bystander, {"type": "chat.message", "message": "still fine"})
            assert (await receive_json(bystander))["message"] == "still fine"

    asyncio.run(scenario())


def test_reconnecting_does_not_reset_the_rate_limit(served, limited):
    """Before: 200 messages in 0.8 s at a limit of 10/s, by reconnecting after every ten."""
    (headers, _), _ = two_users(served, limited)

    async def scenario() -> tuple[int, float]:
        answered = 0
        started = time.monotonic()
        for _ in range(20):
            async with await connect(limited, f"/ws/chat/{room()}/", headers) as socket:
                with contextlib.suppress(websockets.ConnectionClosed):
                    # A busy machine may see the server close it (4429) mid-burst.
                    for _ in range(10):
                        await send_json(socket, {"type": "ping"})
                events, _ = await drain(socket, limit=10)
                answered += sum(event == {"type": "pong"} for event in events)
        return answered, time.monotonic() - started

    answered, seconds = asyncio.run(scenario())
    print(f"200 pings over 20 connections: {answered} answered in {seconds:.2f} s")
    # The burst (20) and what the rate (10/s) refills meanwhile, plus a little slack.
    assert answered <= 20 + 10 * seconds + 2, f"{answered} answered in {seconds:.1f} s"
    assert served.tracebacks() == []


def test_one_user_holds_at_most_20_sockets(served, limited):
    (headers, _), (other_headers, other_source) = two_users(served, limited)

    async def scenario():
        path = f"/ws/chat/{room()}/"
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(20):
                await stack.enter_async_context(await connect(limited, path, headers))
            async with await connect(limited, path, headers) as extra:
                assert await drain(extra, limit=1) == ([], 4429)
            async with await connect(limited, path, other_headers, source=other_source) as other:
                await send_json(other, {"type": "ping"})
                assert await receive_json(other) == {"type": "pong"}
        # All closed: the user may connect again once the server has seen them go.
        for _ in range(50):
            async with await connect(limited, path, headers) as again:
                await send_json(again, {"type": "ping"})
                events, code = await drain(again, limit=1, timeout=2)
            if events == [{"type": "pong"}]:
                break
            assert code == 4429
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the user's sockets were never released")

    asyncio.run(scenario())


def test_message_over_the_frame_limit_is_dropped_without_hurting_the_server(
    server, served, headers
):
    async def scenario():
        socket = await connect(server, f"/ws/chat/{room()}/", headers)
        # Over daphne's 1 MiB default and the production command's --ws-max-size (64 KiB).
        # The server drops the connection; the consumer never sees the frame.
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket.send("x" * (2 * 1024 * 1024))
        events, code = await drain(socket, limit=1, timeout=10)
        assert events == []
        assert code in (None, 1009)  # dropped, or closed as "message too big"
        async with await connect(server, f"/ws/chat/{room()}/", headers) as fresh:
            await send_json(fresh, {"type": "ping"})
            assert await receive_json(fresh) == {"type": "pong"}

    asyncio.run(scenario())
    # Unharmed: healthy again at once, or after a check that a loaded machine made slow
    # (each lasts at most 3 s).
    wait_until(lambda: health(server.base_url)[0] == 200, timeout=10, what="health 200")


def test_stopping_the_server_closes_sockets_as_the_readme_says(served, headers):
    """SIGTERM, as an orchestrator stops a process: uvicorn sends 1012 (service restart),
    daphne no close frame at all; the README's Scale out section says so.
    """
    stopping = served.new_server().start()
    try:

        async def scenario():
            socket = await connect(stopping, f"/ws/chat/{room()}/", headers)
            await send_json(socket, {"type": "ping"})
            assert await receive_json(socket) == {"type": "pong"}
            await asyncio.to_thread(stopping.terminate)
            return await drain(socket, limit=1, timeout=10)

        events, code = asyncio.run(scenario())
    finally:
        stopping.stop()
    assert events == []
    assert code == (1012 if isinstance(stopping, Uvicorn) else None)


def test_server_log_holds_no_traceback(served):
    """Runs last in this module: nothing above may have crashed the application."""
    assert served.tracebacks() == []
