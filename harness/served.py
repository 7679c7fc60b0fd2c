"""A baked project made ready for real servers: its own copy of the bake, installed from
its own pyproject.toml, database migrated, static files collected, a user to log in with.
"""

import http.cookiejar
import os
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from harness import HarnessError
from harness.baking import Baked, Bakery
from harness.client import http_open
from harness.commands import clean_env, run
from harness.servers import HOST, SERVER_KINDS, AsgiServer, Daphne
from harness.services import REDIS_URL, create_postgres_database

USERNAME = "alice"
OTHER_USERNAME = "bob"  # a second account, for limits that are per user
PASSWORD = "e2e-Correct-Horse-42"
SECRET_KEY = "e2e-" + "k" * 30 + "Zx8-_Qw7Er6Ty5Ui4Op3As2Df1Gh0JkL"
# What an unhandled exception leaves in a server's log.
TRACEBACK_MARKERS = ("Traceback", "Exception inside application", "Exception in ASGI application")
# Where a new log record starts: the project's format (a timestamp), uvicorn's ("INFO:"),
# daphne's access log (the client's address).
LOG_RECORD_START = re.compile(r"\d{4}-\d\d-\d\d |[A-Z]+: |\d+\.\d+\.\d+\.\d+:")
# Records logged with a traceback on purpose: the warning core/health.py logs for a check
# that failed (tests cause outages), and Django's for a request with a Host header that
# ALLOWED_HOSTS refuses (answered 400; tests send them).
EXPECTED_TRACEBACK_RECORDS = re.compile(r"WARNING \S+core\.health: Health check '\w+' failed$")


@dataclass
class Served:
    """A prepared project and how to start servers of it, of one kind (daphne or uvicorn)."""

    name: str
    baked: Baked
    env: dict[str, str]
    logs: Path
    kind: type[AsgiServer] = Daphne
    servers: list[AsgiServer] = field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.baked.path

    @property
    def python(self) -> Path:
        return self.baked.python

    @property
    def auth(self) -> bool:
        return bool(self.baked.answers["use_auth"])

    @property
    def chat(self) -> bool:
        return bool(self.baked.answers["include_sample_consumer"])

    def new_server(
        self,
        kind: type[AsgiServer] | None = None,
        *,
        host: str = HOST,
        port: int | None = None,
        launcher: list[str] | None = None,
        **env: str,
    ) -> AsgiServer:
        """A server of this project (of its kind unless `kind` says), not started yet: on
        loopback by default, or on a host of `harness.hosts` (address, port, launcher).
        """
        kind = kind or self.kind
        log = self.logs / f"{kind.name}-{len(self.servers)}.log"
        placement = {"host": host, "port": port, "launcher": launcher}
        server = kind(self.python, self.path, {**self.env, **env}, log, **placement)
        self.servers.append(server)
        return server

    def tracebacks(self, servers: list[AsgiServer] | None = None) -> list[str]:
        """Log lines of every server started here that report an unhandled exception. The
        tracebacks under an EXPECTED_TRACEBACK_RECORDS record (a failed health check) are
        not one. `servers` narrows the search to those (a module
        whose servers are its own, beside other modules' on the same worker).
        """
        found = []
        for server in self.servers if servers is None else servers:
            in_expected_record = False
            for line in server.log().splitlines():
                if LOG_RECORD_START.match(line):
                    in_expected_record = bool(EXPECTED_TRACEBACK_RECORDS.search(line))
                if not any(marker in line for marker in TRACEBACK_MARKERS):
                    continue
                if in_expected_record and line.startswith("Traceback"):
                    continue
                found.append(f"{server.log_path.name}: {line}")
        return found


def prepare(
    name: str, answers: dict, bakery: Bakery, workdir: Path, kind: str = "daphne"
) -> Served:
    """`answers`' bake, copied into `workdir`, with a database of its own (SQLite in the
    copy, or a fresh PostgreSQL database), ready for servers of `kind`.
    """
    baked = bakery.copy(answers, workdir)
    env = server_env(baked.python, PYTHONUNBUFFERED="1")
    if answers["use_redis"]:
        env["REDIS_URL"] = REDIS_URL
    if answers["database"] == "postgresql":
        database = f"e2e_{name.replace('-', '_')}_{os.getpid()}"
        env["DATABASE_URL"] = create_postgres_database(baked.python, database)
    else:
        env["DATABASE_URL"] = f"sqlite:///{baked.path / 'e2e.sqlite3'}"
    prepare_database(baked.path, baked.python, env)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    return Served(name, baked, env, logs, SERVER_KINDS[kind])


def server_env(python: Path, **extra: str) -> dict[str, str]:
    """A baked project's environment for real servers: local settings with DEBUG off
    (production's HTTPS-only cookies cannot travel over plain HTTP), no .env file;
    `extra` adds to it or overrides it.
    """
    defaults = {
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "false",
        "DJANGO_READ_DOT_ENV": "0",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Every test speaks as one user from one address, hundreds of sockets at a time:
        # the per-user limits are tested on servers started with them (new_server()).
        "WS_MAX_CONNECTIONS_PER_USER": "0",
        "WS_RATE_PER_SECOND": "1000",
        "WS_RATE_BURST": "1000",
    }
    return clean_env(**{**defaults, **extra})


def prepare_database(path: Path, python: Path, env: dict[str, str]) -> None:
    """Migrate, collect static files and create the users that login() logs in as."""
    manage = [str(python), "manage.py"]
    run([*manage, "migrate", "--noinput", "-v", "0"], cwd=path, env=env)
    run([*manage, "collectstatic", "--noinput", "-v", "0"], cwd=path, env=env)
    superuser = {**env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    for username in (USERNAME, OTHER_USERNAME):
        email = f"{username}@example.com"
        create = ["createsuperuser", "--noinput", "--username", username, "--email", email]
        run([*manage, *create], cwd=path, env=superuser)


class LoginFailed(HarnessError):
    """The login form did not log the user in."""


def login(base_url: str, username: str = USERNAME, password: str = PASSWORD) -> str:
    """Log in through the real login form (CSRF token and all); returns the Cookie header."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_url = f"{base_url}/accounts/login/"
    with opener.open(login_url, timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if token is None:
        raise LoginFailed(f"no CSRF token in the login page at {login_url}")
    form = {
        "username": username,
        "password": password,
        "csrfmiddlewaretoken": token.group(1),
        "next": "/",
    }
    request = urllib.request.Request(
        login_url, data=urllib.parse.urlencode(form).encode(), headers={"Referer": login_url}
    )
    with opener.open(request, timeout=10) as response:
        if response.status != 200:
            raise LoginFailed(f"login form answered {response.status}")
    names = {cookie.name for cookie in jar}
    if "sessionid" not in names:
        raise LoginFailed(f"login failed: cookies {names}")
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def logout(base_url: str, cookie: str) -> int:
    """Log out through the real logout form (a POST with the CSRF token); returns the
    status (302 to LOGOUT_REDIRECT_URL when it worked).
    """
    cookies = dict(part.split("=", 1) for part in cookie.split("; "))
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": cookies["csrftoken"]}).encode()
    url = f"{base_url}/accounts/logout/"
    request = urllib.request.Request(url, data=form, headers={"Cookie": cookie, "Referer": url})
    return http_open(request, timeout=10)[0]
