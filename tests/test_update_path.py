"""The update path (SPEC, "Keeping a project up to date"): a project baked from the template,
committed and edited by its team, takes later template commits with `cruft update`, with no
reject and no conflict, `.env` untouched and pruned files still pruned.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import project_scripts
from harness.commands import run
from harness.services import create_postgres_database, require_services
from harness.updates import (
    TemplateRepository,
    bake_with_cookiecutter,
    commit_project,
    cruft,
    git,
    leftovers,
    releases,
)
from harness.variants import TEMPLATE_DIR, variant

pytestmark = pytest.mark.slow

SLUG = "realtime_project"
# Files the default variant's options prune: they must stay away through every update.
PRUNED = ["tests/test_postgresql.py", "compose/postgresql.yaml", "tests/test_chat_guests.py"]
USER_EDIT = "\n# The team's own line, kept through template updates.\n"


def test_the_readmes_bake_command_records_the_clone_it_ran_in(tmp_path):
    """The template README's command, as written, run in a clone: the project lands beside
    it and `.cruft.json` names the clone by its absolute path (typed as `.`).
    """
    readme = (TEMPLATE_DIR / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Bake a project", 1)[1]
    command = re.search(r"```bash\n(.*?)\n```", section, re.S).group(1)
    install, bake = command.split(" && ")
    assert install.startswith("python3 -m pip install")
    assert bake.startswith("cookiecutter ")
    clone = TemplateRepository(tmp_path / "clone")
    commit = clone.commit_working_tree("a clone")
    bin_dir = Path(sys.executable).parent  # this environment's cookiecutter stands in for pip's
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}

    subprocess.run(["bash", "-c", bake], cwd=clone.path, env=env, check=True, timeout=120)

    recorded = json.loads((tmp_path / SLUG / ".cruft.json").read_text(encoding="utf-8"))
    assert (recorded["template"], recorded["commit"]) == (str(clone.path), commit)


def test_a_bake_by_address_at_a_commit_is_one_cruft_follows(tmp_path):
    """The template README's way to a release: the repository's address (a local clone as
    `git+file://`, which cookiecutter clones, honouring `--checkout`) and the commit the
    CHANGELOG names (a clone may have no tags). `.cruft.json` records an address git can
    clone and that commit: `cruft diff` finds the project as made, `cruft update` moves it.
    """
    template = TemplateRepository(tmp_path / "template")
    released = template.commit_working_tree("a release")
    later = change_the_template(template)
    address = f"git+file://{template.path}"

    project = bake_with_cookiecutter(address, variant(), tmp_path / "projects", released[:7])

    recorded = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert (recorded["template"], recorded["commit"]) == (f"file://{template.path}", released)
    assert git(project, "status", "--porcelain") == ""  # the bake's own first commit
    diff = cruft(project, "diff", "--exit-code")
    assert diff.returncode == 0, diff.stdout + diff.stderr
    updated = cruft(project, "update", "--skip-apply-ask")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert json.loads((project / ".cruft.json").read_text())["commit"] == later


def change_the_template(template: TemplateRepository) -> str:
    """A template commit of every kind an update must carry."""
    root = template.project_template
    base = root / "config" / "settings" / "base.py"
    text = base.read_text(encoding="utf-8")
    assert 'LOGIN_REDIRECT_URL = "/"\n' in text
    base.write_text(text.replace('LOGIN_REDIRECT_URL = "/"\n', 'LOGIN_REDIRECT_URL = "/chat/"\n'))
    (root / "docs" / "operations.md").write_text("# Operations\n", encoding="utf-8")
    (root / "docs" / "deploy.md").unlink()
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert '"django-environ>=0.12.0",' in text
    pyproject.write_text(text.replace('"django-environ>=0.12.0",', '"django-environ>=0.12.1",'))
    with (root / "tests" / "test_postgresql.py").open("a", encoding="utf-8") as pruned:
        pruned.write("\n# A change to a file the default variant prunes.\n")
    return template.commit("a changed line, a new file, a removed file, a dependency")


def test_cruft_update_carries_template_commits_and_keeps_the_teams_work(tmp_path):
    template = TemplateRepository(tmp_path / "template")
    baked_at = template.commit_working_tree("the template as this checkout holds it")
    project = bake_with_cookiecutter(template.path, variant(), tmp_path / "projects")
    recorded = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert (recorded["template"], recorded["commit"]) == (str(template.path), baked_at)
    assert recorded["context"]["cookiecutter"]["use_redis"] is True
    commit_project(project, "baked")
    assert git(project, "status", "--porcelain") == "", ".env must be ignored, all else committed"
    with (project / "config" / "urls.py").open("a", encoding="utf-8") as urls:
        urls.write(USER_EDIT)
    commit_project(project, "the team's edit")
    env_before = (project / ".env").read_bytes()
    updated_to = change_the_template(template)

    result = cruft(project, "update", "--skip-apply-ask")

    assert result.returncode == 0, result.stdout + result.stderr
    assert leftovers(project) == []
    assert (project / ".env").read_bytes() == env_before
    assert json.loads((project / ".cruft.json").read_text())["commit"] == updated_to
    base = (project / "config" / "settings" / "base.py").read_text(encoding="utf-8")
    assert 'LOGIN_REDIRECT_URL = "/chat/"' in base
    assert (project / "docs" / "operations.md").exists()
    assert not (project / "docs" / "deploy.md").exists()
    assert '"django-environ>=0.12.1",' in (project / "pyproject.toml").read_text()
    assert (project / "config" / "urls.py").read_text(encoding="utf-8").endswith(USER_EDIT)
    for path in PRUNED:
        assert not (project / path).exists(), path


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
@pytest.mark.parametrize("release", releases(), ids=lambda release: release.version)
def test_a_used_project_of_a_release_updates_and_keeps_its_users(
    release, database, bakery, tmp_path
):
    """Baked from every release CHANGELOG.md lists (before 0.2 with plain cookiecutter and no
    .cruft.json: then linked as the README says), migrated and used (users, a group, a
    permission, an admin log entry, a logged-in session), updated to the template as this
    checkout holds it, migrated again: everyone logs in as before, the old session is still
    logged in, and the database is the one a new project's migrations make.
    """
    answers = variant(database=database)
    require_services(answers)
    python = bakery.baked(answers).python  # this checkout's environment runs both releases
    tagged = git(TEMPLATE_DIR, "tag", "--list", release.tag)
    if tagged:  # a clone may come without tags; the CHANGELOG names the commit either way
        tag_commit = git(TEMPLATE_DIR, "rev-parse", f"{release.tag}^{{commit}}")
        assert tag_commit.startswith(release.commit)
    template = TemplateRepository(tmp_path / "template")
    release_commit = template.commit_release(release)
    project = bake_with_cookiecutter(template.path, answers, tmp_path / "projects")
    if not (project / ".cruft.json").exists():
        # README, Keep up to date: a project baked before .cruft.json existed.
        context = ["--extra-context", json.dumps(answers)]
        linked = cruft(
            project, "link", str(template.path), "--checkout", release_commit, "-y", *context
        )
        assert linked.returncode == 0, linked.stdout + linked.stderr
        state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
        state["skip"] = [".env", ".cruft.json"]
        (project / ".cruft.json").write_text(json.dumps(state, indent=2) + "\n")
    commit_project(project, f"baked from {release.version}")
    env = database_env(python, database, tmp_path, f"{release.version}_used")
    run([str(python), "manage.py", "migrate"], cwd=project, env=env)
    used = project_script(python, project, "use_project.py", env=env)
    env_before = (project / ".env").read_bytes()
    current = template.commit_working_tree("the template as this checkout holds it")

    result = cruft(project, "update", "--skip-apply-ask")

    assert result.returncode == 0, result.stdout + result.stderr
    assert leftovers(project) == []
    assert (project / ".env").read_bytes() == env_before
    assert json.loads((project / ".cruft.json").read_text())["commit"] == current
    if database == "sqlite":
        for path in PRUNED:
            assert not (project / path).exists(), path
    assert (project / SLUG / "users" / "models.py").exists()  # new since 0.1.0
    assert "[tool.cruft]" in (project / "pyproject.toml").read_text(encoding="utf-8")

    migrated = run([str(python), "manage.py", "migrate"], cwd=project, env=env)
    run([str(python), "manage.py", "makemigrations", "--check", "--dry-run"], cwd=project, env=env)
    again = run([str(python), "manage.py", "migrate"], cwd=project, env=env)

    assert used["user_model"] == "auth.User"  # the release's; the test's premise
    assert "Adopted the auth_user table" in migrated.stdout
    assert "Adopted" not in again.stdout
    users = project_script(python, project, "read_users.py", used["session"], env=env)
    assert users == {
        "user_model": "users.User",
        "alice": used["alice"],
        "admin": used["admin"],
        "admin_is_superuser": True,
        "alice_groups": ["editors"],
        "alice_perms": ["users.change_user", "users.view_user"],
        "log": [["admin", "users", "alice"]],
        "session_user": used["alice"],
        "user_content_types": ["users"],
        "newcomer": max(used["alice"], used["admin"]) + 1,
        "users": 3,
    }
    fresh = database_env(python, database, tmp_path, f"{release.version}_fresh")
    run([str(python), "manage.py", "migrate"], cwd=project, env=fresh)
    adopted_schema = project_script(python, project, "schema.py", env=env)
    fresh_schema = project_script(python, project, "schema.py", env=fresh)
    assert adopted_schema["applied"] == fresh_schema["applied"]
    assert adopted_schema["tables"] == fresh_schema["tables"]


def database_env(python: Path, database: str, tmp_path: Path, name: str) -> dict[str, str]:
    """A database of its own for one step of the test."""
    if database == "postgresql":
        url = create_postgres_database(python, "ccdc_update_" + re.sub(r"\W", "_", name))
    else:
        url = f"sqlite:///{tmp_path / name}.sqlite3"
    return {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.local"}


def project_script(python: Path, project: Path, script: str, *args: str, env) -> dict:
    """One of harness/project_scripts run in `project`; its JSON answer."""
    command = [str(python), str(project_scripts.FOLDER / script), *args]
    return json.loads(run(command, cwd=project, env=env).stdout.splitlines()[-1])
