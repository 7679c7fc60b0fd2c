"""Protocols of the production server (config/serve.py runs uvicorn with them).

uvicorn's fast HTTP parser (httptools) has no bound of its own on a request's head, nor on
the connections it holds; its websocket protocol (websockets, sans-I/O) parses every frame a
client sends, pings and fragments included, as fast as they come, and keeps reading a
socket for 10 s after closing it. These subclasses add what is missing; docs/deploy.md
lists every limit of the server.

* ``HttpProtocol``: a connection past WEB_MAX_CONNECTIONS is answered 503 on arrival; a
  request head (request line and headers) is refused with 431 past MAX_HEAD_BYTES, whether
  it arrives whole or never ends, and with 408 when it is not complete HEAD_TIMEOUT_SECONDS
  after it began (or after the connection opened).
* ``WebSocketProtocol``: a socket sending more than WS_MAX_FRAMES_PER_SECOND frames of any
  kind is closed with 1008; input is parsed a slice at a time, so one socket's burst cannot
  hold the event loop; after the server's close frame a socket is read for at most one more
  message's worth of bytes and dropped CLOSE_TIMEOUT_SECONDS later if it does not answer.
  (uvicorn 0.55 answers an oversized handshake with 431 itself.)

They override uvicorn's protocol classes, which are not a public API (pyproject.toml bounds
uvicorn above): the project's tests (tests/test_server.py) run a real uvicorn with them,
so an upgrade that breaks them fails there. When raising the bound, compare
WebSocketsSansIOProtocol.handle_events, data_received and send (close_timeout) and
HttpToolsProtocol.data_received and on_headers_complete with what these classes assume.
"""

import asyncio
import logging
import time
from typing import Any

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

logger = logging.getLogger(__name__)

# A head past this is refused: a browser's request with its cookies is a few KiB; proxies
# in front refuse far less (nginx: 8 KiB a line).
MAX_HEAD_BYTES = 32 * 1024
# From a request's first byte (or the connection's opening) to the end of its head.
HEAD_TIMEOUT_SECONDS = 10.0
# How long a socket the server closed may take to answer the close frame.
CLOSE_TIMEOUT_SECONDS = 1.0
# Bytes parsed at a time: a slice of tiny frames costs a few milliseconds at most.
PARSE_SLICE_BYTES = 4096
# At most one log line this often for refusals that a flood repeats.
REFUSAL_LOG_SECONDS = 10.0


class ThrottledWarning:
    """A warning logged at most once per REFUSAL_LOG_SECONDS, with the count since."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.count = 0
        self.logged_at = -REFUSAL_LOG_SECONDS

    def __call__(self, detail: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.logged_at >= REFUSAL_LOG_SECONDS:
            logger.warning(
                "%s: %d since the last such line, the latest %s", self.message, self.count, detail
            )
            self.count = 0
            self.logged_at = now


too_many_connections = ThrottledWarning("Refused connections past WEB_MAX_CONNECTIONS")
too_many_frames = ThrottledWarning("Closed websockets past WS_MAX_FRAMES_PER_SECOND with 1008")


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
        limit = settings.WEB_MAX_CONNECTIONS
        if limit and len(self.server_state.connections) > limit:
            too_many_connections(self._client())
            self._answer(503, "Service Unavailable")
            return
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

    def _client(self) -> str:
        return "%s:%d" % self.client if self.client else "?"  # noqa: UP031

    def _refuse(self, status: int, reason: str) -> None:
        logger.warning("Refused a request from %s: %d %s", self._client(), status, reason)
        self._answer(status, reason)

    def _answer(self, status: int, reason: str) -> None:
        self._refused = True
        self._cancel_head_timer()
        body = reason.encode("ascii")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status, reason.encode("ascii"), len(body), body)
        )
        self.transport.close()


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets (sans-I/O) protocol with a frame rate per socket, input parsed a
    slice at a time, and a short, bounded close.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.close_timeout = CLOSE_TIMEOUT_SECONDS
        self.max_frames_per_second: int = settings.WS_MAX_FRAMES_PER_SECOND
        self._window_start = 0.0
        self._window_frames = 0
        # After the server's close: one more message and the client's close frame, no more.
        self._readable_after_close = self.config.ws_max_size + 1024

    def data_received(self, data: bytes) -> None:
        if len(data) <= PARSE_SLICE_BYTES and not self.close_sent:
            super().data_received(data)  # the usual case: one small message
            return
        for start in range(0, len(data), PARSE_SLICE_BYTES):
            if self.transport.is_closing():
                return
            piece = data[start : start + PARSE_SLICE_BYTES]
            if self.close_sent and self.handshake_complete:
                self._readable_after_close -= len(piece)
                if self._readable_after_close < 0:
                    self.transport.close()
                    return
            super().data_received(piece)

    def handle_events(self) -> None:
        events = self.conn.events_received()
        # Once the handshake is in, every event is a frame.
        if self.handshake_initiated and events and self._over_frame_rate(len(events)):
            self._close_flooded()
            return
        # uvicorn's own dispatch (WebSocketsSansIOProtocol.handle_events), over these events;
        # after the server's close frame, only the client's close frame is read.
        for event in events:
            if isinstance(event, Request):
                self.handle_connect(event)
            elif not isinstance(event, Frame) or (self.close_sent and event.opcode != Opcode.CLOSE):
                continue
            elif event.opcode == Opcode.CONT:
                self.handle_cont(event)
            elif event.opcode == Opcode.TEXT:
                self.handle_text(event)
            elif event.opcode == Opcode.BINARY:
                self.handle_bytes(event)
            elif event.opcode == Opcode.PING:
                self.handle_ping()
            elif event.opcode == Opcode.PONG:
                self.handle_pong(event)
            elif event.opcode == Opcode.CLOSE:
                self.handle_close(event)

    def _over_frame_rate(self, frames: int) -> bool:
        if not self.max_frames_per_second:
            return False
        now = self.loop.time()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_frames = now, 0
        self._window_frames += frames
        return self._window_frames > self.max_frames_per_second

    def _close_flooded(self) -> None:
        client = "%s:%d" % self.client if self.client else "?"  # noqa: UP031
        too_many_frames(client)
        if not self.close_sent:
            self.conn.fail(1008, "Too many frames")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            if self.handshake_complete and self.initial_response is None:
                self.queue.put_nowait({"type": "websocket.disconnect", "code": 1008})
        self.transport.close()
