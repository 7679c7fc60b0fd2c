"""Every websocket passes the Origin check, then the router; both refuse loudly in the log."""

import logging

import pytest

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
