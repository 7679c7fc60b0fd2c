"""A TCP relay: what listens on LISTEN_HOST:LISTEN_PORT is forwarded to TARGET_HOST:PORT.

python harness/relay.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT
(started by harness.servers.TcpRelay: it lets hosts in network namespaces reach a service
of the machine that listens on loopback only, such as its PostgreSQL).
"""

import asyncio
import contextlib
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.close()


async def relay(target: tuple[str, int], client_reader, client_writer) -> None:
    try:
        server_reader, server_writer = await asyncio.open_connection(*target)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))


async def main(listen_host: str, listen_port: int, target_host: str, target_port: int) -> None:
    target = (target_host, target_port)
    server = await asyncio.start_server(
        lambda reader, writer: relay(target, reader, writer), listen_host, listen_port
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    host, port, target_host, target_port = sys.argv[1:5]
    asyncio.run(main(host, int(port), target_host, int(target_port)))
