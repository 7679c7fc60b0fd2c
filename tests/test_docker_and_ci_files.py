"""Docker and CI files, validated statically: no Docker engine or network is needed.

Their content depends only on use_redis and database, so the four variants with Docker
and the GitHub workflow that differ in those cover all (the run's shared bakes).
"""

import difflib
import itertools
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.baking import Bakery
from harness.compose import included_compose_files, merged_compose_services
from harness.proxy import Nginx, make_certificates, site_config
from harness.servers import production_command
from harness.services import require
from harness.variants import TEMPLATE_DIR, variant, variant_id

COMBINATIONS = [
    variant(use_redis=use_redis, database=database)
    for use_redis, database in itertools.product([True, False], ["sqlite", "postgresql"])
]


def check(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"


def check_jsonschema(schema: str, path: Path) -> None:
    executable = Path(sys.executable).with_name("check-jsonschema")
    check([str(executable), "--builtin-schema", schema, str(path)])


@pytest.fixture(params=COMBINATIONS, ids=variant_id)
def project(request, bakery: Bakery) -> Path:
    return bakery.bakes.path(request.param)


def test_dockerfile_passes_hadolint(project):
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    check([hadolint, "--failure-threshold", "warning", str(project / "Dockerfile")])


def test_compose_files_match_the_compose_spec(project):
    for path in [project / "compose.yaml", *included_compose_files(project)]:
        check_jsonschema("vendor.compose-spec", path)


def test_compose_includes_every_file_of_compose_folder(project):
    included = set(included_compose_files(project))
    assert included == set((project / "compose").glob("*.yaml"))


def test_compose_starts_exactly_the_services_chosen(project):
    services = set(merged_compose_services(project))
    pyproject = (project / "pyproject.toml").read_text()
    expected = {"web"}
    if "channels-redis" in pyproject:
        expected.add("redis")
    if "psycopg" in pyproject:
        expected.add("postgres")
    assert services == expected


def test_compose_web_waits_for_and_reaches_each_service(project):
    web = merged_compose_services(project)["web"]
    environment = web["environment"]
    assert set(web.get("depends_on", {})) == set(merged_compose_services(project)) - {"web"}
    assert ("REDIS_URL" in environment) == ("redis" in web.get("depends_on", {}))
    assert environment["DATABASE_URL"].startswith(
        "postgres://" if "postgres" in web.get("depends_on", {}) else "sqlite:////data/"
    )


def test_workflow_matches_the_github_schema(project):
    check_jsonschema("vendor.github-workflows", project / ".github" / "workflows" / "ci.yml")


def test_workflow_runs_the_task_runners_check(project):
    workflow = (project / ".github" / "workflows" / "ci.yml").read_text()
    makefile = (project / "Makefile").read_text()

    assert "run: make check" in workflow
    assert "\ncheck:" in makefile
    assert 'REQUIRE_SERVICES: "1"' in workflow


def test_workflow_starts_exactly_the_services_the_project_uses(project):
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    steps = workflow["jobs"]["check"]["steps"]
    started = {step["name"] for step in steps if step.get("name", "").startswith("Start ")}
    pyproject = (project / "pyproject.toml").read_text()
    expected = set()
    if "channels-redis" in pyproject:
        expected.add("Start Redis")
    if "psycopg" in pyproject:
        expected.add("Start PostgreSQL")
    assert started == expected
    exported = {
        line.split("=", 1)[0].removeprefix('echo "')
        for step in steps
        for line in step.get("run", "").splitlines()
        if line.startswith('echo "') and "$GITHUB_ENV" in line
    }
    variables = {"Start Redis": "REDIS_URL", "Start PostgreSQL": "DATABASE_URL"}
    assert exported == {variables[name] for name in started}


def test_template_repository_workflow_matches_the_github_schema():
    for workflow in (TEMPLATE_DIR / ".github" / "workflows").glob("*.yml"):
        check_jsonschema("vendor.github-workflows", workflow)


def test_image_and_compose_run_the_makefiles_production_command(project):
    """One production command: the Makefile's `serve` target (which the end-to-end tests
    run) is the image's CMD and what compose runs after migrating.
    """
    expected = production_command(project)
    dockerfile = (project / "Dockerfile").read_text()
    cmd = dockerfile.split("\nCMD ", 1)[1].replace("\\\n", " ")
    assert json.loads(cmd) == expected
    shell = shlex.split(merged_compose_services(project)["web"]["command"])
    assert shell[:2] == ["sh", "-c"]
    migrate, serve = shell[2].split(" && ")
    assert shlex.split(migrate) == ["python", "manage.py", "migrate", "--noinput"]
    assert shlex.split(serve) == expected


def test_make_serve_listens_where_it_is_told(project):
    """`make serve HOST=... PORT=...` runs the one server command on that address and
    port (a dry run: the end-to-end layer runs the command itself).
    """
    make = shutil.which("make")
    require(make is not None, "make is not installed (Debian package: make)")
    done = subprocess.run(
        [str(make), "-n", "serve", "HOST=127.0.0.5", "PORT=9123"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.split() == shlex.split(
        "uv run python -m config.serve --host 127.0.0.5 --port 9123"
    )


@pytest.mark.parametrize("answers", COMBINATIONS, ids=variant_id)
def test_nginx_site_passes_nginx_t_and_balances_only_redis_projects(answers, bakery, tmp_path):
    """The shipped deploy/nginx.conf is valid nginx with only its EDIT lines set (the
    topology layer runs it in front of two hosts); an in-memory project has one app host.
    """
    site = bakery.bakes.path(answers) / "deploy" / "nginx.conf"
    certificates = make_certificates(tmp_path / "tls")
    proxy = Nginx(tmp_path / "nginx", site, certificates, ["127.0.0.2:8000", "127.0.0.3:8000"])
    assert "syntax is ok" in proxy.test_config()

    shipped = re.findall(r"^ *server 10\.0\.0\.\d+:8000 ", site.read_text(), re.MULTILINE)
    assert len(shipped) == (2 if answers["use_redis"] else 1)


def test_every_line_the_topology_changes_in_the_nginx_site_is_marked_edit(bakery, tmp_path):
    """What an operator must change is what the tests change: each shipped line that the
    topology's configuration replaces or removes says EDIT (certificate paths, the domain,
    the listen ports, IPv6 ones included, the app hosts).
    """
    site = bakery.bakes.path(variant()) / "deploy" / "nginx.conf"
    shipped = site.read_text(encoding="utf-8")
    certificates = make_certificates(tmp_path / "tls")
    edited = site_config(
        shipped,
        domain="chat.test",
        http_port=8080,
        https_port=8443,
        certificates=certificates,
        app_hosts=["127.0.0.2:8000"],
    )
    lines = shipped.splitlines()
    matcher = difflib.SequenceMatcher(a=lines, b=edited.splitlines(), autojunk=False)
    changed = {
        index
        for tag, first, last, _, _ in matcher.get_opcodes()
        if tag in ("replace", "delete")
        for index in range(first, last)
    }

    def marked(index: int) -> bool:
        """EDIT on the line, or on the comment right above the block of changed lines it
        is in (a line with a comment of its own is its own block).
        """
        if "EDIT" in lines[index]:
            return True
        while (index := index - 1) >= 0:
            above = lines[index].strip()
            if above.startswith("#"):  # the comment block above: EDIT anywhere in it
                while index >= 0 and lines[index].strip().startswith("#"):
                    if "EDIT" in lines[index]:
                        return True
                    index -= 1
                return False
            if index not in changed or "#" in above:
                return False
        return False

    assert len(changed) >= 8  # ports (5), domain (2+), certificate (2), app hosts
    assert [lines[index] for index in sorted(changed) if not marked(index)] == []
