"""Shared fixtures: handshake headers, websocket communicators."""

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application

from .support import ORIGIN, close_other_connections, require_database_server

Headers = list[tuple[bytes, bytes]]
Connect = Callable[..., Awaitable[tuple[WebsocketCommunicator, bool]]]
{%- if cookiecutter.use_auth %}


@pytest.fixture
def ws_headers(client, django_user_model) -> Headers:
    """Handshake headers of a logged-in user ("alice"), whom websockets require."""
    user = django_user_model.objects.create_user("alice", password="correct horse battery")
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


@pytest.fixture
def other_user(admin_client) -> dict[str, Any]:
    """connect() arguments of another user than ws_headers' ("admin", logged in)."""
    cookie = f"sessionid={admin_client.cookies['sessionid'].value}".encode()
    return {"headers": [ORIGIN, (b"cookie", cookie)]}
{%- else %}


@pytest.fixture
def ws_headers() -> Headers:
    """Handshake headers of a browser page served by this site."""
    return [ORIGIN]


@pytest.fixture
def other_user() -> dict[str, Any]:
    """connect() arguments of another user: guests are told apart by their address."""
    return {"client": ("192.0.2.7", 50000)}
{%- endif %}


@pytest.fixture(scope="session")
def database_server(django_db_blocker) -> None:
    with django_db_blocker.unblock():
        require_database_server()


@pytest.fixture(scope="session")
def django_db_setup(
    database_server: None, django_db_setup: None, django_db_blocker
) -> Iterator[None]:
    """pytest-django's test database, made once the database server is known to answer,
    and left by every connection before it is dropped.
    """
    yield
    with django_db_blocker.unblock():
        close_other_connections()


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
        path: str,
        *,
        headers: Headers | None = None,
        client: tuple[str, int] = ("127.0.0.1", 40000),
        app=application,
    ) -> tuple[WebsocketCommunicator, bool]:
        """Open a websocket from `client`; returns it and whether it was accepted."""
        headers = ws_headers if headers is None else headers
        communicator = WebsocketCommunicator(app, path, headers=headers)
        # The application reads its scope when it first runs, after this.
        communicator.scope["client"] = client
        communicators.append(communicator)
        connected, _ = await communicator.connect()
        return communicator, connected

    yield _connect
    for communicator in communicators:
        await communicator.disconnect()
{%- if cookiecutter.include_sample_consumer %}


@pytest.fixture(autouse=True)
def fresh_user_limits() -> None:
    """Each test starts with every user's chat limits unspent (user keys are primary keys,
    which a new test database hands out again). Nothing to do once the chat is removed
    from INSTALLED_APPS (docs/consumers.md).
    """
    from django.apps import apps

    if apps.is_installed("{{ cookiecutter.project_slug }}.chat"):
        from {{ cookiecutter.project_slug }}.chat.ratelimit import limits

        limits.clear()
{%- endif %}
