"""The update path as a user walks it: a git copy of the template, a project baked from it
and committed, template commits on top, `cruft update`.

Plain functions, no pytest: the tests of the update path (tests/test_update_path.py) say
what must hold after each step.
"""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import HarnessError
from harness.baking import GIT_IDENTITY, cookiecutter_config
from harness.commands import run
from harness.variants import TEMPLATE_DIR, Answers

# A release heading of CHANGELOG.md and the commit it names: "## 0.1.0 — 2026-11-29" and,
# below it, "Tagged `v0.1.0` at commit `c767de7`."
RELEASE = re.compile(
    r"^## (\d+\.\d+\.\d+)\b.*?\n+Tagged `(v[\d.]+)` at commit `([0-9a-f]{7,40})`", re.M
)
CRUFT = [str(Path(sys.executable).with_name("cruft"))]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_IDENTITY, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd)}
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise HarnessError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout.strip()


@dataclass(frozen=True)
class Release:
    version: str
    tag: str
    commit: str


def releases() -> list[Release]:
    """The template's releases, newest first, as CHANGELOG.md records them."""
    changelog = (TEMPLATE_DIR / "CHANGELOG.md").read_text(encoding="utf-8")
    return [Release(*match.groups()) for match in RELEASE.finditer(changelog)]


def working_tree_files() -> list[str]:
    """The template's files as they are now: tracked and new, not ignored."""
    listed = git(TEMPLATE_DIR, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    return [name for name in listed.split("\0") if name and (TEMPLATE_DIR / name).is_file()]


class TemplateRepository:
    """A git repository of the template that the test adds commits to."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        git(path, "init", "--quiet", "--initial-branch", "main")

    def commit_working_tree(self, message: str) -> str:
        """The template as this checkout holds it, uncommitted changes included."""
        self._clear()
        for name in working_tree_files():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE_DIR / name, target)
        return self.commit(message)

    def commit_release(self, release: Release) -> str:
        """The template as it was at a release's commit (of this checkout's history)."""
        self._clear()
        with tempfile.TemporaryDirectory() as scratch:
            archive = Path(scratch) / "release.tar"
            git(TEMPLATE_DIR, "archive", "--output", str(archive), release.commit)
            with tarfile.open(archive) as tar:
                tar.extractall(self.path, filter="data")
        return self.commit(f"release {release.version}")

    def commit(self, message: str) -> str:
        git(self.path, "add", "--all")
        git(self.path, "commit", "--quiet", "--allow-empty", "--message", message)
        return git(self.path, "rev-parse", "HEAD")

    def _clear(self) -> None:
        for entry in self.path.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()

    @property
    def project_template(self) -> Path:
        return self.path / "{{cookiecutter.project_slug}}"


def bake_with_cookiecutter(
    template: Path | str, answers: Answers, output_dir: Path, checkout: str | None = None
) -> Path:
    """`cookiecutter --no-input [--checkout REF] <template> key=value ...`, as a user runs
    it, with its own configuration (no user configuration read).
    """
    config = cookiecutter_config(output_dir)
    values = [
        f"{key}={'yes' if value is True else 'no' if value is False else value}"
        for key, value in answers.items()
    ]
    command = [sys.executable, "-m", "cookiecutter", "--no-input", "--config-file", str(config)]
    if checkout:
        command += ["--checkout", checkout]
    arguments = [*command, "--output-dir", str(output_dir), str(template), *values]
    run(arguments, cwd=output_dir, env=GIT_IDENTITY)  # the bake's first commit needs one
    (project,) = [p for p in output_dir.iterdir() if (p / "manage.py").exists()]
    return project


def commit_project(project: Path, message: str) -> None:
    """What a user does with a new project: everything committed (the bake made the
    repository, and its first commit where git had an identity).
    """
    if not (project / ".git").exists():  # baked by a release before 0.2
        git(project, "init", "--quiet", "--initial-branch", "main")
    git(project, "add", "--all")
    if git(project, "status", "--porcelain"):
        git(project, "commit", "--quiet", "--message", message)


def cruft(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_IDENTITY, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        [*CRUFT, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def leftovers(project: Path) -> list[str]:
    """What a failed three-way apply leaves: reject and original files, conflict markers."""
    found = [
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.suffix in {".rej", ".orig"} and ".git" not in path.parts
    ]
    unmerged = git(project, "diff", "--name-only", "--diff-filter=U")
    markers = subprocess.run(
        ["git", "grep", "-l", "-E", "^(<<<<<<<|>>>>>>>) "],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return [*found, *unmerged.split(), *markers]
