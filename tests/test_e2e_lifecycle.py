"""Every socket ends clean (SPEC, "Every socket ends clean, and no client stalls the
others"): the default project under its production command, two processes on a Redis of
the module's own, sockets ending every way a client or a server ends them, a process
killed, and a process stopped with hundreds of sockets open.
"""

import asyncio
import contextlib
import os
import signal
import socket
import struct
import time
import uuid

import pytest
import redis
import websockets

from harness.client import connect, drain, receive_json, send_json, ws_headers
from harness.served import login
from harness.servers import RedisServer, wait_until

pytestmark = pytest.mark.e2e
# Servers of its own: it may run beside the default project's other modules.
XDIST_GROUP = "-lifecycle"

EXPIRY = 3  # WS_GROUP_EXPIRY_SECONDS of these servers: renewals every second
PER_USER = 20  # WS_MAX_CONNECTIONS_PER_USER (the default)
ENDINGS = 1000
SERVICE_RESTART = 1012
ENV = {"WS_GROUP_EXPIRY_SECONDS": str(EXPIRY), "WS_RATE_PER_SECOND": "0"}


@pytest.fixture(scope="module", params=["defaults"])
def e2e_name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("lifecycle-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_client(own_redis):
    client = redis.Redis.from_url(own_redis.url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def pair(served, own_redis):
    """Two production processes on the module's Redis."""
    servers = [served.new_server(REDIS_URL=own_redis.url, **ENV) for _ in range(2)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def cookie(pair) -> str:
    return login(pair[0].base_url)


def room() -> str:
    return f"life-{uuid.uuid4().hex[:12]}"


def group_members(client: redis.Redis, group: str, *, live_only: bool = False) -> int:
    """Members of a channel-layer group; `live_only`: those the layer still counts (renewed
    within the expiry), whatever is left in the sorted set.
    """
    key = f"asgi:group:{group}"
    if live_only:
        return client.zcount(key, time.time() - EXPIRY, "+inf")
    return client.zcard(key)


def user_groups(client: redis.Redis) -> dict[str, int]:
    """The `user.<pk>` groups in Redis and their member counts."""
    keys = client.keys("asgi:group:user.*")
    return {key.decode().removeprefix("asgi:group:"): client.zcard(key) for key in keys}


def reset(ws) -> None:
    """End the connection with a TCP RST, as a client that crashes or loses its network."""
    raw = ws.transport.get_extra_info("socket")
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.transport.abort()


async def end(ws, how: str) -> None:
    """End a chat socket one of the ways sockets end in the wild."""
    if how == "close":
        await ws.close()
    elif how == "fin":  # the TCP connection closed without a close frame
        ws.transport.close()
    elif how == "rst":
        reset(ws)
    elif how == "stalled-rst":  # stops reading while the room talks, then resets
        ws.transport.pause_reading()
        await asyncio.sleep(0.3)
        reset(ws)
    elif how == "server-close":  # bad messages until the server closes it (4400)
        for _ in range(10):
            await ws.send("not json")
        await drain(ws, limit=20, timeout=5)
    else:
        raise ValueError(how)


WAYS = ["close", "fin", "rst", "stalled-rst", "server-close"]


def test_sockets_ending_every_way_in_a_busy_room_leave_only_live_members(
    served, pair, cookie, redis_client
):
    """1,000 sockets of one user in a room talking at about 60 messages a second, each
    ended one of five ways; then the room and the user's group hold only the live sockets,
    and the user can again open WS_MAX_CONNECTIONS_PER_USER sockets on each process.
    (Before SocketConsumer, a few in 200 leaked, and every stalled-then-reset socket.)
    """
    name = room()
    path = f"/ws/chat/{name}/"
    headers = [ws_headers(server, cookie) for server in pair]
    refused = 0

    async def scenario() -> None:
        nonlocal refused
        async with (
            await connect(pair[0], path, headers[0]) as chatter,
            await connect(pair[1], path, headers[1]) as listener,
        ):

            async def talk() -> None:
                for number in range(100_000):
                    await send_json(chatter, {"type": "chat.message", "message": str(number)})
                    await asyncio.sleep(1 / 60)

            async def listen(ws) -> None:
                async for _ in ws:
                    pass

            talking = asyncio.ensure_future(talk())
            listening = [asyncio.ensure_future(listen(ws)) for ws in (chatter, listener)]
            try:
                for start in range(0, ENDINGS, 10):
                    batch = await asyncio.gather(
                        *(
                            connect(pair[index % 2], path, headers[index % 2])
                            for index in range(start, start + 10)
                        )
                    )
                    await asyncio.sleep(0.05)  # the room's messages reach them
                    endings = [end(ws, WAYS[(start + i) % len(WAYS)]) for i, ws in enumerate(batch)]
                    for outcome in await asyncio.gather(*endings, return_exceptions=True):
                        if isinstance(outcome, websockets.ConnectionClosed):
                            refused += 1  # closed by the server first (4429 when busy)
                        elif isinstance(outcome, BaseException):
                            raise outcome
                    await asyncio.sleep(0.02)
                assert not talking.done(), talking.exception()
            finally:
                for task in (talking, *listening):
                    task.cancel()
            assert chatter.state is listener.state is websockets.State.OPEN
            wait = asyncio.to_thread(
                wait_until,
                lambda: group_members(redis_client, f"chat.{name}") == 2,
                timeout=15,
                what="only the two live members in the room",
            )
            await wait
            assert sorted(user_groups(redis_client).values()) == [2]

    asyncio.run(scenario())
    wait_until(
        lambda: group_members(redis_client, f"chat.{name}") == 0,
        timeout=15,
        what="an empty room",
    )

    async def full_allowance() -> None:
        async with contextlib.AsyncExitStack() as stack:
            sockets = []
            for server, server_headers in zip(pair, headers, strict=True):
                for _ in range(PER_USER):
                    ws = await connect(server, f"/ws/chat/{room()}/", server_headers)
                    sockets.append(await stack.enter_async_context(ws))
            for ws in sockets:
                await send_json(ws, {"type": "ping"})
                assert await receive_json(ws) == {"type": "pong"}

    asyncio.run(full_allowance())
    print(f"\n{ENDINGS} sockets ended ({refused} closed by the server first): no member left")
    assert served.tracebacks(pair) == []


def test_a_killed_processs_members_leave_within_the_group_expiry(
    served, pair, cookie, own_redis, redis_client
):
    """SIGKILL a process with 50 members in a room: the layer stops counting them within
    WS_GROUP_EXPIRY_SECONDS and removes them soon after, while a member on the live process,
    joined well before, stays and still receives (its membership is renewed).
    """
    doomed = served.new_server(REDIS_URL=own_redis.url, WS_MAX_CONNECTIONS_PER_USER="0", **ENV)
    name = room()
    path = f"/ws/chat/{name}/"

    async def scenario() -> None:
        async with (
            await connect(pair[0], path, ws_headers(pair[0], cookie)) as survivor,
            await connect(pair[1], path, ws_headers(pair[1], cookie)) as sender,
        ):
            doomed_headers = ws_headers(doomed, cookie)
            victims = await asyncio.gather(
                *(connect(doomed, path, doomed_headers) for _ in range(50))
            )
            assert group_members(redis_client, f"chat.{name}") == 52

            os.killpg(doomed.process.pid, signal.SIGKILL)
            killed = time.monotonic()
            await asyncio.to_thread(
                wait_until,
                lambda: group_members(redis_client, f"chat.{name}", live_only=True) == 2,
                timeout=EXPIRY + 2,
                what="the killed process's members to stop counting",
            )
            counted_for = time.monotonic() - killed
            await asyncio.to_thread(
                wait_until,
                lambda: group_members(redis_client, f"chat.{name}") == 2,
                timeout=EXPIRY * 4 / 3 + 2,
                what="the killed process's members to be removed",
            )
            removed_after = time.monotonic() - killed
            await asyncio.sleep(max(0.0, 2 * EXPIRY - removed_after))  # past two expiries
            assert [count for count in user_groups(redis_client).values() if count] == [2]
            await send_json(sender, {"type": "chat.message", "message": "still with us?"})
            assert (await receive_json(survivor))["message"] == "still with us?"
            for victim in victims:
                victim.transport.abort()
            print(
                f"\nafter SIGKILL: 50 members stopped counting in {counted_for:.1f} s, "
                f"removed in {removed_after:.1f} s (WS_GROUP_EXPIRY_SECONDS={EXPIRY})"
            )

    try:
        doomed.start()
        asyncio.run(scenario())
    finally:
        doomed.stop()


def test_sigterm_with_hundreds_of_sockets_exits_fast_leaving_no_member(
    served, cookie, own_redis, redis_client
):
    """Before, uvicorn waited out its graceful timeout (8 s) on a receive whose
    cancellation Python 3.11 had lost, and logged an ERROR; now every socket gets 1012
    and the process is gone within 5 s.
    """
    stopping = served.new_server(REDIS_URL=own_redis.url, WS_MAX_CONNECTIONS_PER_USER="0", **ENV)
    name = room()
    path = f"/ws/chat/{name}/"
    crowd_size = 300

    async def scenario() -> tuple[float, list[int | None]]:
        headers = ws_headers(stopping, cookie)
        crowd = []
        for _ in range(crowd_size // 50):
            crowd += await asyncio.gather(*(connect(stopping, path, headers) for _ in range(50)))
        await send_json(crowd[0], {"type": "chat.message", "message": "all here"})
        for ws in crowd:
            assert (await receive_json(ws))["message"] == "all here"
        assert group_members(redis_client, f"chat.{name}") == crowd_size
        sent = time.monotonic()
        stopping.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(stopping.process.wait, 20)
        seconds = time.monotonic() - sent
        codes = [(await drain(ws, limit=1, timeout=5))[1] for ws in crowd]
        return seconds, codes

    try:
        stopping.start()
        seconds, codes = asyncio.run(scenario())
    finally:
        stopping.stop()
    print(f"\nSIGTERM with {crowd_size} sockets: exited in {seconds:.2f} s")
    assert seconds < 5
    assert set(codes) == {SERVICE_RESTART}
    assert group_members(redis_client, f"chat.{name}") == 0
    assert "ERROR" not in stopping.log()
    assert served.tracebacks([stopping]) == []
