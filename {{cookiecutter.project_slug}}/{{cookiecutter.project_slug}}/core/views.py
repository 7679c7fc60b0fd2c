"""Pages and the health check."""

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

# A check that takes longer than this counts as failed: a load balancer wants an answer.
CHECK_TIMEOUT_SECONDS = 3.0


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "core/home.html")


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


CHECKS = {"database": check_database, "channel_layer": check_channel_layer}


async def _run_check(name: str) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await CHECKS[name]()
    except Exception as exc:
        logger.warning("Health check %r failed", name, exc_info=True)
        return f"failed: {type(exc).__name__}"
    return "ok"


@login_not_required
@never_cache
@require_safe
async def health(request: HttpRequest) -> JsonResponse:
    """200 when the database and the channel layer both work, 503 naming what failed."""
    results = await asyncio.gather(*(_run_check(name) for name in CHECKS))
    checks = dict(zip(CHECKS, results, strict=True))
    healthy = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks},
        status=200 if healthy else 503,
    )
