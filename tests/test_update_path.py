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


def test_a_project_of_the_latest_release_updates_to_this_commit(tmp_path):
    """Baked from the latest release (before 0.2 with plain cookiecutter and no
    .cruft.json: then linked as the README says), then updated to the template as this
    checkout holds it.
    """
    release = releases()[0]
    tagged = git(TEMPLATE_DIR, "tag", "--list", release.tag)
    if tagged:  # a clone may come without tags; the CHANGELOG names the commit either way
        tag_commit = git(TEMPLATE_DIR, "rev-parse", f"{release.tag}^{{commit}}")
        assert tag_commit.startswith(release.commit)
    template = TemplateRepository(tmp_path / "template")
    release_commit = template.commit_release(release)
    project = bake_with_cookiecutter(template.path, variant(), tmp_path / "projects")
    if not (project / ".cruft.json").exists():
        # README, Keep up to date: a project baked before .cruft.json existed.
        linked = cruft(project, "link", str(template.path), "--checkout", release_commit, "-y")
        assert linked.returncode == 0, linked.stdout + linked.stderr
        state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
        state["skip"] = [".env", ".cruft.json"]
        (project / ".cruft.json").write_text(json.dumps(state, indent=2) + "\n")
    commit_project(project, f"baked from {release.version}")
    env_before = (project / ".env").read_bytes()
    current = template.commit_working_tree("the template as this checkout holds it")

    result = cruft(project, "update", "--skip-apply-ask")

    assert result.returncode == 0, result.stdout + result.stderr
    assert leftovers(project) == []
    assert (project / ".env").read_bytes() == env_before
    assert json.loads((project / ".cruft.json").read_text())["commit"] == current
    for path in PRUNED:
        assert not (project / path).exists(), path
    assert (project / SLUG / "users" / "models.py").exists()  # new since 0.1.0
    assert "[tool.cruft]" in (project / "pyproject.toml").read_text(encoding="utf-8")
