"""Websocket plumbing shared by every app: origin checks, refusal of unknown paths, and
an opt-in speed-up for consumers that keep database work in database_sync_to_async.
"""

import logging
from contextvars import ContextVar
from typing import Any
from urllib.parse import ParseResult

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings

logger = logging.getLogger(__name__)

# The path of the handshake being validated, for the log line (each connection has its own task).
_handshake_path: ContextVar[str] = ContextVar("handshake_path", default="?")


class LoggingOriginValidator(OriginValidator):
    """Channels' OriginValidator, which refuses silently; this one says why (channels#2062)."""

    def __init__(self, application: Any, allowed_origins: list[str], rule: str) -> None:
        super().__init__(application, allowed_origins)
        self.rule = rule

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        _handshake_path.set(scope.get("path", "?"))
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        valid = super().valid_origin(parsed_origin)
        if not valid:
            origin = parsed_origin.geturl() if parsed_origin else None
            logger.warning(
                "Refused websocket to %s: origin %r is not %s",
                _handshake_path.get(),
                origin,
                self.rule,
            )
        return valid


def AllowedHostsOriginValidator(application: Any) -> LoggingOriginValidator:  # noqa: N802
    """Like channels.security.websocket.AllowedHostsOriginValidator, with a log line per
    refusal, and exact origins where the settings give them.

    With WEBSOCKET_ALLOWED_ORIGINS (production.py), an Origin must match one of them by
    scheme, host and port: `https://<an allowed host>` or a trusted origin. Without it
    (local development), by host only, as Channels does. A missing or "null" Origin is
    refused either way. The settings are read once, here.
    """
    origins = getattr(settings, "WEBSOCKET_ALLOWED_ORIGINS", None)
    if origins is not None:
        rule = "an https:// origin of ALLOWED_HOSTS or in CSRF_TRUSTED_ORIGINS"
        return LoggingOriginValidator(application, origins, rule)
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return LoggingOriginValidator(application, allowed_hosts, "in ALLOWED_HOSTS")


class RefuseUnknownPathConsumer(AsyncWebsocketConsumer):
    """Last websocket route: closing before accept() makes the handshake fail with 403."""

    async def connect(self) -> None:
        logger.info("Refused websocket to unknown path %s", self.scope.get("path"))
        await self.close()


class SkipDatabaseCleanupMixin:
    """Opt-in for async consumers: dispatch each message without Channels' per-message
    database clean-up.

    Since Channels 4.2, every message first runs close_old_connections() in a worker
    thread: a thread hop that costs more CPU than the rest of a small message (about
    half the server CPU of a ping; the template's benchmark measures it). A consumer
    whose handlers reach the database only through channels.db.database_sync_to_async
    does not need it: that wrapper runs the same clean-up around each call, in the
    thread that uses the connection (tests/test_websocket.py holds it to that).

    Use it only under that rule: `class MyConsumer(SkipDatabaseCleanupMixin,
    AsyncWebsocketConsumer)`. A handler that queries the database in any other way
    could be handed a connection the database has already closed.
    """

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
