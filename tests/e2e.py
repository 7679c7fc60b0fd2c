"""Baked projects prepared for real servers: dependencies installed from their own
pyproject.toml, database migrated, static files collected, a user to log in with.
"""

import asyncio
import http.cookiejar
import json
import os
import re
import subprocess
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websockets

from .conftest import POSTGRES_SERVER_URL, REDIS_URL, clean_env, run
from .servers import Daphne, Uvicorn

# The variants proven under real servers (issue: defaults, everything off, Redis with
# and without auth, PostgreSQL), by name.
E2E_VARIANTS: dict[str, dict[str, object]] = {
    "defaults": {},
    "everything-off": {
        "use_redis": False,
        "use_auth": False,
        "include_sample_consumer": False,
        "use_docker": False,
        "ci": "none",
    },
    "memory-auth": {"use_redis": False},
    "redis-noauth": {"use_auth": False},
    "postgresql": {"database": "postgresql"},
}
# The server each variant runs under: the production command (uvicorn, from the README)
# for most, daphne (the development server, still a production option) for two, so
# every check above runs against both.
E2E_SERVERS: dict[str, type[Daphne]] = {
    "defaults": Uvicorn,
    "everything-off": Uvicorn,
    "memory-auth": Daphne,
    "redis-noauth": Daphne,
    "postgresql": Uvicorn,
}
CHAT_VARIANTS = [
    name for name, answers in E2E_VARIANTS.items() if answers.get("include_sample_consumer", True)
]
AUTH_VARIANTS = [name for name in CHAT_VARIANTS if E2E_VARIANTS[name].get("use_auth", True)]
# Scale-out and the browser are slow: proven on the default project and on Redis without auth.
SCALE_VARIANTS = ["defaults", "redis-noauth"]
USERNAME = "alice"
PASSWORD = "e2e-Correct-Horse-42"
SECRET_KEY = "e2e-" + "k" * 30 + "Zx8-_Qw7Er6Ty5Ui4Op3As2Df1Gh0JkL"


@dataclass
class Served:
    """A prepared baked project and how to start servers of it."""

    name: str
    path: Path
    python: Path
    context: dict[str, object]
    env: dict[str, str]
    logs: Path
    servers: list[Daphne] = field(default_factory=list)

    @property
    def auth(self) -> bool:
        return bool(self.context["use_auth"])

    @property
    def chat(self) -> bool:
        return bool(self.context["include_sample_consumer"])

    def new_server(self, **env: str) -> Daphne:
        """A server of this variant's kind (E2E_SERVERS), not started yet."""
        kind = E2E_SERVERS[self.name]
        log = self.logs / f"{kind.name}-{len(self.servers)}.log"
        server = kind(self.python, self.path, {**self.env, **env}, log)
        self.servers.append(server)
        return server

    def tracebacks(self) -> list[str]:
        """Log lines of every server started here that report an unhandled exception."""
        markers = ("Traceback", "Exception inside application", "Exception in ASGI application")
        found = []
        for server in self.servers:
            for line in server.log().splitlines():
                if any(marker in line for marker in markers):
                    found.append(f"{server.log_path.name}: {line}")
        return found


def prepare(name: str, cookies_session, environments, tmp_path: Path) -> Served:
    result = cookies_session.bake(extra_context=E2E_VARIANTS[name])
    assert result.exit_code == 0, result.exception
    path = result.project_path
    python = environments.python_for(path)
    env = server_env(python, PYTHONUNBUFFERED="1")
    if result.context["use_redis"]:
        env["REDIS_URL"] = REDIS_URL
    if result.context["database"] == "postgresql":
        database = f"e2e_{name.replace('-', '_')}_{os.getpid()}"
        create_postgres_database(python, database)
        env["DATABASE_URL"] = f"{POSTGRES_SERVER_URL.rstrip('/')}/{database}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{path / 'e2e.sqlite3'}"
    prepare_database(path, python, env)
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    return Served(name, path, python, result.context, env, logs)


def server_env(python: Path, **extra: str) -> dict[str, str]:
    """A baked project's environment for real servers: local settings with DEBUG off
    (production's HTTPS-only cookies cannot travel over plain HTTP), no .env file.
    """
    return clean_env(
        PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DJANGO_DEBUG="false",
        DJANGO_READ_DOT_ENV="0",
        DJANGO_SECRET_KEY=SECRET_KEY,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        **extra,
    )


def prepare_database(path: Path, python: Path, env: dict[str, str]) -> None:
    """Migrate, collect static files and create the user that login() logs in as."""
    manage = [str(python), "manage.py"]
    run([*manage, "migrate", "--noinput", "-v", "0"], cwd=path, env=env)
    run([*manage, "collectstatic", "--noinput", "-v", "0"], cwd=path, env=env)
    superuser = {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    create = ["createsuperuser", "--noinput", "--username", USERNAME, "--email", "a@example.com"]
    run([*manage, *create], cwd=path, env=superuser)


def create_postgres_database(python: Path, name: str) -> None:
    """With the project's own psycopg: the template's environment does not need one."""
    code = (
        "import sys, psycopg\n"
        "with psycopg.connect(sys.argv[1] + '/postgres', autocommit=True) as c:\n"
        "    c.execute(f'DROP DATABASE IF EXISTS {sys.argv[2]}')\n"
        "    c.execute(f'CREATE DATABASE {sys.argv[2]}')\n"
    )
    subprocess.run(
        [str(python), "-c", code, POSTGRES_SERVER_URL.rstrip("/"), name],
        check=True,
        timeout=60,
        capture_output=True,
    )


def login(base_url: str, username: str = USERNAME, password: str = PASSWORD) -> str:
    """Log in through the real login form (CSRF token and all); returns the Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"{base_url}/accounts/login/"
    with opener.open(login_url, timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"}
    request = urllib.request.Request(
        login_url, data=urllib.parse.urlencode(form).encode(), headers={"Referer": login_url}
    )
    with opener.open(request, timeout=10) as response:
        assert response.status == 200
    names = {cookie.name for cookie in jar}
    assert "sessionid" in names, f"login failed: cookies {names}"
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def ws_headers(server: Daphne, cookie: str | None = None, origin: str | None = None) -> dict:
    headers = {"Origin": origin if origin is not None else server.base_url}
    if cookie:
        headers["Cookie"] = cookie
    return headers


async def connect(server: Daphne, path: str, headers: dict[str, str]):
    return await websockets.connect(
        f"{server.ws_url}{path}", additional_headers=headers, open_timeout=10, close_timeout=2
    )


async def receive_json(socket, timeout: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def send_json(socket, payload: object) -> None:
    await socket.send(json.dumps(payload))


async def refused_status(server: Daphne, path: str, headers: dict[str, str]) -> int:
    """The HTTP status of a refused handshake (fails if the handshake is accepted)."""
    try:
        socket = await connect(server, path, headers)
    except websockets.InvalidStatus as refusal:
        return refusal.response.status_code
    await socket.close()
    raise AssertionError(f"handshake to {path} was accepted")


async def drain(socket, *, limit: int, timeout: float = 5) -> tuple[list[dict], int | None]:
    """Read events until the server closes the socket, at most `limit` of them.

    Returns the events and the close code (None: not closed, or closed without a frame).
    """
    events: list[dict] = []
    try:
        for _ in range(limit):
            events.append(await receive_json(socket, timeout))
    except websockets.ConnectionClosed as closed:
        return events, closed.rcvd.code if closed.rcvd else None
    return events, None
