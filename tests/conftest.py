"""Shared helpers for the template's test suite: variants, services, baked-project venvs."""

import hashlib
import itertools
import json
import os
import socket
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parent.parent

# The six feature options and their values: every combination is a variant.
FEATURES: dict[str, list[object]] = {
    "use_redis": [True, False],
    "use_auth": [True, False],
    "include_sample_consumer": [True, False],
    "database": ["sqlite", "postgresql"],
    "use_docker": [True, False],
    "ci": ["github", "none"],
}
VARIANTS: list[dict[str, object]] = [
    dict(zip(FEATURES, values, strict=True)) for values in itertools.product(*FEATURES.values())
]

# Services the baked projects' own tests use for real. REQUIRE_SERVICES=1 makes an
# unreachable one fail those tests instead of skipping them.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_SERVER_URL = os.environ.get("POSTGRES_SERVER_URL", "postgres://postgres@127.0.0.1:5432")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"

# Variables of the baked projects that must not leak into them from this process.
PROJECT_VARIABLES = ("DJANGO_", "DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV", "PYTHONPATH", "WS_")


def variant_id(variant: dict[str, object]) -> str:
    """A readable id such as redis-auth-chat-sqlite-docker-github."""
    return "-".join(
        [
            "redis" if variant["use_redis"] else "memory",
            "auth" if variant["use_auth"] else "noauth",
            "chat" if variant["include_sample_consumer"] else "nochat",
            "pg" if variant["database"] == "postgresql" else "sqlite",
            "docker" if variant["use_docker"] else "nodocker",
            "github" if variant["ci"] == "github" else "noci",
        ]
    )


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            return True
    except OSError:
        return False


def need(available: bool, reason: str) -> None:
    """Skip, saying why, when something a test needs is missing; fail under REQUIRE_SERVICES=1."""
    if available:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


def service_env(variant: dict[str, object]) -> dict[str, str]:
    """The service URLs a variant's own tests get: only those it uses, only when reachable
    (or required: then an outage fails loudly). Each variant gets its own database.
    """
    env = {"REQUIRE_SERVICES": "1" if REQUIRE_SERVICES else "0"}
    if variant["use_redis"] and (REQUIRE_SERVICES or reachable(REDIS_URL)):
        env["REDIS_URL"] = REDIS_URL
    if variant["database"] == "postgresql" and (REQUIRE_SERVICES or reachable(POSTGRES_SERVER_URL)):
        name = "ccdc_" + variant_id(variant).replace("-", "_")
        env["DATABASE_URL"] = f"{POSTGRES_SERVER_URL.rstrip('/')}/{name}"
    return env


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES)}
    return {**env, **extra}


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command; fail the test with its output when it exits non-zero."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout[-20000:]}\n--- stderr ---\n{result.stderr[-20000:]}",
            pytrace=False,
        )
    return result


def dependency_key(project_dir: Path) -> str:
    """What a baked project declares it needs: runtime dependencies and the dev group."""
    data = tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8"))
    declared = [data["project"]["dependencies"], data["dependency-groups"]]
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()[:16]


class ProjectEnvironments:
    """Fresh virtual environments built from baked pyproject.toml files, one per distinct
    dependency set, so that a dependency a variant forgets to declare fails its tests.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pythons: dict[str, Path] = {}

    def python_for(self, project_dir: Path) -> Path:
        key = dependency_key(project_dir)
        if key not in self.pythons:
            venv = self.root / key
            uv = [sys.executable, "-m", "uv"]
            run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=project_dir)
            python = venv / "bin" / "python"
            install = [*uv, "pip", "install", "--quiet", "--python", str(python)]
            run([*install, "-r", "pyproject.toml", "--group", "dev"], cwd=project_dir)
            self.pythons[key] = python
        return self.pythons[key]


@pytest.fixture(scope="session")
def project_environments(tmp_path_factory) -> ProjectEnvironments:
    return ProjectEnvironments(tmp_path_factory.mktemp("venvs"))


@dataclass(frozen=True)
class Baked:
    """One baked variant: where it is, what it was asked for, which Python runs it."""

    path: Path
    context: dict[str, object]
    python: Path

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
        bin_dir = str(self.python.parent)
        path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        return run([*args], cwd=self.path, env={"PATH": path, **(env or {})}, timeout=timeout)

    def manage(self, *args: str, env: dict[str, str] | None = None):
        return self.run(str(self.python), "manage.py", *args, env=env)

    def files(self) -> list[Path]:
        return sorted(p for p in self.path.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def prepared(cookies_session, project_environments, tmp_path_factory):
    """Baked projects ready to serve, by end-to-end variant name, prepared once per worker."""
    from .e2e import prepare

    cache = {}

    def get(name: str):
        if name not in cache:
            workdir = tmp_path_factory.mktemp(f"e2e-{name}")
            cache[name] = prepare(name, cookies_session, project_environments, workdir)
        return cache[name]

    return get


@pytest.fixture(scope="module")
def served(e2e_name, prepared):
    """The prepared project of this module's end-to-end variant (e2e_name)."""
    from .e2e import E2E_VARIANTS

    answers = E2E_VARIANTS[e2e_name]
    if answers.get("use_redis", True):
        need(reachable(REDIS_URL), f"Redis is not reachable at {REDIS_URL}")
    if answers.get("database") == "postgresql":
        need(
            reachable(POSTGRES_SERVER_URL), f"PostgreSQL is not reachable at {POSTGRES_SERVER_URL}"
        )
    return prepared(e2e_name)


@pytest.fixture(scope="module")
def server(served):
    """One server (E2E_SERVERS) serving it for the module's tests, stopped afterwards."""
    with served.new_server() as running:
        yield running


@pytest.fixture(scope="module")
def headers(served, server) -> dict[str, str]:
    """Handshake headers of a chat member: logged in through the real form where needed."""
    from .e2e import login, ws_headers

    return ws_headers(server, login(server.base_url) if served.auth else None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep all tests of one variant on one xdist worker, so each variant bakes once."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "variant" in params:
            item.add_marker(pytest.mark.xdist_group(variant_id(params["variant"])))
        elif "e2e_name" in params:
            item.add_marker(pytest.mark.xdist_group(f"e2e-{params['e2e_name']}"))
