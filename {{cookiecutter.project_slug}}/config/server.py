"""Limits of the production server (the Makefile's `serve`: uvicorn with these protocols).

uvicorn's fast HTTP parser (httptools) has no bound of its own on a request's head: it
answered a request with 16 MiB of headers, ten unfinished 32 MiB headers grew the process
by more than 400 MiB, and a client that sends its head a byte at a time held a connection
for as long as it liked. Its websocket protocol (websockets, sans-I/O) logged the 431 it
meant for a handshake with an oversized header line and sent the client nothing. These
subclasses add what is missing; docs/deploy.md lists every limit of the command.

* ``HttpProtocol``: a request head (request line and headers) is refused with 431 past
  MAX_HEAD_BYTES, whether it arrives whole or never ends, and with 408 when it is not
  complete HEAD_TIMEOUT_SECONDS after it began (or after the connection opened).
* ``WebSocketProtocol``: a handshake the websockets library refuses gets its answer.

They depend on uvicorn's protocol classes, which are not a public API: the project's tests
(tests/test_server.py) run a real uvicorn with them, so an upgrade that breaks them fails
there.
"""

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

logger = logging.getLogger(__name__)

# A head past this is refused: a browser's request with its cookies is a few KiB; proxies
# in front refuse far less (nginx: 8 KiB a line).
MAX_HEAD_BYTES = 32 * 1024
# From a request's first byte (or the connection's opening) to the end of its head.
HEAD_TIMEOUT_SECONDS = 10.0


class HeadRefusedError(Exception):
    """Raised inside the parser's callback to stop parsing a request that was answered."""


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded, timed request head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True
        self._unparsed_head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._reading_head and not self._refused:
            # The parser holds an unfinished head in memory: count what it holds.
            self._unparsed_head_bytes += len(data)
            if self._unparsed_head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, "Request Header Fields Too Large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        if self._head_timer is None:
            self._start_head_timer()

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._unparsed_head_bytes = 0
        self._cancel_head_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > MAX_HEAD_BYTES:
            self._refuse(431, "Request Header Fields Too Large")
            raise HeadRefusedError
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # the parser's error after HeadRefusedError: already answered
            super().send_400_response(msg)

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._reading_head and not self._refused:
            self._refuse(408, "Request Timeout")

    def _refuse(self, status: int, reason: str) -> None:
        self._refused = True
        self._cancel_head_timer()
        client = "%s:%d" % self.client if self.client else "?"  # noqa: UP031
        logger.warning("Refused a request from %s: %d %s", client, status, reason)
        body = reason.encode("ascii")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason.encode("ascii"), len(body), body)
        )
        self.transport.close()


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets (sans-I/O) protocol, answering the handshakes it refuses."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_initiated and self.conn.handshake_exc is not None:
            logger.warning("Refused a websocket handshake: %s", self.conn.handshake_exc)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
