"""HTTP and websocket routing over a real socket: daphne or uvicorn serving a baked project."""

import asyncio

import pytest

from harness.client import health, http_get, refused_status
from harness.variants import E2E_VARIANTS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=list(E2E_VARIANTS))
def e2e_name(request) -> str:
    return request.param


def test_health_reports_ok(server):
    status, body = health(server.base_url)

    assert status == 200
    assert body == {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}}


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("https://evil.example", id="foreign"),
        pytest.param("null", id="null"),
        pytest.param("http://127.0.0.1.evil.example", id="look-alike-suffix"),
        pytest.param("http://evil127.0.0.1", id="look-alike-prefix"),
        pytest.param("", id="missing"),
    ],
)
def test_foreign_origins_are_refused_at_the_handshake(server, served, origin):
    path = "/ws/chat/lobby/" if served.chat else "/ws/anything/"
    headers = {"Origin": origin} if origin else {}

    assert asyncio.run(refused_status(server, path, headers)) == 403
    assert "not in ALLOWED_HOSTS" in server.log()


@pytest.mark.parametrize("path", ["/ws/nope/", "/", "/ws/chat/", "/ws/chat/lobby/extra/"])
def test_unknown_paths_are_refused_with_403(server, headers, path):
    assert asyncio.run(refused_status(server, path, headers)) == 403


def test_pages_static_files_and_the_favicon_are_served_quietly(server, served):
    status, _, _ = http_get(f"{server.base_url}/")
    assert status == (302 if served.auth else 200)
    assert http_get(f"{server.base_url}/static/css/site.css")[0] == 200
    status, headers, _ = http_get(f"{server.base_url}/favicon.ico")
    assert (status, headers["Content-Type"]) == (200, "image/x-icon")
    # Django's warning about WhiteNoise's synchronous file iterators is expected, silenced.
    assert "Warning" not in server.log()


def test_pages_carry_a_content_security_policy_without_inline_script(server):
    for path in ["/", "/accounts/login/", "/chat/lobby/"]:
        _, headers, _ = http_get(f"{server.base_url}{path}")
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy, path
        assert "camera=()" in headers["Permissions-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff", path


def test_server_log_holds_no_traceback(server, served):
    """Runs last in this module: nothing above may have crashed the application."""
    assert served.tracebacks() == []
