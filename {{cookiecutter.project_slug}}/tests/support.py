"""Helpers shared by the tests: handshake headers, real services, settings, manage.py."""

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn, cast

import hypothesis
import pytest
from django.db import connection

import config.settings

PROJECT_DIR = Path(__file__).resolve().parent.parent
ORIGIN = (b"origin", b"http://testserver")


def require_service(variable: str) -> str:
    """The URL of a real service from the environment.

    Without it the test is skipped with a visible reason; with REQUIRE_SERVICES=1
    (as in CI) a missing service is a failure instead.
    """
    url = os.environ.get(variable, "")
    if not url:
        service_missing(f"{variable} is not set: this test needs the real service")
    return url


def service_missing(reason: str) -> NoReturn:
    """Skip the test, saying why; fail it under REQUIRE_SERVICES=1 (as in CI)."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def require_database_server() -> None:
    """The project's database server must answer before the test run creates its test
    database there (a SQLite file needs no server). Without it the tests that need the
    database skip, saying why, instead of erroring one by one; under REQUIRE_SERVICES=1
    they fail. The project's own database need not exist yet: like Django's test runner,
    this asks the server's `postgres` database.
    """
    if connection.vendor == "sqlite":
        return
    driver = cast("Any", connection).Database  # the backend's DB-API module, unstubbed
    database = connection.settings_dict
    where = f"{database['HOST'] or 'localhost'}:{database['PORT'] or 5432}"
    params = {**connection.get_connection_params(), "dbname": "postgres", "connect_timeout": 5}
    try:
        driver.connect(**params).close()
    except driver.OperationalError as error:
        service_missing(f"the PostgreSQL server at {where} does not answer ({error})")


def close_other_connections() -> None:
    """End the test database's other sessions: database work run for websockets in worker
    threads keeps those threads' connections open, and PostgreSQL refuses to drop a
    database in use.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


# The environment variables the settings read.
PROJECT_VARIABLES = ("DJANGO_", "DATABASE_URL", "REDIS_", "WS_", "HEALTH_", "EMAIL_URL")


def load_settings(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Evaluate config/settings/<name>.py afresh, in this process, as if `env` were the
    project's whole environment (no .env file unless `env` asks for it with
    DJANGO_READ_DOT_ENV) and DJANGO_SETTINGS_MODULE named that module. The running
    settings are left untouched.
    """
    for variable in os.environ:
        if variable.startswith(PROJECT_VARIABLES):
            monkeypatch.delenv(variable)
    settings_module = f"config.settings.{name}"
    environment = {"DJANGO_READ_DOT_ENV": "0", **env, "DJANGO_SETTINGS_MODULE": settings_module}
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    modules = ["config.settings.base", settings_module]
    saved = {module: sys.modules.pop(module) for module in modules if module in sys.modules}
    try:
        return importlib.import_module(settings_module)
    finally:
        for module in modules:
            sys.modules.pop(module, None)
        sys.modules.update(saved)
        if "config.settings.base" in saved:
            config.settings.base = saved["config.settings.base"]


def manage(*args: str, settings: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh process, with `env` on top of an environment cleared of
    the project's variables and of .env.
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES)}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env={**clean, "DJANGO_READ_DOT_ENV": "0", "DJANGO_SETTINGS_MODULE": settings, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fuzz_settings() -> Any:
    """Hypothesis settings of the fuzz tests: FUZZ_EXAMPLES examples each (default 30, a
    few seconds; raise it for a longer hunt), no deadline (the first example of a run
    pays for imports). The fixtures they use hold nothing an example changes.
    """
    return hypothesis.settings(
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "30")),
        deadline=None,
        suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
    )
