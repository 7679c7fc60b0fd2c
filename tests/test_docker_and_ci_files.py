"""Docker and CI files, validated statically: no Docker engine or network is needed.

Their content depends only on use_redis and database, so those four bakes cover all.
"""

import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import TEMPLATE_DIR

COMBINATIONS = list(itertools.product([True, False], ["sqlite", "postgresql"]))
IDS = [f"{'redis' if r else 'memory'}-{d}" for r, d in COMBINATIONS]


def check(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"


def check_jsonschema(schema: str, path: Path) -> None:
    executable = Path(sys.executable).with_name("check-jsonschema")
    check([str(executable), "--builtin-schema", schema, str(path)])


@pytest.fixture(params=COMBINATIONS, ids=IDS)
def project(request, cookies) -> Path:
    use_redis, database = request.param
    answers = {"use_redis": use_redis, "database": database, "use_docker": True, "ci": "github"}
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return result.project_path


def test_dockerfile_passes_hadolint(project):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    check([hadolint, "--failure-threshold", "warning", str(project / "Dockerfile")])


def test_compose_file_matches_the_compose_spec(project):
    check_jsonschema("vendor.compose-spec", project / "compose.yaml")


def test_compose_starts_exactly_the_services_chosen(project):
    import yaml

    services = set(yaml.safe_load((project / "compose.yaml").read_text())["services"])
    pyproject = (project / "pyproject.toml").read_text()
    expected = {"web"}
    if "channels-redis" in pyproject:
        expected.add("redis")
    if "psycopg" in pyproject:
        expected.add("postgres")
    assert services == expected


def test_workflow_matches_the_github_schema(project):
    check_jsonschema("vendor.github-workflows", project / ".github" / "workflows" / "ci.yml")


def test_workflow_runs_the_task_runners_check(project):
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text()
    makefile = (project / "Makefile").read_text()

    assert "run: make check" in workflow
    assert "\ncheck:" in makefile
    assert 'REQUIRE_SERVICES: "1"' in workflow


def test_template_repository_workflow_matches_the_github_schema():
    for workflow in (TEMPLATE_DIR / ".github" / "workflows").glob("*.yml"):
        check_jsonschema("vendor.github-workflows", workflow)


def test_image_and_compose_run_the_readmes_production_command(project):
    """One production command: the README's (which the end-to-end tests run) is the
    image's CMD and what compose runs after migrating.
    """
    import json
    import shlex

    import yaml

    from .servers import production_command

    expected = production_command(project)
    dockerfile = (project / "Dockerfile").read_text()
    cmd = dockerfile.split("\nCMD ", 1)[1].replace("\\\n", " ")
    assert json.loads(cmd) == expected
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    shell = shlex.split(compose["services"]["web"]["command"])
    assert shell[:2] == ["sh", "-c"]
    migrate, serve = shell[2].split(" && ")
    assert shlex.split(migrate) == ["python", "manage.py", "migrate", "--noinput"]
    assert shlex.split(serve) == expected
