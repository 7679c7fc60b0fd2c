"""The production server's limits (config/server.py), on a real uvicorn with the same
protocols and limits as the Makefile's `serve`, in front of a minimal ASGI application.
"""

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
import websockets

from config import server

SERVE_TARGET = (Path(__file__).resolve().parent.parent / "Makefile").read_text(encoding="utf-8")
WS_MAX_SIZE = int(re.findall(r"--ws-max-size (\d+)", SERVE_TARGET)[0])


async def hello(scope, receive, send) -> None:
    """200 "hello" for HTTP; websockets are accepted and echo what they receive."""
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message.get("text")})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    config = uvicorn.Config(
        hello,
        host="127.0.0.1",
        port=free,
        lifespan="off",
        http="config.server:HttpProtocol",
        ws="config.server:WebSocketProtocol",
        ws_max_size=WS_MAX_SIZE,
        log_level="warning",
    )
    running = uvicorn.Server(config)
    task = asyncio.ensure_future(running.serve())
    async with asyncio.timeout(10):
        while not running.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
    yield free
    running.should_exit = True
    await asyncio.wait_for(task, timeout=10)


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


def test_the_makefile_serves_with_these_protocols_and_limits():
    assert "--http config.server:HttpProtocol" in SERVE_TARGET
    assert "--ws config.server:WebSocketProtocol" in SERVE_TARGET
    assert WS_MAX_SIZE <= 64 * 1024


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
