"""The production server's limits (config/server.py, config/serve.py), on a real uvicorn
with the options of `python -m config.serve`, in front of a minimal ASGI application.
"""

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
import websockets

from config import serve, server

MAKEFILE = (Path(__file__).resolve().parent.parent / "Makefile").read_text(encoding="utf-8")
WS_MAX_SIZE = serve.server_options()["ws_max_size"]


async def hello(scope, receive, send) -> None:
    """200 "hello" for HTTP; websockets are accepted and echo what they receive."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        if scope["path"] == "/closes/":  # as a consumer refusing a client does (4401)
            await send({"type": "websocket.close", "code": 4401})
        while (message := await receive())["type"] == "websocket.receive":
            received.append(message)
            await send({"type": "websocket.send", "text": message.get("text")})


# Websocket messages the application received.
received: list[dict] = []


@pytest.fixture
def options() -> dict:
    """The production server's options, which a test may change before `port` starts it."""
    received.clear()
    return serve.server_options()


@contextlib.asynccontextmanager
async def serving(options: dict) -> AsyncIterator[int]:
    """uvicorn with `options` serving `hello` on a free port, stopped on exit."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    config = uvicorn.Config(hello, host="127.0.0.1", port=free, log_level="warning", **options)
    running = uvicorn.Server(config)
    task = asyncio.ensure_future(running.serve())
    try:
        async with asyncio.timeout(10):
            while not running.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
                await asyncio.sleep(0.01)
        yield free
    finally:
        running.should_exit = True
        await asyncio.wait_for(task, timeout=10)


@pytest.fixture
async def port(options) -> AsyncIterator[int]:
    async with serving(options) as free:
        yield free


async def exchange(port: int, *parts: bytes, pause: float = 0, wait: float = 5) -> bytes:
    """Send `parts` (pausing between them) while reading; returns what the server sent
    before it closed the connection (or `wait` seconds passed after the last part).
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = bytearray()

    async def read() -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                answer.extend(chunk)

    reading = asyncio.ensure_future(read())
    try:
        for part in parts:
            if reading.done():
                break
            writer.write(part)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.sleep(pause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reading), timeout=wait)
    finally:
        reading.cancel()
        writer.close()
    return bytes(answer)


def request(*headers: bytes, path: bytes = b"/") -> bytes:
    lines = [b"GET " + path + b" HTTP/1.1", b"Host: 127.0.0.1", *headers, b"", b""]
    return b"\r\n".join(lines)


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_make_serve_runs_config_serve_where_it_is_told():
    assert "\tuv run python -m config.serve --host $(HOST) --port $(PORT)\n" in MAKEFILE
    assert "HOST ?= 0.0.0.0\n" in MAKEFILE
    assert "PORT ?= 8000\n" in MAKEFILE


def test_the_options_use_these_protocols():
    options = serve.server_options()

    assert options["http"] is server.HttpProtocol
    assert options["ws"] is server.WebSocketProtocol
    assert options["timeout_graceful_shutdown"] < 5


def test_the_message_size_limit_follows_the_applications(settings):
    """What a message of WS_MAX_MESSAGE_CHARS characters can take as a JSON frame, all of
    them escaped astral characters, and not much more; 64 KiB without a chat.
    """
    settings.WS_MAX_MESSAGE_CHARS = 2000
    frame = json.dumps({"type": "chat.message", "message": "\U0001f600" * 2000})
    limit = serve.server_options()["ws_max_size"]
    assert len(frame.encode()) <= limit <= len(frame.encode()) + 1024
    settings.WS_MAX_MESSAGE_CHARS = 100
    assert serve.server_options()["ws_max_size"] < 3 * 1024
    del settings.WS_MAX_MESSAGE_CHARS
    assert serve.server_options()["ws_max_size"] == 64 * 1024


async def test_an_ordinary_request_is_served(port):
    answer = await exchange(port, request(b"Connection: close"))

    assert status(answer) == 200
    assert answer.endswith(b"hello\r\n0\r\n\r\n")  # chunked


async def test_a_head_of_64_kib_is_refused_with_431(port):
    padding = [b"X-Pad-%d: %s" % (i, b"a" * 1000) for i in range(64)]

    answer = await exchange(port, request(*padding))

    assert status(answer) == 431


