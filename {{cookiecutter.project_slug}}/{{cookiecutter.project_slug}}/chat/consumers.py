"""The chat consumer: one instance per websocket connection.

Every frame is decoded and validated here, at the edge; bad input is answered with an
error event and never crashes the consumer. Limits come from settings (WS_*).
"""

import json
import logging
{% if not cookiecutter.use_auth -%}
import secrets
{% endif -%}
import time
from typing import Any, ClassVar

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from .protocol import CloseCode, ErrorCode, group_name

logger = logging.getLogger(__name__)

Payload = dict[str, Any]


class ProtocolError(Exception):
    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class TokenBucket:
    """Allows `rate` frames per second on average and bursts of up to `burst` frames."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _dumps(payload: Payload) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class ChatConsumer(AsyncWebsocketConsumer):
    # Client message types and the methods that handle them. Class-level, like every
    # other piece of per-connection state that does not vary: an idle connection should
    # cost as little memory as the Channels tutorial's (docs of the template's benchmark).
    handlers: ClassVar[dict[str, str]] = {
        "chat.message": "handle_chat_message",
        "ping": "handle_ping",
    }
    room_name: str
    group: str
    user_name: str
    closing = False
    bad_messages = 0
    bucket: TokenBucket | None = None

    async def connect(self) -> None:
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        rate: float = settings.WS_RATE_PER_SECOND
        if rate > 0:
            self.bucket = TokenBucket(rate, settings.WS_RATE_BURST)
{%- if cookiecutter.use_auth %}

        user = self.scope["user"]
        if not user.is_authenticated:
            # Accept, then close with 4401: a refused handshake reaches a browser only as
            # 1006, which the client could not tell apart from "offline".
            await self.accept()
            await self.close_with(CloseCode.UNAUTHENTICATED)
            return
        self.user_name = user.get_username()
{%- else %}

        self.user_name = f"guest-{secrets.token_hex(3)}"
{%- endif %}

        self.group = group_name(self.room_name)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def dispatch(self, message: Payload) -> None:
        """Channels' dispatch, without its per-message database clean-up.

        Channels (4.2+) runs close_old_connections() in a worker thread before every
        message, a thread hop that costs more CPU than the rest of a ping. This consumer
        does not touch the database. Code added to it must reach the database through
        channels.db.database_sync_to_async, which does that clean-up itself, around each
        call (tests/test_chat.py holds it to that).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        if self.bucket is not None and not self.bucket.take():
            await self.send_error(ErrorCode.RATE_LIMITED, "Too many messages: slow down.")
            await self.close_with(CloseCode.RATE_LIMITED)
            return
        try:
            payload = self.decode(text_data, bytes_data)
            message_type = payload.get("type")
            handler = self.handlers.get(message_type) if isinstance(message_type, str) else None
            if handler is None:
                allowed = ", ".join(sorted(self.handlers))
                raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"'type' must be one of: {allowed}.")
            await getattr(self, handler)(payload)
        except ProtocolError as error:
            await self.reject(error)

    def decode(self, text_data: str | None, bytes_data: bytes | None) -> Payload:
        if text_data is None:
            raise ProtocolError(ErrorCode.BINARY_FRAME, "Send JSON in text frames, not binary.")
        if not text_data:
            raise ProtocolError(ErrorCode.EMPTY_FRAME, "Empty frame.")
        # JSON may spell one character with up to 12 (a \\uXXXX surrogate pair); anything
        # longer than that cannot hold a valid message and is refused before parsing.
        if len(text_data) > 12 * settings.WS_MAX_MESSAGE_CHARS + 1024:
            raise ProtocolError(ErrorCode.FRAME_TOO_LARGE, "Frame too large.")
        try:
            payload = json.loads(text_data)
        except (ValueError, RecursionError):
            # ValueError covers malformed JSON and integers over 4,300 digits;
            # RecursionError covers deeply nested arrays and objects.
            raise ProtocolError(ErrorCode.INVALID_JSON, "Frame is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise ProtocolError(ErrorCode.NOT_AN_OBJECT, "Send a JSON object with a 'type'.")
        return payload

    async def reject(self, error: ProtocolError) -> None:
        self.bad_messages += 1
        await self.send_error(error.code, error.detail)
        if self.bad_messages >= settings.WS_MAX_BAD_MESSAGES:
            await self.close_with(CloseCode.TOO_MANY_BAD_MESSAGES)

    async def close_with(self, code: CloseCode) -> None:
        logger.info("Closing websocket %s with %d (%s)", self.scope["path"], code, code.name)
        self.closing = True
        # A plain int: daphne (autobahn) refuses int subclasses such as IntEnum members.
        await self.close(code=int(code))

    async def send_error(self, code: ErrorCode, detail: str) -> None:
        await self.send(text_data=_dumps({"type": "error", "code": code, "detail": detail}))

    # Client message handlers: one per type in self.handlers.

    async def handle_chat_message(self, payload: Payload) -> None:
        message = payload.get("message")
        if not isinstance(message, str) or not message.strip():
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, "'message' must be a non-empty string.")
        max_chars: int = settings.WS_MAX_MESSAGE_CHARS
        if len(message) > max_chars:
            raise ProtocolError(
                ErrorCode.MESSAGE_TOO_LONG, f"'message' is longer than {max_chars} characters."
            )
        event = {"type": "chat.message", "message": message, "user": self.user_name}
        await self.channel_layer.group_send(self.group, event)

    async def handle_ping(self, payload: Payload) -> None:
        await self.send(text_data=_dumps({"type": "pong"}))

    # Channel-layer event handlers (group_send "type" with "." replaced by "_").

    async def chat_message(self, event: Payload) -> None:
        await self.send(
            text_data=_dumps(
                {
                    "type": "chat.message",
                    "message": event["message"],
                    "user": event["user"],
                    "room": self.room_name,
                }
            )
        )
