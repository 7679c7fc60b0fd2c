"""The chat consumer: one instance per websocket connection.

Every frame is decoded and validated at the edge (protocol.py); bad input is answered
with an error event and never crashes the consumer. Limits come from settings (WS_*).
"""

import logging
{% if cookiecutter.use_auth -%}
from collections.abc import Awaitable, Callable
{% else -%}
import secrets
{% endif -%}
from typing import ClassVar

from django.conf import settings

{% if cookiecutter.use_auth -%}
from {{ cookiecutter.project_slug }}.core.sessions import SessionBoundMixin
{% endif -%}
from {{ cookiecutter.project_slug }}.core.websocket import SkipDatabaseCleanupMixin, SocketConsumer

from .protocol import (
    CloseCode,
    ErrorCode,
    Payload,
    ProtocolError,
    chat_text,
    decode,
    encode,
    group_name,
    is_unicode,
)
from .ratelimit import Allowance, limits, user_key

logger = logging.getLogger(__name__)
{%- if cookiecutter.use_auth %}


class Membership(SessionBoundMixin):
    """Who may join: logged-in users, for as long as their session logs them in."""

    user_name: str
    closing: bool
    # Provided by the consumer this is mixed into (AsyncWebsocketConsumer, ChatConsumer).
    accept: Callable[[], Awaitable[None]]
    close_with: Callable[[CloseCode], Awaitable[None]]

    async def admit(self) -> bool:
        user = self.scope["user"]
        if not user.is_authenticated:
            # Accept, then close with 4401: a refused handshake reaches a browser only as
            # 1006, which the client could not tell apart from "offline".
            await self.accept()
            await self.close_with(CloseCode.UNAUTHENTICATED)
            return False
        self.user_name = user.get_username()
        return True

    async def on_session_end(self) -> None:
        if not self.closing:
            await self.close_with(CloseCode.UNAUTHENTICATED)
{%- else %}


class Membership:
    """Who may join: anyone, under a random guest name."""

    user_name: str

    async def admit(self) -> bool:
        self.user_name = f"guest-{secrets.token_hex(3)}"
        return True

    async def bind_to_session(self) -> None:
        """Guests have no session to end."""

    async def unbind_from_session(self) -> None:
        """Guests have no session to end."""
{%- endif %}


class ChatConsumer(SkipDatabaseCleanupMixin, Membership, SocketConsumer):
    """A member of one room. Its handlers never touch the database (see the mixin).
    SocketConsumer runs disconnect() and leaves the groups however the socket ends.
    """

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
    bad_messages = 0
    # This user's limits (ratelimit.py), set while the socket counts against them.
    allowance: Allowance | None = None

    async def connect(self) -> None:
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        if not await self.admit():
            return
        allowance = limits.allowance(
            user_key(self.scope), settings.WS_RATE_PER_SECOND, settings.WS_RATE_BURST
        )
        most = settings.WS_MAX_CONNECTIONS_PER_USER
        if most and allowance.sockets >= most:
            await self.accept()
            await self.close_with(CloseCode.RATE_LIMITED)
            return
        # Counted before the first await, so that concurrent handshakes see each other;
        # disconnect() gives it back, even when this fails halfway.
        allowance.sockets += 1
        self.allowance = allowance
        self.group = group_name(self.room_name)
        await self.join(self.group)
        await self.bind_to_session()
        await self.accept()

    async def disconnect(self, code: int) -> None:
        self.release_allowance()
        await self.unbind_from_session()

    def release_allowance(self) -> None:
        if self.allowance is not None:
            self.allowance.sockets -= 1
            self.allowance = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing or self.allowance is None:
            return
        bucket = self.allowance.bucket
        if bucket is not None and not bucket.take():
            await self.send_error(ErrorCode.RATE_LIMITED, "Too many messages: slow down.")
            await self.close_with(CloseCode.RATE_LIMITED)
            return
        try:
            payload = decode(text_data, max_message_chars=settings.WS_MAX_MESSAGE_CHARS)
            message_type = payload.get("type")
            handler = self.handlers.get(message_type) if isinstance(message_type, str) else None
            if handler is None:
                allowed = ", ".join(sorted(self.handlers))
                raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"'type' must be one of: {allowed}.")
            await getattr(self, handler)(payload)
        except ProtocolError as error:
            await self.reject(error)

    async def reject(self, error: ProtocolError) -> None:
        self.bad_messages += 1
        await self.send_error(error.code, error.detail)
        if self.bad_messages >= settings.WS_MAX_BAD_MESSAGES:
            await self.close_with(CloseCode.TOO_MANY_BAD_MESSAGES)

    async def close_with(self, code: CloseCode) -> None:
        logger.info("Closing websocket %s with %d (%s)", self.scope["path"], code, code.name)
        # A plain int: daphne (autobahn) refuses int subclasses such as IntEnum members.
        await self.close(code=int(code))

    async def send_error(self, code: ErrorCode, detail: str) -> None:
        await self.send(text_data=encode({"type": "error", "code": code, "detail": detail}))

    # Client message handlers: one per type in self.handlers.

    async def handle_chat_message(self, payload: Payload) -> None:
        message = chat_text(payload, max_message_chars=settings.WS_MAX_MESSAGE_CHARS)
        event = {"type": "chat.message", "message": message, "user": self.user_name}
        try:
            await self.channel_layer.group_send(self.group, event)
        except Exception:
            # The layer could not encode or deliver this event (Redis away, say): the
            # sender hears of it, no other member is touched, and it is not the client's
            # fault, so it does not count as a bad message.
            logger.exception("Could not send a chat message to %s", self.group)
            await self.send_error(
                ErrorCode.DELIVERY_FAILED, "The message could not be delivered; try again."
            )

    async def handle_ping(self, payload: Payload) -> None:
        await self.send(text_data=encode({"type": "pong"}))

    # Channel-layer event handlers (group_send "type" with "." replaced by "_").

    async def chat_message(self, event: Payload) -> None:
        if not is_unicode(event["message"]):
            # Only server code bypassing broadcast() can get here (text_problem checked
            # what clients send): drop the event for this member rather than let the
            # server fail to encode the frame and close the socket. Cheap on purpose: it
            # runs once per member of the room.
            logger.warning("Dropped a chat.message for %s: not valid Unicode", self.group)
            return
        await self.send(
            text_data=encode(
                {
                    "type": "chat.message",
                    "message": event["message"],
                    "user": event["user"],
                    "room": self.room_name,
                }
            )
        )
