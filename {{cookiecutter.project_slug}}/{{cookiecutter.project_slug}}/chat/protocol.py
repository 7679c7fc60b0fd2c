"""The chat protocol in one place: room names, frames and their validation, error and
close codes.

Client to server::

    {"type": "chat.message", "message": "<text>"}
    {"type": "ping"}

Server to client::

    {"type": "chat.message", "message": "<text>", "user": "<name>", "room": "<room>"}
    {"type": "pong"}
    {"type": "error", "code": "<ErrorCode>", "detail": "<human-readable>"}
"""

import json
import re
import unicodedata
from enum import IntEnum, StrEnum
from typing import Any

from {{ cookiecutter.project_slug }}.core.websocket import max_frame_bytes

Payload = dict[str, Any]

# A room name is safe in a URL and in a channel-layer group name (ASCII, under 100 chars).
# The same pattern serves Python, the URL routes and HTML's pattern attribute (whose
# regular expressions want the "-" in a class escaped).
MAX_ROOM_NAME_CHARS = 64
ROOM_NAME_PATTERN = r"[A-Za-z0-9_\-]{1," + str(MAX_ROOM_NAME_CHARS) + "}"
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
    DELIVERY_FAILED = "delivery_failed"


class ProtocolError(Exception):
    """A client's frame breaks the protocol; the consumer answers with an error event."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def decode(text_data: str | None, *, max_message_chars: int) -> Payload:
    """The JSON object a client's text frame holds (None: the frame was binary);
    ProtocolError for anything else.
    """
    if text_data is None:
        raise ProtocolError(ErrorCode.BINARY_FRAME, "Send JSON in text frames, not binary.")
    if not text_data:
        raise ProtocolError(ErrorCode.EMPTY_FRAME, "Empty frame.")
    # Longer than any valid message can be spelt: refused before parsing. (The production
    # server refuses such a frame itself, with 1009; daphne lets it through.)
    if len(text_data) > max_frame_bytes(max_message_chars):
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


def chat_text(payload: Payload, *, max_message_chars: int) -> str:
    """The text of a chat.message frame; ProtocolError unless it is one a room may see."""
    message = payload.get("message")
    if not isinstance(message, str):
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, "'message' must be a string.")
    if len(message) > max_message_chars:
        raise ProtocolError(
            ErrorCode.MESSAGE_TOO_LONG, f"'message' is longer than {max_message_chars} characters."
        )
    problem = text_problem(message)
    if problem:
        raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"'message' {problem}.")
    return message


# Characters a message may hold although Unicode calls them control characters.
ALLOWED_CONTROLS = frozenset("\n\t")
# General categories of characters someone can see. Spaces, separators, format characters
# (zero-width spaces and joiners, bidi controls) and marks with nothing to mark alone make
# a message that looks empty.
VISIBLE_CATEGORIES = frozenset(
    {
        *("Lu", "Ll", "Lt", "Lm", "Lo"),  # letters
        *("Nd", "Nl", "No"),  # numbers
        *("Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po"),  # punctuation
        *("Sm", "Sc", "Sk", "So"),  # symbols, emoji among them
        "Co",  # private use
    }
)
# Bidirectional controls that open a context, by the character that must close it.
BIDI_OPENERS = {
    "\u202a": "\u202c",  # LEFT-TO-RIGHT EMBEDDING ... POP DIRECTIONAL FORMATTING
    "\u202b": "\u202c",  # RIGHT-TO-LEFT EMBEDDING
    "\u202d": "\u202c",  # LEFT-TO-RIGHT OVERRIDE
    "\u202e": "\u202c",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066": "\u2069",  # LEFT-TO-RIGHT ISOLATE ... POP DIRECTIONAL ISOLATE
    "\u2067": "\u2069",  # RIGHT-TO-LEFT ISOLATE
    "\u2068": "\u2069",  # FIRST STRONG ISOLATE
}
BIDI_CLOSERS = frozenset(BIDI_OPENERS.values())


def is_unicode(text: str) -> bool:
    """Whether `text` can be sent at all: a lone surrogate (valid in JSON's escapes) has
    no UTF-8 form, and a server would fail on it while sending a frame.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_problem(text: str) -> str | None:
    """What makes `text` unfit to show to a room, or None: it must be valid Unicode (no
    lone surrogates), hold no control character but newline and tab, show at least one
    visible character, and close every bidirectional embedding, override or isolate it
    opens, in order, so it cannot reverse what is displayed after it.
    """
    if not is_unicode(text):
        return "must be valid Unicode (no lone surrogates)"
    if any(unicodedata.category(c) == "Cc" and c not in ALLOWED_CONTROLS for c in text):
        return "must not hold control characters (newline and tab are allowed)"
    if not any(unicodedata.category(c) in VISIBLE_CATEGORIES for c in text):
        return "must hold at least one visible character"
    open_contexts: list[str] = []
    for character in text:
        if character in BIDI_OPENERS:
            open_contexts.append(BIDI_OPENERS[character])
        elif character in BIDI_CLOSERS:
            expected = open_contexts.pop() if open_contexts else None
            if character != expected:
                return "closes a bidirectional context it did not open"
    if open_contexts:
        return "leaves a bidirectional embedding, override or isolate open"
    return None


def encode(payload: Payload) -> str:
    """A server frame: compact JSON, non-ASCII text as it is."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def check_room_name(name: str) -> str:
    """`name` if it is a valid room name; ValueError saying what one looks like otherwise."""
    if _ROOM_NAME.fullmatch(name) is None:
        raise ValueError(
            f"Invalid room name {name!r}: use 1 to {MAX_ROOM_NAME_CHARS} of A-Z a-z 0-9 _ -"
        )
    return name


def group_name(room_name: str) -> str:
    """The channel-layer group of a room."""
    return f"chat.{room_name}"
