"""Shared fixtures: handshake headers, websocket communicators."""

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application

from .support import ORIGIN

Headers = list[tuple[bytes, bytes]]
Connect = Callable[..., Awaitable[tuple[WebsocketCommunicator, bool]]]
{%- if cookiecutter.use_auth %}


@pytest.fixture
def ws_headers(client, django_user_model) -> Headers:
    """Handshake headers of a logged-in user ("alice"), whom websockets require."""
    user = django_user_model.objects.create_user("alice", password="correct horse battery")
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
{%- else %}


@pytest.fixture
def ws_headers() -> Headers:
    """Handshake headers of a browser page served by this site."""
    return [ORIGIN]
{%- endif %}


@pytest.fixture
def page_client(client, django_user_model):
    """A test client that may see every page (logged in, where the project requires it)."""
    client.force_login(django_user_model.objects.create_user("carol"))
    return client


@pytest.fixture
async def connect(ws_headers: Headers) -> AsyncIterator[Connect]:
    """Open websockets through the real ASGI stack; every one is disconnected afterwards."""
    communicators: list[WebsocketCommunicator] = []

    async def _connect(
        path: str, *, headers: Headers | None = None, app=application
    ) -> tuple[WebsocketCommunicator, bool]:
        """Open a websocket; returns it and whether the handshake was accepted."""
        headers = ws_headers if headers is None else headers
        communicator = WebsocketCommunicator(app, path, headers=headers)
        communicators.append(communicator)
        connected, _ = await communicator.connect()
        return communicator, connected

    yield _connect
    for communicator in communicators:
        await communicator.disconnect()
