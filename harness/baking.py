"""Baking variants and installing them, each once per run, shared between processes.

A run of the test suite (several pytest-xdist workers) or of the benchmark hands one
root directory to `BakeCache` and `ProjectEnvironments`; a file lock per entry makes
the first process that asks do the work and every other one reuse it.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.main import cookiecutter

from harness import HarnessError
from harness.commands import run
from harness.variants import TEMPLATE_DIR, Answers, variant_id


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` (created if missing), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cookiecutter_config(output_dir: Path) -> Path:
    """A cookiecutter configuration of our own in `output_dir` (created): no user
    configuration read, cloned templates and replay files kept in `output_dir`.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    config = output_dir / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(output_dir / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(output_dir / 'replay'))}\n",
        encoding="utf-8",
    )
    return config


# Who commits what the harness commits, the bake's first commit included (the
# post-generation hook commits only where git has an identity; a fresh machine has none).
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Update Test",
    "GIT_AUTHOR_EMAIL": "update-test@example.com",
    "GIT_COMMITTER_NAME": "Update Test",
    "GIT_COMMITTER_EMAIL": "update-test@example.com",
}


def bake(answers: Answers, output_dir: Path) -> Path:
    """Bake the template with `answers` (the rest default) into `output_dir`, as
    `cookiecutter --no-input` does, with a configuration of our own (and a git identity
    for the hook's first commit, in this process's environment).
    """
    for name, value in GIT_IDENTITY.items():
        os.environ.setdefault(name, value)
    config = cookiecutter_config(output_dir)
    try:
        project = cookiecutter(
            str(TEMPLATE_DIR),
            no_input=True,
            extra_context=answers,
            output_dir=str(output_dir),
            config_file=str(config),
        )
    except Exception as error:  # cookiecutter's own errors and a failing hook alike
        raise HarnessError(f"baking {answers} failed: {error!r}") from error
    return Path(project)


@dataclass(frozen=True)
class Baked:
    """One baked variant: where it is, what it was asked for, which Python runs it."""

    path: Path
    answers: Answers
    python: Path

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 600):
        """Run a command in the project, its virtual environment first on PATH."""
        path = f"{self.python.parent}{os.pathsep}{os.environ.get('PATH', '')}"
        return run([*args], cwd=self.path, env={"PATH": path, **(env or {})}, timeout=timeout)

    def manage(self, *args: str, env: dict[str, str] | None = None):
        return self.run(str(self.python), "manage.py", *args, env=env)

    def files(self) -> list[Path]:
        """The project's files, not git's (the bake makes a repository)."""
        found = (p for p in self.path.rglob("*") if p.is_file())
        return sorted(p for p in found if ".git" not in p.relative_to(self.path).parts)


class BakeCache:
    """Each variant baked once under `root`, whoever asks first; never changed after.

    A caller that writes into a project (a database, collected static files) works on
    its own copy (`copy`), so every reader sees the bake as the template made it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, answers: Answers) -> Path:
        key = variant_id(answers)
        folder = self.root / key
        done = folder / "baked"
        with locked(self.root / f"{key}.lock"):
            if not done.exists():
                shutil.rmtree(folder, ignore_errors=True)
                project = bake(answers, folder)
                done.write_text(project.name, encoding="utf-8")
        return folder / done.read_text(encoding="utf-8")

    def copy(self, answers: Answers, destination: Path) -> Path:
        """A private copy of the bake, at `destination`/<slug>."""
        source = self.path(answers)
        return Path(shutil.copytree(source, destination / source.name))


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

    def python_for(self, project_dir: Path) -> Path:
        key = dependency_key(project_dir)
        venv = self.root / key
        python = venv / "bin" / "python"
        with locked(self.root / f"{key}.lock"):
            if not (venv / "installed").exists():
                shutil.rmtree(venv, ignore_errors=True)
                uv = [sys.executable, "-m", "uv"]
                run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], project_dir)
                # Bytecode compiled once here: every server, manage.py and pytest process
                # of the run then reads it, even under PYTHONDONTWRITEBYTECODE=1, instead
                # of compiling Django and the rest again (about 1 s of CPU a process).
                install = [*uv, "pip", "install", "--quiet", "--compile-bytecode"]
                install += ["--python", str(python)]
                run([*install, "-r", "pyproject.toml", "--group", "dev"], cwd=project_dir)
                (venv / "installed").touch()
        return python


def copy_cache(source: Path, destination: Path) -> None:
    """A copy of a mypy cache that mypy trusts: copy2 keeps the modification times, which
    mypy compares with those it recorded (without them it discards every entry).
    """
    shutil.copytree(source, destination, copy_function=shutil.copy2)


class MypyCaches:
    """mypy caches seeded per virtual environment: the first project type-checked with an
    environment leaves its cache as that environment's seed; every later project starts
    from a copy of it, so mypy reads the installed packages (Django's stubs, redis, ...)
    from the cache and checks only what differs. That is mypy's own incremental mode,
    which rechecks every module whose source, or whose dependencies' interfaces, changed
    (the Django plugin declares a project's settings as a dependency of `django.conf`).
    Each run gets a copy of its own: one cache written by several projects' runs crashed
    the Django plugin.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def typecheck(self, project: Baked, cache_dir: Path) -> None:
        """`mypy .` in the project with `cache_dir`; raises CommandFailed on any error."""
        environment = project.python.parent.parent.name
        seed = self.root / environment
        ready = self.root / f"{environment}.ready"
        with locked(self.root / f"{environment}.lock"):
            if not ready.exists():
                self.run_mypy(project, cache_dir)
                shutil.rmtree(seed, ignore_errors=True)
                copy_cache(cache_dir, seed)
                ready.touch()
                return
        copy_cache(seed, cache_dir)
        self.run_mypy(project, cache_dir)

    @staticmethod
    def run_mypy(project: Baked, cache_dir: Path) -> None:
        project.run(str(project.python), "-m", "mypy", "--cache-dir", str(cache_dir), ".")


# The benchmark's --cache option: a Bakery's root kept between runs.
CACHE_HELP = (
    "bake and install in this folder, kept for the next run (a bake is kept as made: "
    "empty the folder after changing the template)"
)


class Bakery:
    """The bake cache, the environments and their mypy caches of one run, under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bakes = BakeCache(root / "bakes")
        self.environments = ProjectEnvironments(root / "venvs")
        self.mypy_caches = MypyCaches(root / "mypy")

    def baked(self, answers: Answers) -> Baked:
        """The shared bake of `answers`, installed (read it, don't write into it)."""
        path = self.bakes.path(answers)
        return Baked(path, answers, self.environments.python_for(path))

    def copy(self, answers: Answers, destination: Path) -> Baked:
        """A private, installed copy of the bake of `answers`, to write into."""
        path = self.bakes.copy(answers, destination)
        return Baked(path, answers, self.environments.python_for(path))
