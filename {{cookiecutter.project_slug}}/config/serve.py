"""The production server: `python -m config.serve [--host HOST] [--port PORT]`.

The one source of the server command and its limits: the Makefile's `serve` (`make serve
HOST=... PORT=...`), the Dockerfile's CMD and compose run this, and the project's tests
serve with server_options(). uvicorn, with the protocols of config/server.py; the limits
come from settings (WEB_MAX_CONNECTIONS, WS_MAX_FRAMES_PER_SECOND, WS_MAX_MESSAGE_CHARS),
so the environment sets them. docs/deploy.md lists every limit and why.

Environment uvicorn reads itself: WEB_CONCURRENCY (worker processes, default 1) and
FORWARDED_ALLOW_IPS (the proxies whose X-Forwarded-* headers are believed).
"""

import argparse
import os
from typing import Any

import django
import uvicorn
from django.conf import settings

from {{ cookiecutter.project_slug }}.core.websocket import max_frame_bytes

from config.server import HttpProtocol, WebSocketProtocol
from config.startup import load_settings_or_exit

APPLICATION = "config.asgi:application"
# On SIGTERM uvicorn closes every websocket with 1012 and waits for their consumers to
# finish (under a second, measured with 300 sockets): this only bounds a stuck one.
GRACEFUL_SHUTDOWN_SECONDS = 4


def server_options() -> dict[str, Any]:
    """uvicorn's options for this project, whatever the application and address."""
    return {
        "lifespan": "off",
        "http": HttpProtocol,
        "ws": WebSocketProtocol,
        # What the application accepts, no more: a larger message closes the socket (1009).
        "ws_max_size": max_frame_bytes(getattr(settings, "WS_MAX_MESSAGE_CHARS", None)),
        # Browsers offer compression; a compressed socket holds far more memory.
        "ws_per_message_deflate": False,
        "proxy_headers": True,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
        # Django's LOGGING formats uvicorn's records too: one format, one line each.
        "log_config": None,
        # Not uvicorn's limit_concurrency, which answers 503 to requests on connections
        # already open: HttpProtocol refuses new connections past WEB_MAX_CONNECTIONS.
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m config.serve", description=__doc__)
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    arguments = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")
    load_settings_or_exit()
    django.setup()  # LOGGING in place before uvicorn's first line
    uvicorn.run(APPLICATION, host=arguments.host, port=arguments.port, **server_options())


if __name__ == "__main__":
    main()