async def test_an_unfinished_head_is_refused_past_the_limit_not_buffered(port):
    """Header bytes that never end: refused once the limit is passed, connection closed."""
    start = request()[:-2] + b"X-Big: "
    chunks = [start] + [b"a" * 8192] * (server.MAX_HEAD_BYTES // 8192 + 2)

    answer = await exchange(port, *chunks, pause=0.01)

    assert status(answer) == 431


async def test_a_head_just_under_the_limit_is_served(port):
    answer = await exchange(port, request(b"X-Big: " + b"a" * 16000, b"Connection: close"))

    assert status(answer) == 200


async def test_a_slow_head_is_answered_408(port, monkeypatch):
    monkeypatch.setattr(server, "HEAD_TIMEOUT_SECONDS", 0.2)
    trickle = [b"GET / HTTP/1.1\r\n"] + [b"X-%d: a\r\n" % i for i in range(10)]

    answer = await exchange(port, *trickle, pause=0.05)

    assert status(answer) == 408


async def test_a_silent_connection_is_answered_408(port, monkeypatch):
    monkeypatch.setattr(server, "HEAD_TIMEOUT_SECONDS", 0.2)

    answer = await exchange(port, wait=3)

    assert status(answer) == 408


async def test_idle_time_between_kept_alive_requests_is_not_head_time(port, monkeypatch):
    monkeypatch.setattr(server, "HEAD_TIMEOUT_SECONDS", 0.2)

    answer = await exchange(port, request(), request(b"Connection: close"), pause=0.4)

    assert answer.count(b"HTTP/1.1 200") == 2


async def test_a_websocket_handshake_with_an_oversized_line_is_answered(port):
    """websockets refuses header lines over 8 KiB; uvicorn used to send nothing."""
    handshake = request(
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Version: 13",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"X-Big: " + b"a" * 8300,
    )

    answer = await exchange(port, handshake)

    assert status(answer) == 431


async def test_websocket_messages_are_bounded(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None) as socket_:
        await socket_.send("a" * 1000)
        assert await socket_.recv() == "a" * 1000
        await socket_.send("a" * (WS_MAX_SIZE + 1))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket_.recv(), timeout=5)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009  # message too big


async def test_a_flood_of_pings_is_closed_with_1008(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as socket_:
        with contextlib.suppress(websockets.ConnectionClosed):
            for _ in range(300):
                await socket_.ping()
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket_.recv(), timeout=5)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


async def test_a_message_in_hundreds_of_fragments_is_closed_with_1008(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as socket_:
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket_.send(iter(["a"] * 300))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket_.recv(), timeout=5)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert received == []


async def test_traffic_within_the_frame_rate_is_served(port, settings):
    settings.WS_MAX_FRAMES_PER_SECOND = 100
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as socket_:
        for number in range(80):
            await socket_.send(str(number))
            assert await socket_.recv() == str(number)
        await socket_.ping()


async def test_a_frame_rate_of_0_is_no_limit(port, settings):
    settings.WS_MAX_FRAMES_PER_SECOND = 0
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as socket_:
        await socket_.send(iter(["a"] * 300))
        assert await socket_.recv() == "a" * 300


MASKED_PING = b"\x89\x80\x00\x00\x00\x00"  # an empty ping, masked as a client's must be


async def test_a_socket_the_server_closed_is_dropped_a_second_later_if_it_goes_on(port):
    """The application closes (4401) a socket whose client ignores the close frame and
    keeps sending: the server drops it within about a second (it waited 10 s).
    """
    handshake = request(
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Version: 13",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        path=b"/closes/",
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(handshake)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        assert head.startswith(b"HTTP/1.1 101")
        close_frame = await asyncio.wait_for(reader.readexactly(4), timeout=5)
        assert close_frame == b"\x88\x02" + (4401).to_bytes(2, "big")
        closed_at = time.monotonic()

        async def keep_sending() -> None:
            with contextlib.suppress(ConnectionError):
                for _ in range(500):
                    writer.write(MASKED_PING)
                    await writer.drain()
                    await asyncio.sleep(0.02)  # 50 a second: under the frame rate

        sending = asyncio.ensure_future(keep_sending())
        with contextlib.suppress(ConnectionError):
            rest = await asyncio.wait_for(reader.read(), timeout=5)
            assert rest == b""  # no pong, nothing: read to the end of the connection
        dropped_after = time.monotonic() - closed_at
        sending.cancel()
    finally:
        writer.close()

    assert dropped_after < 2
    assert received == []


async def test_connections_past_the_limit_get_503_and_open_ones_are_unaffected(options, settings):
    settings.WEB_MAX_CONNECTIONS = 5
    async with serving(options) as limited:
        held = [await asyncio.open_connection("127.0.0.1", limited) for _ in range(5)]
        try:
            await asyncio.sleep(0.1)
            answer = await exchange(limited, request(b"Connection: close"), wait=5)
            assert status(answer) == 503

            reader, writer = held[0]
            writer.write(request(b"Connection: close"))
            assert status(await asyncio.wait_for(reader.read(), timeout=5)) == 200
        finally:
            for _, writer in held:
                writer.close()
