"""Every one of the 64 variants: baked once, then asked every question.

The baked project's own checks (ruff, Django's checks, its test suite) are the main
test; they run in a virtual environment built from the variant's own pyproject.toml.
"""

import ast
import hashlib
import json
import re
import subprocess
from collections.abc import Callable
from typing import TypeVar, cast

import pytest

from harness import variants
from harness.baking import Baked, Bakery, MypyCaches
from harness.commands import CommandFailed
from harness.services import REQUIRE_SERVICES, service_env
from harness.variants import VARIANTS, python_twin, variant_id

# Django templates keep their own {% if %}: look for Cookiecutter's variables and tags.
UNRENDERED = re.compile(
    r"\{\{-?\s*cookiecutter\.|\{%-?\s*(if|elif|for)\s+(not\s+)?cookiecutter\.|\{%-?\s*now\b"
)
SLUG = "realtime_project"
T = TypeVar("T")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=VARIANTS, ids=variant_id)
def variant(request) -> dict[str, object]:
    return request.param


@pytest.fixture(scope="module")
def project(variant, bakery: Bakery) -> Baked:
    return bakery.baked(variant)


def expected_paths(variant: dict[str, object]) -> dict[str, bool]:
    """Files that must exist (True) or must not (False), written out independently of
    the post-generation hook's table so a wrong table fails here.
    """
    redis = variant["use_redis"]
    auth = variant["use_auth"]
    chat = variant["include_sample_consumer"]
    return {
        "manage.py": True,
        "config/asgi.py": True,
        "config/routing.py": True,
        "config/settings/base.py": True,
        "config/settings/local.py": True,
        "config/settings/test.py": True,
        "config/settings/production.py": True,
        "pyproject.toml": True,
        "README.md": True,
        "Makefile": True,
        ".env.example": True,
        ".env": True,
        ".cruft.json": True,
        ".gitignore": True,
        f"{SLUG}/core/views.py": True,
        f"{SLUG}/users/models.py": True,
        f"{SLUG}/users/admin.py": True,
        f"{SLUG}/users/migrations/0001_initial.py": True,
        "tests/test_users.py": True,
        f"{SLUG}/public/favicon.ico": True,
        "tests/test_health.py": True,
        "config/redis.py": redis,
        "tests/test_redis.py": redis,
        f"{SLUG}/templates/registration/login.html": auth,
        "tests/test_accounts.py": auth,
        f"{SLUG}/core/sessions.py": auth,
        "tests/test_sessions.py": auth and chat,
        f"{SLUG}/chat/consumers.py": chat,
        f"{SLUG}/chat/routing.py": chat,
        f"{SLUG}/chat/broadcast.py": chat,
        f"{SLUG}/chat/management/commands/broadcast.py": chat,
        f"{SLUG}/chat/templates/chat/room.html": chat,
        f"{SLUG}/chat/static/chat/chat.js": chat,
        "tests/test_chat.py": chat,
        "tests/test_protocol.py": chat,
        "tests/test_ratelimit.py": chat,
        "tests/test_fuzz_chat.py": chat,
        "tests/test_fuzz.py": True,
        f"{SLUG}/chat/ratelimit.py": chat,
        f"{SLUG}/core/health.py": True,
        "config/server.py": True,
        "tests/test_server.py": True,
        "docs/chat.md": chat,
        "docs/deploy.md": True,
        "tests/test_broadcast.py": chat,
        "tests/test_chat_auth.py": chat and auth,
        "tests/test_chat_guests.py": chat and not auth,
        "tests/test_chat_redis.py": chat and redis,
        "tests/test_postgresql.py": variant["database"] == "postgresql",
        "Dockerfile": variant["use_docker"],
        "compose.yaml": variant["use_docker"],
        "compose/web.yaml": variant["use_docker"],
        "compose/redis.yaml": variant["use_docker"] and redis,
        "compose/sqlite.yaml": variant["use_docker"] and variant["database"] == "sqlite",
        "compose/postgresql.yaml": variant["use_docker"] and variant["database"] == "postgresql",
        ".dockerignore": variant["use_docker"],
        ".github/workflows/ci.yml": variant["ci"] == "github",
        "LICENSE": True,
    }


def test_no_unrendered_cookiecutter_syntax(project):
    for path in project.files():
        relative = path.relative_to(project.path)
        assert "cookiecutter" not in str(relative)
        if path.suffix in {".png", ".ico"}:
            continue
        match = UNRENDERED.search(path.read_text(encoding="utf-8"))
        assert match is None, f"{relative}: {match.group(0)!r}"


def test_files_of_each_feature_exist_exactly_when_chosen(project, variant):
    for relative, wanted in expected_paths(variant).items():
        assert (project.path / relative).exists() == wanted, relative


