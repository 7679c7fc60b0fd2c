"""Hostile traffic against real servers: a flood of health probes, oversized and slow
requests. Each test starts its own servers (and Redis, where it counts connections).
"""

import asyncio
import time
import uuid

import pytest
import redis

from harness.client import connect, receive_json, send_json, ws_headers
from harness.served import login
from harness.servers import Daphne, RedisServer, Uvicorn

pytestmark = pytest.mark.e2e

FLOOD = 1000


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
