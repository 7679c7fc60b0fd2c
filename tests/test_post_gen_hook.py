"""The post-generation hook: the pruning table and the per-project secret."""

import itertools
import json
import shutil
import subprocess

import pytest

from harness.variants import FEATURES, TEMPLATE_DIR

from .hooks import context, load_hook

PROJECT_TEMPLATE = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"


@pytest.fixture
def hook(tmp_path):
    return load_hook("post_gen_project", tmp_path)


def template_path(relative: str) -> str:
    return relative.replace("realtime_project", "{{cookiecutter.project_slug}}", 1)


def test_every_path_in_the_table_exists_in_the_template(hook):
    for paths in hook.OWNED_PATHS.values():
        for relative in paths:
            assert (PROJECT_TEMPLATE / template_path(relative)).exists(), relative


def test_every_option_of_the_table_is_a_prompt(hook):
    answers = hook.answers(context())
    for option, value in hook.OWNED_PATHS:
        assert option in answers
        assert isinstance(value, type(answers[option]))


def test_everything_chosen_removes_only_the_other_branches(hook):
    everything = context(database="postgresql")

    assert hook.paths_to_remove(everything) == ["compose/sqlite.yaml", "tests/test_chat_guests.py"]


@pytest.mark.parametrize(
    "values", list(itertools.product(*FEATURES.values())), ids=lambda v: "-".join(map(str, v))
)
def test_removed_paths_follow_the_answers(hook, values):
    answers = dict(zip(FEATURES, values, strict=True))
    removed = set(hook.paths_to_remove(context(**answers)))

    assert ("config/redis.py" in removed) == (not answers["use_redis"])
    assert ("realtime_project/chat" in removed) == (not answers["include_sample_consumer"])
    assert ("realtime_project/templates/registration" in removed) == (not answers["use_auth"])
    assert ("tests/test_postgresql.py" in removed) == (answers["database"] != "postgresql")
    assert ("Dockerfile" in removed) == (not answers["use_docker"])
    assert (".github" in removed) == (answers["ci"] != "github")
    redis_chat = answers["use_redis"] and answers["include_sample_consumer"]
    assert ("tests/test_chat_redis.py" in removed) == (not redis_chat)
    assert ("compose" in removed) == (not answers["use_docker"])
    if answers["use_docker"]:
        assert ("compose/redis.yaml" in removed) == (not answers["use_redis"])
        assert ("compose/sqlite.yaml" in removed) == (answers["database"] != "sqlite")
        assert ("compose/postgresql.yaml" in removed) == (answers["database"] != "postgresql")


def test_nothing_inside_a_removed_folder_is_listed_again(hook):
    """Removing compose/ removes its files; listing them too would fail the removal."""
    removed = hook.paths_to_remove(context(use_docker=False, use_redis=False))

    assert "compose" in removed
    assert not [path for path in removed if path.startswith("compose/")]


def test_no_license_file_when_not_open_source(hook):
    assert "LICENSE" in hook.paths_to_remove(context(open_source_license="Not open source"))
    assert "LICENSE" not in hook.paths_to_remove(context(open_source_license="MIT"))


def test_main_prunes_a_copy_and_writes_a_fresh_secret(tmp_path, hook):
    project = tmp_path / "project"
    shutil.copytree(PROJECT_TEMPLATE, project)
    (project / "realtime_project").mkdir()  # the rendered name of the package folder
    (project / "realtime_project" / "chat").mkdir()
    (project / "realtime_project" / "core").mkdir()
    (project / "realtime_project" / "core" / "checks.py").touch()
    (project / "realtime_project" / "templates" / "registration").mkdir(parents=True)
    answers = context(use_redis=False, include_sample_consumer=False, use_docker=False)

    assert hook.main(project, answers) == 0

    assert not (project / "config" / "redis.py").exists()
    assert not (project / "Dockerfile").exists()
    assert not (project / "realtime_project" / "chat").exists()
    assert not (project / "realtime_project" / "core" / "checks.py").exists()
    assert (project / "realtime_project" / "templates" / "registration").exists()
    env = (project / ".env").read_text()
    assert env.startswith("DJANGO_SECRET_KEY=")
    key = env.splitlines()[0].split("=", 1)[1]
    assert len(key) >= 50
    assert not key.startswith("django-insecure")