def test_disabled_features_leave_no_trace(project, variant):
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in project.files())
    traces = {
        "channels_redis": variant["use_redis"],
        "channels-redis": variant["use_redis"],
        "psycopg": variant["database"] == "postgresql",
        "AuthMiddlewareStack": variant["use_auth"],
        "LoginRequiredMiddleware": variant["use_auth"],
        f"{SLUG}.chat": variant["include_sample_consumer"],
    }
    for trace, chosen in traces.items():
        assert (trace in text) == chosen, trace


def test_dependencies_are_exactly_what_the_variant_uses(project, variant):
    pyproject = (project.path / "pyproject.toml").read_text(encoding="utf-8")
    assert ('"channels-redis>=' in pyproject) == variant["use_redis"]
    assert ('"psycopg[binary]>=' in pyproject) == (variant["database"] == "postgresql")
    production_server = ('"uvicorn>=', '"uvloop>=', '"httptools>=', '"websockets>=')
    everywhere = ('"django>=5.2', '"channels>=4.3.2', '"daphne>=4.2.3"', '"django-csp>=4.0"')
    security_floors = ('"twisted>=24.7.0"', '"h11>=0.16.0"', '"sqlparse>=0.5.0"')
    for required in (*everywhere, *production_server, *security_floors):
        assert required in pyproject
    # Bounded above: the project overrides parts of them that are not public API.
    overridden = ["django", "channels", "uvicorn"] + ["channels-redis"] * variant["use_redis"]
    for name in overridden:
        assert re.search(rf'^    "{name}>=[\d.]+,<[\d.]+",$', pyproject, re.MULTILINE), name


def test_ruff_check_is_clean(project):
    project.run(str(project.python), "-m", "ruff", "check", "--no-cache", ".")


def test_ruff_format_is_clean(project):
    project.run(str(project.python), "-m", "ruff", "format", "--no-cache", "--check", ".")


# `use_docker` and `ci` add or change only the files below, which no module, setting or test
# of the project reads (the next test holds them to it). Variants that differ only in those
# two options therefore give the project's checks and its own suite the same input, byte for
# byte: each such input is checked and tested once, and its result stands for every variant
# that has it (`SuiteResults`). `.env` counts without its secret key, which differs between any
# two bakes and which the test settings replace.
DEPLOYMENT_ONLY = (
    "Dockerfile",
    "compose.yaml",
    "compose/",
    ".dockerignore",
    ".github/",
    "docs/deploy.md",
    ".cruft.json",
)
SECRET_KEY_LINE = re.compile(rb"^DJANGO_SECRET_KEY=.*$", re.MULTILINE)


def suite_inputs(project: Baked) -> dict[str, str]:
    """What the project's checks and own tests can read: every file but DEPLOYMENT_ONLY,
    by path, as a SHA-256 of its content.
    """
    inputs = {}
    for path in project.files():
        relative = path.relative_to(project.path).as_posix()
        if relative.startswith(DEPLOYMENT_ONLY):
            continue
        content = path.read_bytes()
        if relative == ".env":
            content = SECRET_KEY_LINE.sub(b"DJANGO_SECRET_KEY=", content)
        inputs[relative] = hashlib.sha256(content).hexdigest()
    return inputs


def suite_key(project: Baked) -> str:
    return hashlib.sha256(json.dumps(suite_inputs(project), sort_keys=True).encode()).hexdigest()


class SuiteResults:
    """What a command gave in a project, remembered by the project's suite inputs and the
    command's name: a variant whose inputs another variant already had gets that outcome,
    a failure (raised again) as much as a result.
    """

    def __init__(self) -> None:
        self.outcomes: dict[tuple[str, str], tuple[object, Exception | None]] = {}

    def get(self, project: Baked, name: str, command: Callable[[], T]) -> T:
        key = (suite_key(project), name)
        if key not in self.outcomes:
            try:
                self.outcomes[key] = (command(), None)
            except Exception as error:
                self.outcomes[key] = (None, error)
        result, error = self.outcomes[key]
        if error is not None:
            raise error
        return cast("T", result)


@pytest.fixture(scope="session")
def suite_results() -> SuiteResults:
    # One per worker: conftest.py puts variants that differ only in `use_docker` and `ci`
    # on the same worker, so each input is run once in the whole run.
    return SuiteResults()


# Each combination of the other four options, in its variant with Docker and GitHub CI: mypy
# runs in these (its input, the Python files, is the same in all four siblings).
TYPED_VARIANTS = [v for v in VARIANTS if python_twin(v) == v]


def string_literals(source: str) -> list[str]:
    """The strings a Python module computes with: its literals, docstrings left out."""
    tree = ast.parse(source)
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


@pytest.mark.parametrize("variant", TYPED_VARIANTS, ids=variant_id)
def test_docker_and_ci_options_change_only_deployment_files(variant, bakery: Bakery):
    with_both = bakery.baked(variant)
    inputs = suite_inputs(with_both)
    # No module, setting or test names a deployment-only file, so none opens one.
    names = [name.strip("/") for name in DEPLOYMENT_ONLY]
    for relative in inputs:
        if relative.endswith(".py"):
            source = (with_both.path / relative).read_text(encoding="utf-8")
            for literal in string_literals(source):
                assert not any(name in literal for name in names), (relative, literal)
    for use_docker, ci in [(True, "none"), (False, "github"), (False, "none")]:
        sibling = bakery.baked({**variant, "use_docker": use_docker, "ci": ci})
        theirs = suite_inputs(sibling)
        paths = inputs.keys() | theirs.keys()
        differing = sorted(path for path in paths if inputs.get(path) != theirs.get(path))
        assert differing == [], variant_id(sibling.answers)


