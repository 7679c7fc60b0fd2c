"""Bad answers to the template: a clear message, a non-zero exit, nothing left behind."""

import subprocess
import sys

import pytest

from harness.variants import TEMPLATE_DIR

CLI = [sys.executable, "-m", "cookiecutter", str(TEMPLATE_DIR), "--no-input"]


def cookiecutter_cli(output_dir, *answers: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "--output-dir", str(output_dir), *answers],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def output_dir(tmp_path):
    path = tmp_path / "out"
    path.mkdir()
    return path


def left_behind(tmp_path) -> list[str]:
    """Everything under tmp_path but the empty output folder."""
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.name != "out")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param("project_slug=My-Project", "not a valid Python package name", id="invalid"),
        pytest.param("project_slug=django", "would shadow", id="shadowing"),
        pytest.param("project_slug=class", "Python keyword", id="keyword"),
        pytest.param("project_slug=café", "not a valid Python package name", id="non-ascii"),
        pytest.param("project_slug=../escape", "not a valid Python package name", id="parent"),
        pytest.param('project_slug=x"; print("INJECTED") #', "not a valid", id="injection"),
        pytest.param("email=not-an-email", "does not look like an email", id="email"),
        pytest.param("version=banana", "PEP 440", id="version"),
    ],
)
def test_bad_answer_fails_with_a_message_and_leaves_nothing(tmp_path, output_dir, answer, message):
    result = cookiecutter_cli(output_dir, answer)

    assert result.returncode == 1
    assert message in result.stderr
    assert "Nothing was generated" in result.stderr
    assert "INJECTED" not in result.stdout
    assert left_behind(tmp_path) == []


def test_all_problems_are_reported_in_one_run(tmp_path, output_dir):
    result = cookiecutter_cli(output_dir, "project_slug=Bad", "email=nope", "version=x")

    assert result.returncode == 1
    for field in ("project_slug", "email", "version"):
        assert f"  - {field}" in result.stderr
    assert left_behind(tmp_path) == []


def test_empty_slug_is_refused_by_cookiecutter_before_any_hook(tmp_path, output_dir):
    """It would name the output folder itself; cookiecutter refuses, in its own words."""
    result = cookiecutter_cli(output_dir, "project_slug=")

    assert result.returncode != 0
    assert "already exists" in result.stdout + result.stderr
    assert left_behind(tmp_path) == []


def test_nested_path_slug_is_refused_leaving_only_an_empty_parent(tmp_path, output_dir):
    """A known cookiecutter limit (docs/design_decisions.md): it creates the parent
    folder before any hook runs, and removes only the project folder on failure.
    """
    result = cookiecutter_cli(output_dir, "project_slug=a/b")

    assert result.returncode == 1
    assert "not a valid Python package name" in result.stderr
    assert left_behind(tmp_path) == ["out/a"]
    assert list((output_dir / "a").iterdir()) == []


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param("database=mysql", "choices are ['sqlite', 'postgresql']", id="choice"),
        pytest.param("ci=gitlab", "choices are ['github', 'none']", id="ci-choice"),
        pytest.param("use_redis=maybe", "could not be converted to a boolean", id="boolean"),
    ],
)
def test_bad_choices_and_booleans_are_refused(tmp_path, output_dir, answer, message):
    result = cookiecutter_cli(output_dir, answer)

    assert result.returncode != 0
    assert message in result.stderr
    assert left_behind(tmp_path) == []


@pytest.mark.parametrize("spelling", ["no", "false", "n", "0"])
def test_booleans_accept_the_usual_spellings(output_dir, spelling):
    result = cookiecutter_cli(output_dir, f"use_redis={spelling}")

    assert result.returncode == 0, result.stderr
    assert not (output_dir / "realtime_project" / "config" / "redis.py").exists()


def test_existing_output_folder_is_never_overwritten(output_dir):
    existing = output_dir / "realtime_project"
    existing.mkdir()
    (existing / "precious.txt").write_text("keep me")

    result = cookiecutter_cli(output_dir)

    assert result.returncode != 0
    assert "already exists" in result.stdout + result.stderr
    assert sorted(p.name for p in existing.iterdir()) == ["precious.txt"]
    assert (existing / "precious.txt").read_text() == "keep me"
