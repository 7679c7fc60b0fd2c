from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...broadcast import broadcast


class Command(BaseCommand):
    help = "Send a chat message to every member of a room."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("room", help="room name, e.g. lobby")
        parser.add_argument("message", help="the text to send")

    def handle(self, *args: Any, room: str, message: str, **options: Any) -> None:
        try:
            broadcast(room, message)
        except ValueError as error:  # broadcast() says what is wrong with the room or text
            raise CommandError(str(error)) from None
        if isinstance(get_channel_layer(), InMemoryChannelLayer):
            self.stderr.write(
                "Warning: the in-memory channel layer reaches only this process, not the "
                "server's clients. Set REDIS_URL to reach them."
            )
        self.stdout.write(f"Sent to room {room}.")