def test_a_table_entry_missing_from_the_template_is_an_error(tmp_path, hook):
    with pytest.raises(FileNotFoundError, match="the pruning table names"):
        hook.remove(tmp_path, "no/such/file")


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        (
            "gh:example/cookiecutter-django-channels",
            "https://github.com/example/cookiecutter-django-channels.git",
        ),
        ("gl:example/template", "https://gitlab.com/example/template.git"),
        ("https://git.example.com/template.git", "https://git.example.com/template.git"),
        ("git+https://git.example.com/template.git", "https://git.example.com/template.git"),
        ("git+file:///srv/templates/template", "file:///srv/templates/template"),
    ],
)
def test_the_cruft_file_names_the_template_as_git_can_clone_it(hook, given, recorded):
    template, commit = hook.template_source({"_template": given, "_repo_dir": "/nonexistent"})

    assert (template, commit) == (recorded, None)


def test_under_cruft_the_cruft_file_takes_crufts_template_and_commit(hook):
    context = {"_template": "https://example.com/t.git", "_commit": "0123abc"}

    assert hook.template_source(context) == ("https://example.com/t.git", "0123abc")


def test_the_cruft_file_holds_the_answers_and_no_local_path(tmp_path, hook):
    answers = {**context(), "_output_dir": "/home/someone/projects", "_repo_dir": "/nonexistent"}

    hook.write_cruft_file(tmp_path, {**answers, "_template": "gh:example/t"})

    state = json.loads((tmp_path / ".cruft.json").read_text())
    assert state["template"] == "https://github.com/example/t.git"
    assert state["context"]["cookiecutter"]["project_slug"] == "realtime_project"
    assert "/home/someone" not in json.dumps(state)


def a_project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / ".gitignore").write_text(".env\n", encoding="utf-8")
    (root / ".env").write_text("DJANGO_SECRET_KEY=x\n", encoding="utf-8")
    (root / "manage.py").write_text("", encoding="utf-8")
    return root


def git_output(root, *args, env=None):
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, env=env
    )
    return result.stdout.strip()


IDENTITY = {
    "GIT_AUTHOR_NAME": "A Newcomer",
    "GIT_AUTHOR_EMAIL": "newcomer@example.com",
    "GIT_COMMITTER_NAME": "A Newcomer",
    "GIT_COMMITTER_EMAIL": "newcomer@example.com",
}


def no_git_config(monkeypatch, tmp_path):
    """git reads no configuration of this machine's (no identity, no default branch)."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in IDENTITY:
        monkeypatch.delenv(name, raising=False)


def test_the_bake_is_committed_where_git_knows_who_commits(tmp_path, hook, monkeypatch):
    no_git_config(monkeypatch, tmp_path)
    for name, value in IDENTITY.items():
        monkeypatch.setenv(name, value)
    root = a_project(tmp_path)

    assert hook.make_repository(root, context()) == ""

    assert git_output(root, "log", "--format=%an %s") == (
        "A Newcomer Generated by cookiecutter-django-channels"
    )
    assert git_output(root, "ls-files").split() == [".gitignore", "manage.py"]
    assert git_output(root, "status", "--porcelain") == ""


def test_without_an_identity_the_bake_is_staged_and_the_user_told(tmp_path, hook, monkeypatch):
    no_git_config(monkeypatch, tmp_path)
    root = a_project(tmp_path)

    note = hook.make_repository(root, context())

    assert "set user.name and user.email, then run `git commit`" in note
    assert git_output(root, "diff", "--cached", "--name-only").split() == [
        ".gitignore",
        "manage.py",
    ]


def test_no_repository_under_cruft_inside_another_or_without_git(tmp_path, hook, monkeypatch):
    no_git_config(monkeypatch, tmp_path)
    root = a_project(tmp_path)
    assert hook.make_repository(root, {**context(), "_commit": "abc123"}) == ""  # cruft's render
    assert not (root / ".git").exists()

    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    assert hook.make_repository(root, context()) == ""  # a monorepo keeps its own
    assert not (root / ".git").exists()
    shutil.rmtree(tmp_path / ".git")

    monkeypatch.setenv("PATH", str(tmp_path / "no-programs-here"))
    assert "git was not found" in hook.make_repository(root, context())
    assert not (root / ".git").exists()
