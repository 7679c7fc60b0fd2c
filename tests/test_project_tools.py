"""The baked project's own tooling, run as its README and Makefile say: pre-commit's hooks
(the Makefile's lint and typecheck targets, through uv and the project's lock file).
"""

import os
import sys
from pathlib import Path

import pytest

from harness.baking import Bakery
from harness.commands import run
from harness.updates import commit_project
from harness.variants import variant

pytestmark = pytest.mark.slow


def test_the_readmes_set_up_then_pre_commit_run_the_makefiles_lint_and_typecheck(
    bakery: Bakery, tmp_path
):
    """The README's `uv sync` in a committed copy (no other virtual environment active):
    no warning, a `uv.lock` to commit; then pre-commit's hooks, through `uv run`."""
    project = bakery.copy(variant(), tmp_path).path
    commit_project(project, "baked")
    bin_dir = Path(sys.executable).parent  # uv and pre-commit of this environment
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
    }
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "python -m pip install uv && uv sync && " in readme

    synced = run(["uv", "sync"], cwd=project, env=env, timeout=900)

    assert "warning" not in synced.stderr.lower(), synced.stderr
    assert (project / "uv.lock").exists()
    pre_commit = [str(bin_dir / "pre-commit")]
    run([*pre_commit, "validate-config"], cwd=project, env=env)
    result = run([*pre_commit, "run", "--all-files"], cwd=project, env=env, timeout=900)
    assert "(make lint)" in result.stdout
    assert "(make typecheck)" in result.stdout
    assert result.stdout.count("Passed") == 2, result.stdout
