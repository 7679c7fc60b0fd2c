"""Settings as a deployment meets them: production reads the real environment only, and
compares websocket Origins by scheme, host and port.
"""

import asyncio
import json
import re
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from harness.client import connect, drain, http_get, http_open, refused_status
from harness.commands import clean_env
from harness.served import Served
from harness.servers import Runserver, Uvicorn, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=["defaults"])
def e2e_name(request) -> str:
    return request.param


def manage(served: Served, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """manage.py in the served copy, with only `env` of the project's variables, so its
    .env file is the only other source of settings.
    """
    return subprocess.run(
        [str(served.python), "manage.py", *args],
        cwd=served.path,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key_beside_a_dot_env(served):
    """The baked .env holds a development key; production must not take it."""
    assert "DJANGO_SECRET_KEY=" in (served.path / ".env").read_text(encoding="utf-8")

    result = manage(
        served,
        "check",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="chat.example.test",
        REDIS_URL=served.env["REDIS_URL"],
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set in production" in result.stderr


def test_local_settings_do_read_the_dot_env(served):
    """The same checkout under local settings takes the key from .env, as documented."""
    key = (served.path / ".env").read_text(encoding="utf-8").splitlines()[0].split("=", 1)[1]
    code = "from django.conf import settings; print(settings.SECRET_KEY)"

    result = manage(
        served,
        *("shell", "-v", "0", "-c", code),
        DJANGO_SETTINGS_MODULE="config.settings.local",
        PYTHONWARNINGS="ignore",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == key


def test_runserver_says_each_thing_once(served):
    """The development server as a developer reads it: one line per request, the in-memory
    layer pointed out once (no REDIS_URL), no warning, a favicon.
    """
    server = served.new_server(
        Runserver,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        REDIS_URL="",
    )
    paths = ["/accounts/login/", "/favicon.ico", "/static/css/site.css"]
    with server:
        for path in paths:
            assert http_get(f"{server.base_url}{path}")[0] == 200, path
        wait_until(lambda: f"GET {paths[-1]} " in server.log(), timeout=10, what="the last line")
        log = server.log()

    for path in paths:
        assert log.count(f"GET {path} ") == 1, log
    assert log.count("(core.I001)") == 1, log
    assert log.count("Watching for file changes") == 1, log
    assert "Warning" not in log, log


def test_production_refuses_a_wildcard_allowed_host(served):
    result = manage(
        served,
        "check",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=served.env["DJANGO_SECRET_KEY"],
        DJANGO_ALLOWED_HOSTS="*",
        REDIS_URL=served.env["REDIS_URL"],
    )

    assert result.returncode != 0
    assert "'*' accepts any Host header" in result.stderr


@pytest.fixture(scope="module")
def production_server(served):
    """The production command under production settings (plain HTTP allowed for the test)."""
    server = served.new_server(
        Uvicorn,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://127.0.0.1:8443",
        DJANGO_SECURE_SSL_REDIRECT="false",
    )
    with server:
        yield server


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("https://127.0.0.1", id="site-over-https"),
        pytest.param("https://127.0.0.1:8443", id="trusted-origin"),
    ],
)
def test_production_accepts_the_sites_https_origin_and_trusted_origins(production_server, origin):
    async def scenario():
        socket = await connect(production_server, "/ws/chat/lobby/", {"Origin": origin})
        # Accepted at the handshake; then closed 4401, as no one is logged in.
        assert await drain(socket, limit=1) == ([], 4401)

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("http://127.0.0.1", id="site-over-http"),
        pytest.param("http://127.0.0.1:8080", id="another-port-over-http"),
        pytest.param("https://127.0.0.1:9443", id="another-https-port"),
        pytest.param("null", id="null"),
    ],
)
def test_production_refuses_other_schemes_and_ports(production_server, origin):
    path = "/ws/chat/lobby/"

    assert asyncio.run(refused_status(production_server, path, {"Origin": origin})) == 403
    assert f"origin {origin!r} is not an https:// origin" in production_server.log()


def healthcheck_command(project: Path, port: int, python: Path) -> list[str]:
    """The Dockerfile's HEALTHCHECK command, verbatim but for the port and the Python."""
    text = (project / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
    command = json.loads(line[line.index("CMD") + 3 :])
    assert command[0] == "python"
    return [str(python), *(part.replace(":8000/", f":{port}/") for part in command[1:])]


def test_the_container_healthcheck_passes_with_only_the_real_domain_allowed(served):
    """A real deployment allows its domain only and redirects to HTTPS; the image's probe
    asks http://127.0.0.1:8000/health/ all the same (it used to get 400, DisallowedHost).
    """
    server = served.new_server(
        Uvicorn,
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="chat.example.test",
    )
    with server:
        probe = healthcheck_command(served.path, server.port, served.python)
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        # Every other path still holds the Host header to ALLOWED_HOSTS.
        assert http_get(f"{server.base_url}/")[0] == 400


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["manage.py", "check"], id="manage.py"),
        pytest.param(["-m", "config.serve", "--port", "0"], id="server-command"),
    ],
)
def test_production_names_every_missing_variable_at_once(served, command):
    """Production with none of its variables: every one named, one line each, exit 1."""
    result = subprocess.run(
        [str(served.python), *command],
        cwd=served.path,
        env=clean_env(DJANGO_SETTINGS_MODULE="config.settings.production"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Production settings refuse to start:"
    assert [line.split(" ")[1] for line in lines[1:]] == [
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "REDIS_URL",
    ]


# One format for Django's records and the server's: "<date> <time> <LEVEL> <logger>: ...".
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")


def test_the_production_server_logs_one_line_per_event_in_one_format(production_server):
    """A Host this site does not serve: one WARNING line; a page not found: its access
    line only; every line of the log in Django's format, uvicorn's included.
    """
    trace = uuid.uuid4().hex
    foreign = urllib.request.Request(
        f"{production_server.base_url}/?trace={trace}", headers={"Host": "attacker.example"}
    )
    assert http_open(foreign)[0] == 400
    assert http_get(f"{production_server.base_url}/no-such-page-{trace}/")[0] == 404
    wait_until(
        lambda: f"no-such-page-{trace}" in production_server.log(),
        timeout=10,
        what="the 404's access line",
    )

    log = production_server.log()
    assert "Traceback" not in log
    lines = log.splitlines()
    assert [line for line in lines if not LOG_LINE.match(line)] == []
    (refused,) = [line for line in lines if "attacker.example" in line]
    assert " WARNING django.security.DisallowedHost: Invalid HTTP_HOST header" in refused
    (not_found,) = [line for line in lines if f"no-such-page-{trace}" in line]
    assert " INFO uvicorn.access: 127.0.0.1:" in not_found
    assert not_found.endswith(" 404")
