"""Properties of a bake that are not about one variant: secrets, licenses, names, speed."""

import fnmatch
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.variants import TEMPLATE_DIR

LICENSE_HEADINGS = {
    "MIT": "MIT License",
    "BSD-3-Clause": "BSD 3-Clause License",
    "Apache-2.0": "Apache License",
}


def bake_ok(cookies, **answers):
    result = cookies.bake(extra_context=answers)
    assert result.exit_code == 0, result.exception
    return result.project_path


def assert_ruff_clean(cwd, *paths: str) -> None:
    for command in (["check", "--no-cache"], ["format", "--no-cache", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *paths],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def secret_of(project) -> str:
    line = (project / ".env").read_text().splitlines()[0]
    assert line.startswith("DJANGO_SECRET_KEY=")
    return line.split("=", 1)[1]


def test_each_bake_gets_a_fresh_secret_kept_out_of_the_replay(cookies, request):
    first, second = secret_of(bake_ok(cookies)), secret_of(bake_ok(cookies))

    assert first != second
    assert len(first) >= 50
    config_file = request.getfixturevalue("_cookiecutter_config_file")  # pytest-cookies'
    replay_dir = config_file.dirpath() / "cookiecutter_replay"
    replays = [p.read_text(encoding="utf-8") for p in replay_dir.listdir()]
    assert replays
    assert all(first not in text and second not in text for text in replays)


def test_env_file_is_git_ignored(cookies):
    project = bake_ok(cookies)

    assert ".env" in (project / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("license_name", list(LICENSE_HEADINGS))
def test_license_choice_renders_its_text(cookies, license_name):
    project = bake_ok(cookies, open_source_license=license_name, author_name="Ada Lovelace")

    text = (project / "LICENSE").read_text()
    assert text.startswith(LICENSE_HEADINGS[license_name])
    if license_name != "Apache-2.0":
        assert "Ada Lovelace" in text
    assert f'license = "{license_name}"' in (project / "pyproject.toml").read_text()


def test_not_open_source_has_no_license(cookies):
    project = bake_ok(cookies, open_source_license="Not open source")

    assert not (project / "LICENSE").exists()
    assert "license =" not in (project / "pyproject.toml").read_text()


def test_slug_is_derived_from_the_project_name(cookies):
    project = bake_ok(cookies, project_name="Café Live-Feed 2")

    assert project.name == "cafe_live_feed_2"
    assert (project / "cafe_live_feed_2" / "core" / "views.py").exists()


def test_the_auth_prompt_says_it_guards_pages_as_well_as_websockets():
    """With use_auth every page but /health/ and the login page needs a login, not only
    the websockets (LoginRequiredMiddleware).
    """
    prompts = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["__prompts__"]

    assert "pages and websockets" in prompts["use_auth"]


def test_quotes_in_free_text_stay_valid_toml_and_python(cookies):
    import tomllib

    name = 'The "Quoted" Project \\ O\'Brien'
    project = bake_ok(cookies, project_name=name, project_slug="quoted", description='Say "hi"')

    data = tomllib.loads((project / "pyproject.toml").read_text())
    assert data["project"]["description"] == 'Say "hi"'
    base = (project / "config" / "settings" / "base.py").read_text()
    match = re.search(r"^PROJECT_NAME = (.*)$", base, re.MULTILINE)
    assert json.loads(match.group(1)) == name


@pytest.mark.parametrize(
    "slug",
    [
        pytest.param("a_rather_long_package_name_xyz", id="longest-sorting-before-config"),
        pytest.param("zz_top", id="sorting-after-config"),
    ],
)
def test_generated_code_is_clean_whatever_the_slug(cookies, slug):
    """Line lengths and import order must not depend on the package name."""
    project = bake_ok(cookies, project_slug=slug, database="postgresql")

    assert_ruff_clean(project, ".")


def test_timezone_reaches_the_settings(cookies):
    project = bake_ok(cookies, timezone="Europe/Paris")

    assert 'TIME_ZONE = "Europe/Paris"' in (project / "config" / "settings" / "base.py").read_text()


def rendered_template_files() -> list[Path]:
    """The project template's files Cookiecutter renders: not those `_copy_without_render`
    names (Django templates, static files, files served at the site's root).
    """
    root = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
    copied = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["_copy_without_render"]
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and not any(fnmatch.fnmatch(path.relative_to(root).as_posix(), p) for p in copied)
    ]


JINJA_TAG = re.compile(r"\{%-?\s*(\w+).*?-?%\}")
# Tags that open, split or close a block; `{% now %}` is a value, like `{{ }}`.
BLOCK_TAGS = {"if", "elif", "else", "endif", "for", "endfor"}


def test_template_uses_jinja_only_at_seams():
    """No file reads as a decision tree: at most 3 {% if %} blocks per rendered file, of
    any type (a feature that needs more owns whole files instead).
    """
    root = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
    for path in rendered_template_files():
        tags = JINJA_TAG.findall(path.read_text(encoding="utf-8"))
        assert tags.count("if") <= 3, f"{path.relative_to(root)} has {tags.count('if')} if-blocks"


def test_jinja_tags_stand_on_lines_of_their_own():
    """A seam is whole lines: a block tag never shares its line with text or another tag."""
    root = TEMPLATE_DIR / "{{cookiecutter.project_slug}}"
    for path in rendered_template_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            tags = JINJA_TAG.findall(line)
            if BLOCK_TAGS & set(tags):
                where = f"{path.relative_to(root)}:{number}"
                assert len(tags) == 1, f"{where} holds {len(tags)} tags: {line!r}"
                assert JINJA_TAG.fullmatch(line.strip()), f"{where} mixes a tag with text: {line!r}"


def test_template_code_is_ruff_clean():
    """The hooks, this suite and the benchmark meet the bar the generated projects meet."""
    assert_ruff_clean(TEMPLATE_DIR, "hooks", "tests", "bench")
