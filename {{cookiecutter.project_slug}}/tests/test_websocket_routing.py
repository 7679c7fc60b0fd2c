"""Every websocket passes the Origin check, then the router; both refuse loudly in the log."""

import logging

import pytest
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from {{ cookiecutter.project_slug }}.core.websocket import AllowedHostsOriginValidator

from .support import ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)

UNKNOWN_PATH = "/ws/no-such-endpoint/"


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param(b"https://evil.example", id="foreign"),
        pytest.param(b"null", id="null"),
        pytest.param(b"http://testserver.evil.example", id="look-alike-suffix"),
        pytest.param(b"http://eviltestserver", id="look-alike-prefix"),
    ],
)
async def test_foreign_origins_are_refused_and_logged(connect, caplog, origin):
    with caplog.at_level(logging.WARNING):
        _, connected = await connect(UNKNOWN_PATH, headers=[(b"origin", origin)])

    assert not connected
    assert "not in ALLOWED_HOSTS" in caplog.text


async def test_missing_origin_is_refused(connect, caplog):
    with caplog.at_level(logging.WARNING):
        _, connected = await connect(UNKNOWN_PATH, headers=[])

    assert not connected
    assert "origin None is not in ALLOWED_HOSTS" in caplog.text


async def test_unknown_path_is_refused_not_crashed(connect, caplog):
    """A path no route matches is refused at the handshake (403), not a 500."""
    with caplog.at_level(logging.INFO):
        _, connected = await connect(UNKNOWN_PATH, headers=[ORIGIN])

    assert not connected
    assert f"Refused websocket to unknown path {UNKNOWN_PATH}" in caplog.text
    assert "ALLOWED_HOSTS" not in caplog.text


class Accept(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        pytest.param("https://chat.example.com", True, id="site-over-https"),
        pytest.param("https://chat.example.com:443", True, id="site-default-port-spelled"),
        pytest.param("https://CHAT.example.com", True, id="host-in-capitals"),
        pytest.param("https://ops.example.com:8443", True, id="trusted-origin"),
        pytest.param("http://chat.example.com", False, id="site-over-http"),
        pytest.param("https://chat.example.com:8443", False, id="site-other-port"),
        pytest.param("https://ops.example.com", False, id="trusted-host-other-port"),
        pytest.param("wss://chat.example.com", False, id="other-scheme"),
        pytest.param("https://chat.example.com.evil.example", False, id="look-alike"),
        pytest.param("null", False, id="null"),
    ],
)
async def test_production_origins_match_scheme_host_and_port(settings, caplog, origin, accepted):
    """With WEBSOCKET_ALLOWED_ORIGINS (production settings), an Origin is compared whole."""
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.WEBSOCKET_ALLOWED_ORIGINS = [
        "https://chat.example.com",
        "https://ops.example.com:8443",
    ]
    application = AllowedHostsOriginValidator(Accept.as_asgi())  # reads the settings once
    communicator = WebsocketCommunicator(application, "/ws/x/", [(b"origin", origin.encode())])

    with caplog.at_level(logging.WARNING):
        connected, _ = await communicator.connect()
    await communicator.disconnect()

    assert connected == accepted
    assert ("is not an https:// origin of ALLOWED_HOSTS" in caplog.text) == (not accepted)
