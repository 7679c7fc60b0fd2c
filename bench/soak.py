"""The soak: connect/disconnect cycles on the default project's production command, two
processes on a Redis of the soak's own, in a room where two members talk at 60 messages a
second; each socket ends one of the ways sockets end in the wild (harness.client.ENDINGS).
What is left at the end is what leaked.

    python bench/soak.py [--cycles 100000] [--concurrency 32] [--out bench-results]
                         [--cache DIR]

Prints and writes soak.json to --out: each process's resident memory after the warm-up
(the first tenth of the cycles) and at the end; the members left in the room's and the
user's groups once every socket is closed; how many of WS_MAX_CONNECTIONS_PER_USER sockets
per process the user can still open (any fewer were leaked); the Redis keys left. Needs
what the template's tests need; everything binds to 127.0.0.1 and every loop is bounded.
"""

import argparse
import asyncio
import collections
import contextlib
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
import websockets

from harness.baking import CACHE_HELP, Bakery
from harness.client import ENDINGS, connect, end_socket, receive_json, send_json
from harness.client import ws_headers as handshake_headers
from harness.served import login, prepare_database, server_env
from harness.servers import RedisServer, Uvicorn, wait_until
from harness.variants import TEMPLATE_DIR, variant

PER_USER = 20  # WS_MAX_CONNECTIONS_PER_USER: the default, held by the soak's servers
TALK_PER_SECOND = 60
# A socket waits this long (the room's messages reach it) before it ends.
LIFETIME_SECONDS = 0.02


async def cycles(servers: list[Uvicorn], cookie: str, total: int, concurrency: int, rss) -> dict:
    """Run `total` connect/disconnect cycles, `concurrency` at a time; `rss` is called at
    the end of the warm-up. Returns the counts of the cycles' outcomes.
    """
    room = f"soak-{uuid.uuid4().hex[:12]}"
    path = f"/ws/chat/{room}/"
    headers = [handshake_headers(server, cookie) for server in servers]
    outcomes = {"ended": 0, "closed_by_server_first": 0, "failed_handshakes": 0, "errors": 0}
    started = 0
    warm_up = max(1, total // 10)
    errors: collections.Counter[str] = collections.Counter()

    async def talk(ws) -> None:
        for number in range(10_000_000):
            await send_json(ws, {"type": "chat.message", "message": f"soak {number}"})
            await asyncio.sleep(1 / TALK_PER_SECOND)

    async def listen(ws) -> None:
        async for _ in ws:
            pass

    async def worker() -> None:
        nonlocal started
        while started < total:
            number = started
            started += 1
            if number == warm_up:
                rss("warm")
            index = number % len(servers)
            try:
                ws = await connect(servers[index], path, headers[index])
            except (OSError, websockets.WebSocketException, TimeoutError):
                outcomes["failed_handshakes"] += 1
                continue
            await asyncio.sleep(LIFETIME_SECONDS)
            how = ENDINGS[(number // len(servers)) % len(ENDINGS)]
            try:
                await asyncio.wait_for(end_socket(ws, how), timeout=10)
                outcomes["ended"] += 1
            except websockets.ConnectionClosed:
                outcomes["closed_by_server_first"] += 1  # 4429 while the server catches up
            except Exception as error:
                outcomes["errors"] += 1
                errors[f"{how}: {type(error).__name__}: {error}"[:200]] += 1
            finally:
                ws.transport.abort()  # whatever the ending left, nothing stays open here

    async with (
        await connect(servers[0], path, headers[0]) as chatter,
        await connect(servers[-1], path, headers[-1]) as listener,
    ):
        background = [
            asyncio.ensure_future(task)
            for task in (talk(chatter), listen(chatter), listen(listener))
        ]
        began = time.monotonic()
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            for task in background:
                task.cancel()
        outcomes["seconds"] = round(time.monotonic() - began, 1)
        rss("end")
    outcomes["room"] = room
    outcomes["error_kinds"] = dict(errors.most_common(10))
    return outcomes


async def sockets_still_allowed(servers: list[Uvicorn], cookie: str) -> list[int]:
    """How many sockets the user opens on each process before the per-user limit (4429)."""
    allowed = []
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:
            headers = handshake_headers(server, cookie)
            count = 0
            for _ in range(PER_USER + 1):
                ws = await stack.enter_async_context(
                    await connect(server, f"/ws/chat/allowance-{uuid.uuid4().hex[:8]}/", headers)
                )
                try:
                    await send_json(ws, {"type": "ping"})
                    assert await receive_json(ws) == {"type": "pong"}
                except websockets.ConnectionClosed:
                    break  # 4429: the limit
                count += 1
            allowed.append(count)
    return allowed


def group_members(client: redis.Redis) -> dict[str, int]:
    return {
        key.decode().removeprefix("asgi:group:"): client.zcard(key)
        for key in client.keys("asgi:group:*")
    }


def soak(total: int, concurrency: int, workdir: Path, bakery: Bakery | None) -> dict:
    baked = (bakery or Bakery(workdir / "cache")).copy(variant(), workdir)
    own_redis = RedisServer(workdir / "redis").start()
    env = server_env(
        baked.python,
        DATABASE_URL=f"sqlite:///{baked.path / 'soak.sqlite3'}",
        REDIS_URL=own_redis.url,
        WS_MAX_CONNECTIONS_PER_USER=str(PER_USER),
        WS_RATE_PER_SECOND="0",
        PYTHONWARNINGS="ignore",
    )
    prepare_database(baked.path, baked.python, env)
    servers = [Uvicorn(baked.python, baked.path, env, workdir / f"soak-{i}.log") for i in range(2)]
    memory: dict[str, list[int]] = {}
    client = redis.Redis.from_url(own_redis.url)
    try:
        for server in servers:
            server.start()
        cookie = login(servers[0].base_url)

        def rss(moment: str) -> None:
            memory[moment] = [server.rss_kib() for server in servers]

        outcomes = asyncio.run(cycles(servers, cookie, total, concurrency, rss))
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not group_members(client), timeout=30, what="empty groups")
        stale = group_members(client)
        allowed = asyncio.run(sockets_still_allowed(servers, cookie))
        with contextlib.suppress(TimeoutError):  # those sockets leave their groups too
            wait_until(lambda: not group_members(client), timeout=30, what="empty groups")
        keys = sorted(key.decode() for key in client.keys("*"))
    finally:
        client.close()
        for server in servers:
            server.stop()
        own_redis.stop()
    growth = [
        round((end - warm) / warm * 100, 1)
        for warm, end in zip(memory["warm"], memory["end"], strict=True)
    ]
    return {
        "cycles": total,
        "concurrency": concurrency,
        **outcomes,
        "rss_kib_after_warm_up": memory["warm"],
        "rss_kib_at_end": memory["end"],
        "rss_growth_percent": growth,
        "stale_group_members": sum(stale.values()),
        "stale_groups": stale,
        "sockets_allowed_per_process": allowed,
        "leaked_allowances": sum(PER_USER - count for count in allowed),
        "redis_group_keys_left": [key for key in keys if key.startswith("asgi:group:")],
        "redis_keys_left": len(keys),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--out", type=Path, default=TEMPLATE_DIR / "bench-results")
    parser.add_argument("--cache", type=Path, help=CACHE_HELP)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as workdir:
        bakery = Bakery(args.cache) if args.cache else None
        result = soak(args.cycles, args.concurrency, Path(workdir), bakery)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
