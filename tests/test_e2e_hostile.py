"""Hostile traffic against real servers: a flood of health probes, oversized and slow
requests. Each test starts its own servers (and Redis, where it counts connections).
"""

import asyncio
import contextlib
import time
import uuid

import pytest
import redis
import websockets

from harness.client import (
    connect,
    drain,
    health,
    raw_exchange,
    receive_json,
    send_json,
    ws_headers,
)
from harness.served import login
from harness.servers import Daphne, RedisServer, Uvicorn, wait_until

pytestmark = pytest.mark.e2e

FLOOD = 1000
KIB = 1024
MIB = 1024 * KIB


@pytest.fixture(scope="module", params=["defaults"])
def e2e_name(request) -> str:
    return request.param


async def probe(port: int, host: str = "10.0.0.7") -> int:
    """GET /health/ as a load balancer does: by IP, on a connection of its own."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = f"GET /health/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        status_line = await asyncio.wait_for(reader.readline(), timeout=30)
        return int(status_line.split()[1])
    finally:
        writer.close()


async def redis_clients_while(work, url: str) -> tuple[object, int]:
    """Run `work`, sampling Redis' connected_clients; returns its result and the peak."""
    client = redis.asyncio.Redis.from_url(url)
    peak = 0

    async def sample() -> None:
        nonlocal peak
        while True:
            info = await client.info("clients")
            peak = max(peak, info["connected_clients"] - 1)  # not this sampler's own
            await asyncio.sleep(0.01)

    sampling = asyncio.ensure_future(sample())
    try:
        return await work, peak
    finally:
        sampling.cancel()
        await client.aclose()


def test_a_health_flood_never_fails_and_costs_redis_a_bounded_number_of_connections(
    served, tmp_path
):
    """1,000 concurrent probes by IP on the production server: all 200, Redis connections
    bounded, and a daphne process on the same Redis keeps chatting throughout.
    """
    own_redis = RedisServer(tmp_path).start()
    flooded = served.new_server(Uvicorn, REDIS_URL=own_redis.url)
    other = served.new_server(Daphne, REDIS_URL=own_redis.url)
    try:
        flooded.start()
        other.start()
        headers = ws_headers(other, login(other.base_url))
        path = f"/ws/chat/flood-{uuid.uuid4().hex[:8]}/"

        async def chat_during(flood: asyncio.Future) -> list[float]:
            """Round trips of a message between two members on the other process."""
            trips = []
            async with (
                await connect(other, path, headers) as a,
                await connect(other, path, headers) as b,
            ):
                while not flood.done() or len(trips) < 5:
                    sent = time.monotonic()
                    await send_json(a, {"type": "chat.message", "message": "still here"})
                    assert (await receive_json(b, timeout=5))["message"] == "still here"
                    assert (await receive_json(a, timeout=5))["message"] == "still here"
                    trips.append(time.monotonic() - sent)
                    await asyncio.sleep(0.05)
            return trips

        async def scenario():
            flood = asyncio.gather(*(probe(flooded.port) for _ in range(FLOOD)))
            chatting = asyncio.ensure_future(chat_during(flood))
            statuses = await flood
            return statuses, await chatting

        (statuses, trips), peak = asyncio.run(redis_clients_while(scenario(), own_redis.url))
    finally:
        for server in (flooded, other, own_redis):
            server.stop()

    assert {status: statuses.count(status) for status in set(statuses)} == {200: FLOOD}
    # Two server processes: a handful each (subscriber, pool), nowhere near one per request.
    assert peak <= 20, f"{peak} Redis connections during the flood"
    assert max(trips) < 2, f"chat round trips during the flood: up to {max(trips):.2f} s"
    print(
        f"flood of {FLOOD}: peak {peak} Redis connections, {len(trips)} chat round trips, "
        f"slowest {max(trips) * 1000:.0f} ms"
    )
    assert served.tracebacks() == []


def head(*headers: bytes, path: bytes = b"/health/") -> bytes:
    return b"\r\n".join([b"GET " + path + b" HTTP/1.1", b"Host: 127.0.0.1", *headers, b"", b""])


def status_of(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def test_the_production_command_refuses_64_kib_of_headers(server):
    padding = [b"X-Pad-%d: %s" % (i, b"a" * 1000) for i in range(64)]

    assert status_of(asyncio.run(raw_exchange(server.port, head(*padding)))) == 431
    assert health(server.base_url)[0] == 200


def test_unfinished_headers_are_refused_not_buffered(server):
    """Ten connections each sending 32 MiB of one header that never ends: before, the
    process grew by 417 MiB; now each is refused after 32 KiB.
    """
    before = server.rss_kib()
    refusals = server.log().count("431 Request Header Fields Too Large")

    async def flood() -> list[int | None]:
        start = head()[:-2] + b"X-Big: "
        parts = [start] + [b"a" * MIB] * 32
        answers = await asyncio.gather(*(raw_exchange(server.port, *parts) for _ in range(10)))
        return [status_of(answer) for answer in answers]

    statuses = asyncio.run(flood())
    growth_mib = (server.rss_kib() - before) / 1024
    print(f"10 unfinished 32 MiB headers: {statuses}, server grew by {growth_mib:.1f} MiB")

    # The server closes with the client still writing: its 431 is often lost to the TCP
    # reset that unread data causes, so the server's log is the witness.
    assert set(statuses) <= {431, None}
    wait_until(
        lambda: server.log().count("431 Request Header Fields Too Large") - refusals == 10,
        timeout=5,
        what="ten refusals in the log",
    )
    assert growth_mib < 16
    assert health(server.base_url)[0] == 200


def test_a_websocket_handshake_with_an_8_kib_header_line_is_answered_at_once(server):
    handshake = head(
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Version: 13",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Origin: " + server.base_url.encode(),
        b"X-Big: " + b"a" * 8300,
        path=b"/ws/chat/lobby/",
    )
    started = time.monotonic()

    answer = asyncio.run(raw_exchange(server.port, handshake))

    assert status_of(answer) == 431
    assert time.monotonic() - started < 2


def test_a_slow_head_is_dropped_in_seconds(server):
    """A head sent a header a second (slowloris) gets 408 after 10 s, not a held socket."""
    trickle = [b"GET /health/ HTTP/1.1\r\n"] + [b"X-%d: a\r\n" % i for i in range(30)]
    started = time.monotonic()

    answer = asyncio.run(raw_exchange(server.port, *trickle, pause=1, wait=2))

    assert status_of(answer) == 408
    assert time.monotonic() - started < 13


def test_a_websocket_message_over_64_kib_closes_that_socket_only(served, server, headers):
    async def scenario():
        path = f"/ws/chat/big-{uuid.uuid4().hex[:8]}/"
        async with await connect(server, path, headers) as bystander:
            big = await websockets.connect(
                f"{server.ws_url}{path}", additional_headers=headers, max_size=None
            )
            with contextlib.suppress(websockets.ConnectionClosed):
                await big.send("x" * (64 * KIB + 1))
            _, code = await drain(big, limit=1, timeout=5)
            assert code == 1009  # message too big
            await send_json(bystander, {"type": "ping"})
            assert await receive_json(bystander) == {"type": "pong"}

    asyncio.run(scenario())
    assert served.tracebacks() == []
