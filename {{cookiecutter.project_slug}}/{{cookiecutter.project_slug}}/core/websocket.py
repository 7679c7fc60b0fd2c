"""Websocket plumbing shared by every app: origin checks and refusal of unknown paths."""

import logging
from contextvars import ContextVar
from typing import Any
from urllib.parse import ParseResult

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings

logger = logging.getLogger(__name__)

# The path of the handshake being validated, for the log line (each connection has its own task).
_handshake_path: ContextVar[str] = ContextVar("handshake_path", default="?")


class LoggingOriginValidator(OriginValidator):
    """Channels' OriginValidator, which refuses silently; this one says why (channels#2062)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        _handshake_path.set(scope.get("path", "?"))
        return await super().__call__(scope, receive, send)

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        valid = super().valid_origin(parsed_origin)
        if not valid:
            origin = parsed_origin.geturl() if parsed_origin else None
            logger.warning(
                "Refused websocket to %s: origin %r is not in ALLOWED_HOSTS",
                _handshake_path.get(),
                origin,
            )
        return valid


def AllowedHostsOriginValidator(application: Any) -> LoggingOriginValidator:  # noqa: N802
    """Like channels.security.websocket.AllowedHostsOriginValidator, with a log line per refusal.

    A missing or "null" Origin is refused too. ALLOWED_HOSTS is read once, here.
    """
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return LoggingOriginValidator(application, allowed_hosts)


class RefuseUnknownPathConsumer(AsyncWebsocketConsumer):
    """Last websocket route: closing before accept() makes the handshake fail with 403."""

    async def connect(self) -> None:
        logger.info("Refused websocket to unknown path %s", self.scope.get("path"))
        await self.close()
