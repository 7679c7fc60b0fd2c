"""Running a command of a baked project in an environment cleaned of this process's
project variables, so nothing leaks from the caller into a variant.
"""

import os
import subprocess
from pathlib import Path

from harness import HarnessError

# Variables of the baked projects that must not leak into them from this process.
PROJECT_VARIABLES = (
    "DJANGO_",
    "DATABASE_URL",
    "REDIS_",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "PYTHONPYCACHEPREFIX",
    "WS_",
    "HEALTH_",
)


class CommandFailed(HarnessError):
    """A command exited non-zero; the message holds the end of its output."""


# Where the projects' processes keep their bytecode, pytest's rewritten modules included
# (`keep_bytecode_in`): one tree for the run, so that a module is compiled once, not by
# every process, even where PYTHONDONTWRITEBYTECODE is set (as on CI). Python keys the
# tree by source path, so bakes and copies never share an entry.
_bytecode_dir: Path | None = None


def keep_bytecode_in(directory: Path) -> None:
    """Give every later project command `directory` as its PYTHONPYCACHEPREFIX."""
    global _bytecode_dir
    _bytecode_dir = directory


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without project variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES)}
    if _bytecode_dir is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(_bytecode_dir)
    return {**env, **extra}


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command in a clean environment plus `env`; raise CommandFailed on failure."""
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
        raise CommandFailed(
            f"{' '.join(command)} exited {result.returncode} in {cwd}\n"
            f"--- stdout ---\n{result.stdout[-20000:]}\n--- stderr ---\n{result.stderr[-20000:]}"
        )
    return result
