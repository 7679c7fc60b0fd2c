"""What the benchmark measures, one coroutine per scenario, each against one contestant.

CPU is the server process's own user+system time, so the client sharing the machine
does not blur it. Every loop is bounded in count or time.
"""

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import websockets
from lineup import LAYER_NAMES, PRODUCTION_LAYER, Contestant


@dataclass(frozen=True)
class Scale:
    """How big each scenario is."""

    echo_clients: tuple[int, ...] = (1, 50, 200)
    broadcast_members: tuple[int, ...] = (100, 500)
    broadcast_repeats: int = 20
    # Idle memory: resident memory per connection over the first 1,000 on a fresh process,
    # and from 1,000 to 5,000, past the allocators' start-up reserve (performance.md).
    idle_connections: tuple[int, int] = (1000, 5000)


FULL = Scale()
# Every scenario once, small: proves the benchmark runs (tests/test_bench_tools.py).
SMOKE = Scale(
    echo_clients=(1, 5), broadcast_members=(5,), broadcast_repeats=2, idle_connections=(20, 40)
)
IDLE_CONNECTIONS = FULL.idle_connections

Scenario = Callable[[Contestant], Awaitable[dict[str, float]]]


async def open_sockets(contestant: Contestant, room: str, count: int) -> list:
    sockets = []
    for start in range(0, count, 50):
        batch = min(50, count - start)
        sockets += await asyncio.gather(
            *(
                websockets.connect(
                    contestant.url(room),
                    additional_headers={**contestant.headers, "Origin": "http://127.0.0.1"},
                    open_timeout=30,
                    max_queue=None,
                )
                for _ in range(batch)
            )
        )
    return sockets


async def close_all(sockets: list) -> None:
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


async def echo(contestant: Contestant, clients: int, seconds: float) -> dict[str, float]:
    """Ping/pong round trips from `clients` sockets for `seconds`."""
    server = contestant.server
    sockets = await open_sockets(contestant, f"echo-{uuid.uuid4().hex[:8]}", clients)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client(socket) -> None:
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            await socket.send('{"type":"ping"}')
            await asyncio.wait_for(socket.recv(), 10)
            latencies.append(time.perf_counter() - sent)

    cpu = server.cpu_seconds()
    started = time.monotonic()
    await asyncio.gather(*(client(socket) for socket in sockets))
    elapsed = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu
    await close_all(sockets)
    latencies.sort()
    return {
        "msgs_per_s": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "cpu_us_per_msg": cpu / len(latencies) * 1e6,
        "msgs_per_cpu_s": len(latencies) / cpu if cpu else float("inf"),
    }


async def connection_rate(contestant: Contestant, seconds: float) -> dict[str, float]:
    """Handshakes (open and close) from 10 concurrent clients for `seconds`."""
    server = contestant.server
    count = 0
    deadline = time.monotonic() + seconds
    room = f"connect-{uuid.uuid4().hex[:8]}"

    async def client() -> None:
        nonlocal count
        while time.monotonic() < deadline:
            socket = (await open_sockets(contestant, room, 1))[0]
            await socket.close()
            count += 1

    cpu = server.cpu_seconds()
    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(10)))
    elapsed = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu
    return {"handshakes_per_s": count / elapsed, "cpu_us_per_connection": cpu / count * 1e6}


async def broadcast(contestant: Contestant, members: int, repeats: int = 20) -> dict[str, float]:
    """One member sends; time until every member (itself included) has the message."""
    server = contestant.server
    sockets = await open_sockets(contestant, f"fanout-{uuid.uuid4().hex[:8]}", members)
    await asyncio.sleep(0.5)
    durations = []
    cpu = server.cpu_seconds()
    for repeat in range(repeats):
        text = f"fan-out {repeat} {uuid.uuid4().hex}"

        async def receive(socket, text=text) -> None:
            while text not in await asyncio.wait_for(socket.recv(), 30):
                pass

        waiting = [asyncio.ensure_future(receive(socket)) for socket in sockets]
        sent = time.perf_counter()
        await sockets[0].send(json.dumps({"type": "chat.message", "message": text}))
        await asyncio.gather(*waiting)
        durations.append(time.perf_counter() - sent)
    cpu = server.cpu_seconds() - cpu
    await close_all(sockets)
    return {
        "all_received_ms": statistics.median(durations) * 1000,
        "cpu_us_per_delivery": cpu / (members * repeats) * 1e6,
    }


async def restart_warmed_up(contestant: Contestant) -> None:
    """A fresh process that has served one connection (imports, pools, first queries)."""
    contestant.server.stop()
    contestant.server.start()
    await close_all(await open_sockets(contestant, f"warm-{uuid.uuid4().hex[:8]}", 1))


async def idle_memory(contestant: Contestant, first: int, total: int) -> dict[str, float]:
    """Resident memory per idle connection, on a fresh process: Python keeps freed memory,
    so a process that already held connections would report almost nothing.

    Two figures: per connection over the first `first` connections, and per connection
    from `first` to `total`. The first is lowered by whatever the process's allocators
    held free, already resident, when it started; the second is the cost of one more
    connection once that is used up (docs/performance.md, bench/allocators.py).
    """
    server = contestant.server
    await restart_warmed_up(contestant)
    room = f"idle-{uuid.uuid4().hex[:8]}"
    before = server.rss_kib()
    sockets = await open_sockets(contestant, room, first)
    await asyncio.sleep(2)
    at_first = server.rss_kib()
    sockets += await open_sockets(contestant, room, total - first)
    await asyncio.sleep(2)
    at_total = server.rss_kib()
    await close_all(sockets)
    return {
        f"kib_per_idle_connection_first_{first}": (at_first - before) / first,
        f"kib_per_idle_connection_{first}_to_{total}": (at_total - at_first) / (total - first),
    }


def scenarios(
    seconds: float, layer: str, only: str = "", scale: Scale = FULL
) -> dict[str, Scenario]:
    """The scenarios that run on `layer`, by name, those whose name contains `only`."""
    found: dict[str, Scenario] = {}
    if layer == PRODUCTION_LAYER:
        for clients in scale.echo_clients:
            found[f"echo, {clients} clients"] = lambda c, n=clients: echo(c, n, seconds)
        found["connection rate"] = lambda c: connection_rate(c, seconds)
        first, total = scale.idle_connections
        found[f"idle memory, {first} then {total} connections"] = lambda c: idle_memory(
            c, first, total
        )
    for members in scale.broadcast_members:
        name = f"broadcast to {members}, {LAYER_NAMES[layer]}"
        found[name] = lambda c, m=members: broadcast(c, m, scale.broadcast_repeats)
    return {name: run for name, run in found.items() if only.lower() in name.lower()}
