"""An SMTP server of the test's own on loopback (aiosmtpd): what a project sends through
EMAIL_URL arrives here, as parsed messages.
"""

import email
import email.policy
import time
from email.message import EmailMessage
from typing import Any, Self

from aiosmtpd.controller import Controller

from harness import HarnessError
from harness.servers import HOST, free_port


class MailSink:
    """Accepts every message; `url` is the project's EMAIL_URL for it."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = free_port()
        self.controller = Controller(self, hostname=HOST, port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://{HOST}:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 15) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise HarnessError(f"{len(self.messages)} messages arrived, not {count}")
            time.sleep(0.05)
        return self.messages[:count]

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.controller.stop()
