"""Prune the files of every feature the user did not choose, write per-project secrets,
record where the project came from (`.cruft.json`), and make it a git repository.

Needs no network, no Docker and no installs (git, when present, names the template's
commit). The secret key is made here, not in cookiecutter.json, so it never lands in
cookiecutter's replay file; `.env` and `.cruft.json` are left out of template updates
(`[tool.cruft] skip` in the project's pyproject.toml).
"""

import json
import os
import secrets
import shutil
import subprocess
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
        f"{SLUG}/users/urls.py",
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


# cookiecutter's built-in abbreviations, expanded so that cruft (which clones the URL as
# it is) can find the template again.
ABBREVIATIONS = {
    "gh:": "https://github.com/{}.git",
    "gl:": "https://gitlab.com/{}.git",
    "bb:": "https://bitbucket.org/{}",
}


def template_source(context: dict) -> tuple[str, str | None]:
    """Where the template came from, as cruft clones it, and its commit when known: cruft
    renders with both in the context; cookiecutter leaves its checkout at `_repo_dir`
    (a clone of a URL, or the local folder, as the user typed it).
    """
    template = str(context.get("_template", ""))
    if "_commit" in context:
        return template, context["_commit"]
    for prefix, url in ABBREVIATIONS.items():
        if template.startswith(prefix):
            template = url.format(template.removeprefix(prefix))
    # cookiecutter's `git+https://...`, `git+file://...`: git itself (and so cruft) takes
    # the address without the `git+`.
    template = template.removeprefix("git+")
    repo_dir = Path(str(context.get("_repo_dir", "")))
    if not repo_dir.is_absolute():
        # This hook runs in the new project: a relative path is the user's shell's.
        repo_dir = Path(os.environ.get("PWD", "/nonexistent")) / repo_dir
    if not (repo_dir / "cookiecutter.json").is_file():
        return template, None
    if "://" not in template and not template.startswith("git@"):
        template = str(repo_dir.resolve())  # a local template: its absolute path
    return template, git_head(repo_dir)


def git_head(directory: Path) -> str | None:
    try:
        found = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def write_cruft_file(root: Path, context: dict) -> None:
    """`.cruft.json` as `cruft create` writes it: the template, its commit and the answers
    (cookiecutter's private keys and local paths left out), so `cruft update` can work.
    """
    template, commit = template_source(context)
    answers = {key: value for key, value in context.items() if not key.startswith("_")}
    state = {
        "template": template,
        "commit": commit,
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": {**answers, "_template": template, "_commit": commit}},
        "directory": None,
    }
    text = json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": "))
    (root / ".cruft.json").write_text(text + "\n", encoding="utf-8")


def make_repository(root: Path, context: dict) -> str:
    """The project as a git repository, the bake its first commit where git has an identity
    (user.name and user.email, or GIT_AUTHOR_*/GIT_COMMITTER_*; never one git guesses), so
    that pre-commit and cruft work at once. Returns what the user must know, or "".

    Not when cruft renders (its context has `_commit`: it renders into a folder of its own
    to compare, for create, update and diff alike), nor inside another repository (a
    monorepo keeps its own). A missing git is not an error.
    """
    if "_commit" in context:
        return ""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        command = ["git", "-C", str(root), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    try:
        inside = git("rev-parse", "--is-inside-work-tree")
    except (OSError, subprocess.SubprocessError):
        return "git was not found: no repository made (pre-commit and cruft need one)."
    if inside.returncode == 0:
        return ""
    if git("init", "--quiet").returncode != 0 or git("add", "--all").returncode != 0:
        return "git init failed: no repository made (pre-commit and cruft need one)."
    message = "Generated by cookiecutter-django-channels"
    identity_only = ["-c", "user.useConfigOnly=true"]
    committed = git(*identity_only, "commit", "--quiet", "--no-verify", "-m", message)
    if committed.returncode != 0:
        return (
            "A git repository with every file staged, not committed: git has no identity "
            "(set user.name and user.email, then run `git commit`)."
        )
    return ""


def main(root: Path, context: dict) -> int:
    for relative in paths_to_remove(context):
        remove(root, relative)
    write_env_file(root)
    write_cruft_file(root, context)
    note = make_repository(root, context)
    if note:
        print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path.cwd(), CONTEXT))
