"""The machine's Redis and PostgreSQL, and what a variant's own tests get of them.

REQUIRE_SERVICES=1 (CI) makes an unreachable service an error instead of a skip.
"""

import os
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from harness import Unavailable
from harness.variants import Answers, variant_id

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_SERVER_URL = os.environ.get("POSTGRES_SERVER_URL", "postgres://postgres@127.0.0.1:5432")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


def require(available: bool, reason: str) -> None:
    """Raise Unavailable(reason) unless `available`."""
    if not available:
        raise Unavailable(reason)


def require_services(answers: Answers) -> None:
    """The services a variant uses must answer."""
    if answers["use_redis"]:
        require(reachable(REDIS_URL), f"Redis is not reachable at {REDIS_URL}")
    if answers["database"] == "postgresql":
        reason = f"PostgreSQL is not reachable at {POSTGRES_SERVER_URL}"
        require(reachable(POSTGRES_SERVER_URL), reason)


def service_env(answers: Answers) -> dict[str, str]:
    """The service URLs a variant's own tests get: only those it uses, only when reachable
    (or required: then an outage fails loudly). Each variant gets its own database.
    """
    env = {"REQUIRE_SERVICES": "1" if REQUIRE_SERVICES else "0"}
    if answers["use_redis"] and (REQUIRE_SERVICES or reachable(REDIS_URL)):
        env["REDIS_URL"] = REDIS_URL
    if answers["database"] == "postgresql" and (REQUIRE_SERVICES or reachable(POSTGRES_SERVER_URL)):
        name = "ccdc_" + variant_id(answers).replace("-", "_")
        env["DATABASE_URL"] = postgres_url(name)
    return env


def postgres_url(database: str) -> str:
    return f"{POSTGRES_SERVER_URL.rstrip('/')}/{database}"


def create_postgres_database(python: Path, name: str) -> str:
    """(Re)create database `name` with the project's own psycopg (the harness needs none);
    returns its URL.
    """
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
    return postgres_url(name)


def allow_postgres_connections(python: Path, name: str, allowed: bool) -> None:
    """A real outage of database `name` and its end: refuse new connections to it (and end
    the open ones), or accept them again. The server and its other databases stay up.
    """
    code = (
        "import sys, psycopg\n"
        "name, allowed = sys.argv[2], sys.argv[3] == 'true'\n"
        "with psycopg.connect(sys.argv[1] + '/postgres', autocommit=True) as c:\n"
        "    c.execute(f'ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {sys.argv[3]}')\n"
        "    if not allowed:\n"
        "        c.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity'\n"
        "                  ' WHERE datname = %s', (name,))\n"
    )
    arguments = [POSTGRES_SERVER_URL.rstrip("/"), name, "true" if allowed else "false"]
    subprocess.run(
        [str(python), "-c", code, *arguments], check=True, timeout=60, capture_output=True
    )
