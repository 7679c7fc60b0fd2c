"""Prune the files of every feature the user did not choose, and write per-project secrets.

Needs no network, no Docker and no installs. The secret key is made here, not in
cookiecutter.json, so it never lands in cookiecutter's replay file.
"""

import json
import secrets
import shutil
import sys
from pathlib import Path

CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")
SLUG = CONTEXT["project_slug"]

# Each entry: the files a choice owns, kept only when the answer is the given one.
# A path listed under several entries is kept only when all of them hold.
OWNED_PATHS: dict[tuple[str, object], list[str]] = {
    ("use_redis", True): [
        "config/redis.py",
        f"{SLUG}/core/checks.py",
        "compose/redis.yaml",
        "tests/test_redis.py",
        "tests/test_chat_redis.py",
    ],
    ("use_auth", True): [
        f"{SLUG}/templates/registration",
        "tests/test_accounts.py",
        "tests/test_chat_auth.py",
        "tests/test_sessions.py",
        f"{SLUG}/core/sessions.py",
    ],
    ("use_auth", False): [
        "tests/test_chat_guests.py",
    ],
    ("include_sample_consumer", True): [
        f"{SLUG}/chat",
        "docs/chat.md",
        "tests/test_chat.py",
        "tests/test_protocol.py",
        "tests/test_ratelimit.py",
        "tests/test_fuzz_chat.py",
        "tests/test_chat_auth.py",
        "tests/test_chat_guests.py",
        "tests/test_sessions.py",
        "tests/test_chat_page.py",
        "tests/test_chat_redis.py",
        "tests/test_broadcast.py",
    ],
    ("database", "postgresql"): [
        "tests/test_postgresql.py",
        "compose/postgresql.yaml",
    ],
    ("database", "sqlite"): [
        "compose/sqlite.yaml",
    ],
    ("use_docker", True): [
        "Dockerfile",
        ".dockerignore",
        "compose.yaml",
        "compose",
    ],
    ("ci", "github"): [
        ".github",
    ],
    ("has_license", True): [
        "LICENSE",
    ],
}


def answers(context: dict) -> dict[str, object]:
    """The answers the table is keyed on, with the derived ones."""
    return {**context, "has_license": context["open_source_license"] != "Not open source"}


def paths_to_remove(context: dict) -> list[str]:
    """Every owned path whose condition fails, less those inside a folder removed whole."""
    given = answers(context)
    unwanted = {
        path
        for (option, wanted), paths in OWNED_PATHS.items()
        if given[option] != wanted
        for path in paths
    }
    return sorted(p for p in unwanted if not any(p.startswith(f"{q}/") for q in unwanted))


def remove(root: Path, relative: str) -> None:
    path = root / relative
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    else:
        raise FileNotFoundError(f"the pruning table names {relative}, which the template lacks")


def write_env_file(root: Path) -> None:
    """A .env with a fresh secret key for this project (git-ignored)."""
    key = secrets.token_urlsafe(50)
    (root / ".env").write_text(f"DJANGO_SECRET_KEY={key}\nDJANGO_DEBUG=true\n", encoding="utf-8")


def main(root: Path, context: dict) -> int:
    for relative in paths_to_remove(context):
        remove(root, relative)
    write_env_file(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path.cwd(), CONTEXT))
