"""The chat protocol in one place: room names, message types, error and close codes.

Client to server::

    {"type": "chat.message", "message": "<text>"}
    {"type": "ping"}

Server to client::

    {"type": "chat.message", "message": "<text>", "user": "<name>", "room": "<room>"}
    {"type": "pong"}
    {"type": "error", "code": "<ErrorCode>", "detail": "<human-readable>"}
"""

import re
from enum import IntEnum, StrEnum

# A room name is safe in a URL and in a channel-layer group name (ASCII, under 100 chars).
ROOM_NAME_PATTERN = r"[A-Za-z0-9_-]{1,64}"
_ROOM_NAME = re.compile(ROOM_NAME_PATTERN)

# The sender name of messages pushed by the server itself (see broadcast.py).
SERVER_USER = "server"


class CloseCode(IntEnum):
    """Application close codes (4000-4999), modelled on the matching HTTP statuses."""

    TOO_MANY_BAD_MESSAGES = 4400
    UNAUTHENTICATED = 4401
    RATE_LIMITED = 4429


class ErrorCode(StrEnum):
    BINARY_FRAME = "binary_frame"
    EMPTY_FRAME = "empty_frame"
    FRAME_TOO_LARGE = "frame_too_large"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    MESSAGE_TOO_LONG = "message_too_long"
    RATE_LIMITED = "rate_limited"


def is_valid_room_name(name: str) -> bool:
    return _ROOM_NAME.fullmatch(name) is not None


def group_name(room_name: str) -> str:
    """The channel-layer group of a room."""
    return f"chat.{room_name}"
