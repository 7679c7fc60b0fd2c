from django.urls import re_path

from . import consumers
from .protocol import ROOM_NAME_PATTERN

# Where a room's socket is; the page's script is handed socket_path(), never a copy.
SOCKET_PREFIX = "ws/chat/"

websocket_urlpatterns = [
    re_path(
        rf"^{SOCKET_PREFIX}(?P<room_name>{ROOM_NAME_PATTERN})/$", consumers.ChatConsumer.as_asgi()
    ),
]


def socket_path(room_name: str) -> str:
    """The path of a room's websocket, as routed above."""
    return f"/{SOCKET_PREFIX}{room_name}/"