@pytest.mark.parametrize("variant", TYPED_VARIANTS, ids=variant_id)
def test_mypy_is_clean(variant, bakery: Bakery, tmp_path):
    """`make typecheck`: mypy with the Django plugin, on the project and its tests, from a
    copy of its environment's seeded cache (`harness.baking.MypyCaches`).
    """
    project = bakery.baked(variant)
    bakery.mypy_caches.typecheck(project, tmp_path / "mypy")


def test_a_seeded_mypy_cache_still_sees_what_differs(bakery: Bakery, tmp_path):
    """A project checked from another project's cache is checked against its own settings:
    a setting only the seeding project has is an error in one without it.
    """
    caches = MypyCaches(tmp_path / "caches")
    caches.typecheck(bakery.baked(variants.variant()), tmp_path / "seeding")
    without_chat = bakery.copy(variants.variant(include_sample_consumer=False), tmp_path)
    health = without_chat.path / SLUG / "core" / "health.py"
    with health.open("a", encoding="utf-8") as module:
        module.write("\n\ndef rate() -> float:\n    return settings.WS_RATE_PER_SECOND\n")
    with pytest.raises(CommandFailed, match="no attribute 'WS_RATE_PER_SECOND'"):
        caches.typecheck(without_chat, tmp_path / "mypy")


# `check --fail-level WARNING` and `makemigrations --check --dry-run`, run by one Django
# process (half the start-up CPU of two); prints each command's failure, "" when clean.
DJANGO_CHECKS = """
import json
from django.core.management import call_command
failures = {}
for name, options in [
    ("check", {"fail_level": "WARNING"}),
    ("makemigrations", {"check": True, "dry_run": True}),
]:
    try:
        call_command(name, **options)
        failures[name] = ""
    except SystemExit as exit:
        failures[name] = f"exited {exit.code}"
    except Exception as error:
        failures[name] = f"{type(error).__name__}: {error}"
print(json.dumps(failures))
"""


@pytest.fixture(scope="module")
def django_checks(
    project, variant, suite_results: SuiteResults, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    def checks() -> dict[str, str]:
        # makemigrations opens the database: a SQLite one is made outside the shared bake.
        env = {}
        if variant["database"] == "sqlite":
            database = tmp_path_factory.mktemp("checks") / "db.sqlite3"
            env["DATABASE_URL"] = f"sqlite:///{database}"
        result = project.manage("shell", "--no-imports", "-c", DJANGO_CHECKS, env=env)
        return json.loads(result.stdout.strip().splitlines()[-1])

    return suite_results.get(project, "django checks", checks)


def test_django_check_is_clean(django_checks):
    assert django_checks["check"] == ""


def test_no_missing_migrations(django_checks):
    assert django_checks["makemigrations"] == ""


# `make test` measures coverage against its floor (`pytest --cov`). The tracer costs a
# suite up to two thirds more CPU on Python 3.11, so the template measures the default
# project and the combination with the lowest figure (every combination measured by hand:
# docs/testing.md); the other variants run plain `pytest`, as the README's command does.
COVERAGE_VARIANTS = [
    variants.variant(),
    variants.variant(use_redis=False, include_sample_consumer=False, database="postgresql"),
]


def test_own_test_suite_passes_with_real_services(
    project, variant, suite_results: SuiteResults, tmp_path
):
    """The project's own test command, against the real services it uses: run once per
    suite input, by the first variant that has it (its database named after that variant).
    """
    measured = python_twin(variant) in COVERAGE_VARIANTS

    def own_suite() -> subprocess.CompletedProcess[str]:
        # The bake is shared and read by other tests: the suite's caches and data go
        # elsewhere.
        elsewhere = {
            "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "hypothesis"),
            "COVERAGE_FILE": str(tmp_path / ".coverage"),
        }
        return project.run(
            str(project.python),
            *("-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA"),
            *(["--cov"] if measured else []),
            env={**service_env(variant), **elsewhere},
        )

    result = suite_results.get(project, f"pytest, coverage {measured}", own_suite)
    if measured:
        assert "Required test coverage of" in result.stdout
    # `check --deploy --fail-level WARNING` under production settings runs there, in a
    # fresh process, once per variant (not a second time in this suite): it must pass.
    assert "PASSED tests/test_settings.py::test_production_passes_the_deploy_check" in (
        result.stdout
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    assert "failed" not in summary
    assert "error" not in summary
    if REQUIRE_SERVICES:
        assert "skipped" not in summary, result.stdout[-5000:]
