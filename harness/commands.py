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
    "WS_",
    "HEALTH_",
    "EMAIL_URL",
)


class CommandFailed(HarnessError):
    """A command exited non-zero; the message holds the end of its output."""


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without project variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROJECT_VARIABLES)}
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
