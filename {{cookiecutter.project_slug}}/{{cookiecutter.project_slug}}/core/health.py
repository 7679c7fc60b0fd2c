"""The health check behind GET /health/, built to be probed hard.

Load balancers and container runtimes ask often, by IP, and an attacker can ask thousands of
times at once. So:

* one check at a time per process (single flight): concurrent requests wait for the check
  that is running and share its answer, so a flood costs the database and Redis no more
  than one probe does;
* its result is reused for HEALTH_CACHE_SECONDS (default 1): a flood of sequential requests
  costs at most one check per second;
* HealthCheckMiddleware answers /health/ before anything reads the Host header, so a probe
  by IP gets its answer while ALLOWED_HOSTS stays as strict as it is for every other URL.
"""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import markcoroutinefunction, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# A check that takes longer than this counts as failed: a load balancer wants an answer.
CHECK_TIMEOUT_SECONDS = 3.0
HEALTH_PATH = "/health/"


def _query_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def check_database() -> None:
    await sync_to_async(_query_database)()


async def check_channel_layer() -> None:
    """Send a message to a fresh channel and read it back through the configured layer."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer is configured")
    channel = await layer.new_channel()
    token = secrets.token_hex(8)
    await layer.send(channel, {"type": "health.check", "token": token})
    message = await layer.receive(channel)
    await _release(layer, channel)
    if message.get("token") != token:
        raise RuntimeError("the channel layer returned another message")


async def _release(layer: Any, channel: str) -> None:
    """Release the channel the way Channels does when a consumer exits: by cancelling a
    pending receive. The Redis pub/sub layer unsubscribes then; without this every health
    check would leave a subscription behind.
    """
    pending = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0)  # let it start waiting, so the cancellation runs its clean-up
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pending


CHECKS: dict[str, Callable[[], Awaitable[None]]] = {
    "database": check_database,
    "channel_layer": check_channel_layer,
}


async def _run_check(name: str) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await CHECKS[name]()
    except Exception as exc:
        logger.warning("Health check %r failed", name, exc_info=True)
        return f"failed: {type(exc).__name__}"
    return "ok"


async def run_checks() -> dict[str, str]:
    """Every check, concurrently: {name: "ok" or "failed: <exception class>"}."""
    results = await asyncio.gather(*(_run_check(name) for name in CHECKS))
    return dict(zip(CHECKS, results, strict=True))


class HealthMonitor:
    """Single flight and a short cache around run_checks(), for one server process."""

    def __init__(self) -> None:
        self._result: dict[str, str] | None = None
        self._finished_at = 0.0
        self._running: asyncio.Task[dict[str, str]] | None = None
        self.checks_run = 0

    async def results(self) -> dict[str, str]:
        cache_seconds = settings.HEALTH_CACHE_SECONDS
        if self._result is not None and time.monotonic() - self._finished_at < cache_seconds:
            return self._result
        running = self._running
        loop = asyncio.get_running_loop()
        # A task belongs to its event loop; the test suite runs several loops in turn.
        if running is None or running.done() or running.get_loop() is not loop:
            running = self._running = asyncio.ensure_future(self._check())
        # A waiter that gives up (its client left) must not cancel everyone else's check.
        return await asyncio.shield(running)

    async def _check(self) -> dict[str, str]:
        self.checks_run += 1
        result = await run_checks()
        self._result, self._finished_at = result, time.monotonic()
        return result

    def forget(self) -> None:
        """Drop the cached result (tests, and anything that knows the state changed)."""
        self._result = None


monitor = HealthMonitor()


@login_not_required
@never_cache
@require_safe
async def health(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer both work, 503 naming what failed."""
    checks = await monitor.results()
    healthy = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks},
        status=200 if healthy else 503,
    )


class HealthCheckMiddleware:
    """First in MIDDLEWARE: answers GET/HEAD /health/ with the health view, before the
    security, host and session middleware run. A probe asks by IP (the Host header of an
    internal address), and over plain HTTP behind a TLS proxy: neither may turn a healthy
    instance into a 400 or a redirect. Every other path goes on unchanged.
    """

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]):
        self.get_response = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path_info == HEALTH_PATH:
            return await health(request)
        return await self.get_response(request)
