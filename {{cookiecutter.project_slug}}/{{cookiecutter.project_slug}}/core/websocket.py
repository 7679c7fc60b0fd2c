"""Websocket plumbing shared by every app: the base of every consumer (SocketConsumer),
origin checks, refusal of unknown paths, and an opt-in speed-up for consumers that keep
database work in database_sync_to_async.
"""

import asyncio
import logging
from contextvars import ContextVar
from typing import Any
from urllib.parse import ParseResult

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import OriginValidator
from django.conf import settings
from uvicorn.protocols.utils import ClientDisconnected

logger = logging.getLogger(__name__)

# A websocket message's size in bytes when no application bounds it more tightly.
DEFAULT_MAX_FRAME_BYTES = 64 * 1024


def max_frame_bytes(max_message_chars: int | None = None) -> int:
    """Return the size of the largest frame that can carry a JSON message whose text has
    `max_message_chars` characters: 12 bytes a character (one outside the BMP, escaped as a
    \\uXXXX pair), plus 1 KiB for the rest of the object. DEFAULT_MAX_FRAME_BYTES if None.
    """
    if max_message_chars is None:
        return DEFAULT_MAX_FRAME_BYTES
    return 12 * max_message_chars + 1024


# What the servers raise from a send to a client already gone: uvicorn's ClientDisconnected
# (which uvicorn ignores) and daphne's, autobahn's Disconnected (which daphne logs as an
# exception inside the application).
CLIENT_GONE = (ClientDisconnected, Disconnected)
# The close code disconnect() is given when the socket ended without a close frame.
ABNORMAL_CLOSURE = 1006
# Cleanup that cannot reach the channel layer in this time gives up (group expiry then
# removes what it could not).
CLEANUP_TIMEOUT_SECONDS = 5.0


class GroupRenewal:
    """The group memberships of this process's sockets, renewed in the channel layer a third
    of WS_GROUP_EXPIRY_SECONDS apart, so that they outlive the group expiry while their
    sockets live and no longer than it once their process is gone. Also where a socket's
    groups are remembered until it leaves them (no copy on the consumer: an idle socket's
    memory is mostly such small structures).

    One task per process does it, in one round trip per Redis host where the layer can
    (config/redis.py's refresh_groups), else one group_add per membership.
    """

    def __init__(self) -> None:
        # Per channel layer: each socket's channel and the groups it has joined.
        self.members: dict[Any, dict[str, list[str]]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, layer: Any, group: str, channel: str) -> None:
        groups = self.members.setdefault(layer, {}).setdefault(channel, [])
        if group not in groups:
            groups.append(group)
        if self._task is None or self._task.done() or self._task.get_loop().is_closed():
            self._task = asyncio.get_running_loop().create_task(self._renew_forever())

    def discard(self, layer: Any, group: str, channel: str) -> None:
        groups = self.members.get(layer, {}).get(channel)
        if groups is not None and group in groups:
            groups.remove(group)
            if not groups:
                self.forget(layer, channel)

    def forget(self, layer: Any, channel: str) -> list[str]:
        """Stop renewing `channel`'s memberships; returns its groups."""
        channels = self.members.get(layer, {})
        groups = channels.pop(channel, [])
        if not channels:
            self.members.pop(layer, None)
        return groups

    def memberships(self, layer: Any) -> set[tuple[str, str]]:
        """The (group, channel) memberships of this process in `layer`."""
        channels = self.members.get(layer, {})
        return {(group, channel) for channel, groups in channels.items() for group in groups}

    async def _renew_forever(self) -> None:
        while self.members:
            await asyncio.sleep(settings.WS_GROUP_EXPIRY_SECONDS / 3)
            await self.renew()
        self._task = None

    async def renew(self) -> None:
        """Renew every membership of this process now."""
        for layer in list(self.members):
            renewed = self.memberships(layer)
            try:
                refresh = getattr(layer, "refresh_groups", None)
                if refresh is not None:
                    await refresh(renewed)
                else:
                    for group, channel in renewed:
                        await layer.group_add(group, channel)
                # A socket that left while this ran was added back: take it out again.
                for group, channel in renewed - self.memberships(layer):
                    await layer.group_discard(group, channel)
            except Exception:
                logger.exception("Could not renew %d group memberships", len(renewed))


group_renewal = GroupRenewal()


class SocketConsumer(AsyncWebsocketConsumer):
    """The base of the project's websocket consumers: groups joined with join() are kept
    alive while the socket lives and left when it ends, and disconnect() runs once however
    it ends (a close frame, a connection lost without one, a send to a peer already gone,
    a close by the server, a stopping or cancelled task). A send to a peer already gone
    ends the consumer quietly (CLIENT_GONE), and its cleanup runs on the way out.
    """

    _disconnected = False
    # True once close() is sent: nothing more reaches the client, and a consumer stops
    # handling what it receives.
    closing = False

    async def join(self, group: str) -> None:
        """Add this socket to `group` until it ends (or leave() is called)."""
        group_renewal.add(self.channel_layer, group, self.channel_name)
        await self.channel_layer.group_add(group, self.channel_name)

    async def leave(self, group: str) -> None:
        """Take this socket out of `group`."""
        group_renewal.discard(self.channel_layer, group, self.channel_name)
        await self.channel_layer.group_discard(group, self.channel_name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except CLIENT_GONE:
            pass  # a send to a client already gone: the socket has ended, nothing failed
        finally:
            await self._end()

    async def _end(self) -> None:
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT_SECONDS):
                if not self._disconnected:
                    self._disconnected = True
                    await self.disconnect(ABNORMAL_CLOSURE)
        except Exception:
            logger.exception("disconnect() failed for %s", self.scope.get("path"))
        finally:
            await self._leave_all()

    async def _leave_all(self) -> None:
        if getattr(self, "channel_layer", None) is None:
            return
        # The layer may keep messages for this channel (config/redis.py): no more.
        channel_closed = getattr(self.channel_layer, "channel_closed", None)
        if channel_closed is not None:
            channel_closed(self.channel_name)
        groups = group_renewal.forget(self.channel_layer, self.channel_name)
        try:
            async with asyncio.timeout(CLEANUP_TIMEOUT_SECONDS):
                for group in groups:
                    await self.channel_layer.group_discard(group, self.channel_name)
        except Exception:
            logger.warning("Could not leave %s; the group expiry will", ", ".join(groups))

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        self._disconnected = True
        await super().websocket_disconnect(message)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        if self.closing:
            return
        self.closing = True
        await super().close(code=code, reason=reason)
        # Nothing more reaches the server: a group message arriving for this socket now is
        # dropped, as for a member that has left (uvicorn raises on a send after a close).
        self.base_send = _dropped


async def _dropped(message: dict[str, Any]) -> None:
    """Stands in for the server's send once a consumer has closed its socket."""


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


class RefuseUnknownPathConsumer(SocketConsumer):
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
