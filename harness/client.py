"""The client side: HTTP requests and websockets against a served project."""

import asyncio
import contextlib
import json
import socket as sockets
import struct
import urllib.error
import urllib.request
from email.message import Message
from typing import Protocol

import websockets


class Endpoint(Protocol):
    """Where a server answers (every `harness.servers.Server` is one)."""

    @property
    def base_url(self) -> str: ...

    @property
    def ws_url(self) -> str: ...


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to check, not to follow."""

    def redirect_request(self, *args, **kwargs):
        return None


def http_open(
    request: str | urllib.request.Request, *, timeout: float = 5
) -> tuple[int, Message, bytes]:
    """Send a request (a URL: GET) without following redirects; returns status, headers
    (names in any case: uvicorn sends them in lower case) and body.
    """
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def http_get(url: str, *, timeout: float = 5) -> tuple[int, Message, bytes]:
    """GET without following redirects: status, headers and body."""
    return http_open(url, timeout=timeout)


def health(base_url: str) -> tuple[int, dict]:
    """Status and JSON body of `/health/`."""
    status, _, body = http_get(f"{base_url}/health/")
    return status, json.loads(body)


def ws_headers(server: Endpoint, cookie: str | None = None, origin: str | None = None) -> dict:
    """Handshake headers: the Origin of the server's own pages (or `origin`), a cookie."""
    headers = {"Origin": origin if origin is not None else server.base_url}
    if cookie:
        headers["Cookie"] = cookie
    return headers


async def connect(
    server: Endpoint, path: str, headers: dict[str, str], *, source: str | None = None
):
    """Open a websocket; from the loopback address `source` (e.g. 127.0.0.2) if given,
    which a server tells apart from 127.0.0.1 as another client.
    """
    extra = {"local_addr": (source, 0)} if source else {}
    return await websockets.connect(
        f"{server.ws_url}{path}",
        additional_headers=headers,
        open_timeout=10,
        close_timeout=2,
        **extra,
    )


async def receive_json(socket, timeout: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def send_json(socket, payload: object) -> None:
    await socket.send(json.dumps(payload))


async def refused_status(server: Endpoint, path: str, headers: dict[str, str]) -> int:
    """The HTTP status of a refused handshake (AssertionError if it is accepted)."""
    try:
        socket = await connect(server, path, headers)
    except websockets.InvalidStatus as refusal:
        return refusal.response.status_code
    await socket.close()
    raise AssertionError(f"handshake to {path} was accepted")


async def drain(socket, *, limit: int, timeout: float = 5) -> tuple[list[dict], int | None]:
    """Read events until the server closes the socket, at most `limit` of them.

    Returns the events and the close code (None: not closed, or closed without a frame).
    """
    events: list[dict] = []
    try:
        for _ in range(limit):
            events.append(await receive_json(socket, timeout))
    except websockets.ConnectionClosed as closed:
        return events, closed.rcvd.code if closed.rcvd else None
    return events, None


async def raw_exchange(port: int, *parts: bytes, pause: float = 0, wait: float = 15) -> bytes:
    """Bytes to a loopback port, as a hostile client sends them: `parts` with a pause
    between, read all along; returns what the server sent before it closed the connection
    (or `wait` seconds after the last part). Stops sending once the server has closed.
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


# The ways a chat socket ends in the wild, for end_socket().
ENDINGS = ("close", "fin", "rst", "stalled-rst", "server-close")


def reset(ws) -> None:
    """End the connection with a TCP RST, as a client that crashes or loses its network."""
    raw = ws.transport.get_extra_info("socket")
    with contextlib.suppress(OSError):  # already closed by the server: nothing to reset
        raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def end_socket(ws, how: str) -> None:
    """End a chat socket one of the ENDINGS: a close frame; the TCP connection closed
    without one (FIN) or reset (RST); reading stopped while the room talks, then reset;
    bad messages until the server closes it (4400).
    """
    if how == "close":
        await ws.close()
    elif how == "fin":
        ws.transport.close()
    elif how == "rst":
        reset(ws)
    elif how == "stalled-rst":
        ws.transport.pause_reading()
        await asyncio.sleep(0.3)
        reset(ws)
    elif how == "server-close":
        for _ in range(10):
            await ws.send("not json")
        await drain(ws, limit=20, timeout=5)
    else:
        raise ValueError(how)
