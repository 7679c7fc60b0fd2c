"""Server push: send a chat message to a room from ordinary synchronous code.

    from {{ cookiecutter.project_slug }}.chat.broadcast import broadcast

    broadcast("lobby", "Deploy finished")

Works from a view, a signal handler, a task or a script. With the Redis channel layer
it reaches every server process; with the in-memory layer only consumers of the
calling process. Delivery is at most once: a member whose channel is full, or that is
reconnecting, misses the message.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from .protocol import SERVER_USER, check_room_name, group_name, text_problem


def broadcast(room_name: str, message: str, *, user: str = SERVER_USER) -> None:
    """Send `message` to every member of `room_name` as a chat.message event.

    ValueError, saying why, for a name no room can have or a text no client may send
    (the rules of protocol.text_problem).
    """
    check_room_name(room_name)
    problem = text_problem(message)
    if problem:
        raise ValueError(f"Invalid message: it {problem}")
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    event = {"type": "chat.message", "message": message, "user": user}
    async_to_sync(layer.group_send)(group_name(room_name), event)
