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


def test_pre_commit_hooks_run_the_makefiles_lint_and_typecheck(bakery: Bakery, tmp_path):
    project = bakery.copy(variant(), tmp_path).path
    commit_project(project, "baked")
    bin_dir = Path(sys.executable).parent  # uv and pre-commit of this environment
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit"),
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
    }
    pre_commit = [str(bin_dir / "pre-commit")]

    run([*pre_commit, "validate-config"], cwd=project, env=env)
    result = run([*pre_commit, "run", "--all-files"], cwd=project, env=env, timeout=900)

    assert "(make lint)" in result.stdout
    assert "(make typecheck)" in result.stdout
    assert result.stdout.count("Passed") == 2, result.stdout
    assert (project / "uv.lock").exists()  # `uv run` wrote the lock the README says to commit
