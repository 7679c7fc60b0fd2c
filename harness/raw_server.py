"""The raw reference: a `websockets` server speaking the chat protocol, nothing else.

python harness/raw_server.py PORT (started by harness.servers.RawWebsockets)
"""

import asyncio
import json
import sys
from collections import defaultdict

from websockets.asyncio.server import broadcast, serve

rooms: dict[str, set] = defaultdict(set)


async def handler(websocket) -> None:
    room = websocket.request.path.strip("/").split("/")[-1]
    members = rooms[room]
    members.add(websocket)
    try:
        async for frame in websocket:
            payload = json.loads(frame)
            if payload.get("type") == "ping":
                await websocket.send('{"type":"pong"}')
            elif payload.get("type") == "chat.message":
                event = {"type": "chat.message", "message": payload["message"], "room": room}
                broadcast(members, json.dumps(event))
    finally:
        members.discard(websocket)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
