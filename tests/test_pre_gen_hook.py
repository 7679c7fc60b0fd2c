"""The pre-generation hook, rendered and imported the way cookiecutter runs it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .hooks import context, load_hook


@pytest.fixture
def hook(tmp_path):
    return load_hook("pre_gen_project", tmp_path)


def test_default_answers_are_accepted(hook):
    assert hook.problems(context()) == []
    assert hook.main(context()) == 0


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        pytest.param("", "is empty", id="empty"),
        pytest.param("My-Project", "not a valid Python package name", id="dash-and-capitals"),
        pytest.param("1project", "not a valid Python package name", id="leading-digit"),
        pytest.param("_private", "not a valid Python package name", id="leading-underscore"),
        pytest.param("café", "not a valid Python package name", id="non-ascii"),
        pytest.param("../escape", "not a valid Python package name", id="parent-path"),
        pytest.param("a/b", "not a valid Python package name", id="nested-path"),
        pytest.param("class", "is a Python keyword", id="keyword"),
        pytest.param("match", "is a Python keyword", id="soft-keyword"),
        pytest.param("json", "would shadow", id="stdlib"),
        pytest.param("test", "would shadow", id="stdlib-test"),
        pytest.param("django", "would shadow", id="django"),
        pytest.param("channels", "would shadow", id="channels"),
        pytest.param("daphne", "would shadow", id="daphne"),
        pytest.param("redis", "would shadow", id="redis"),
        pytest.param("config", "would shadow", id="config-package"),
        pytest.param("tests", "would shadow", id="tests-package"),
        pytest.param("a" * 31, "at most 30", id="too-long"),
    ],
)
def test_bad_slugs_are_rejected_with_a_reason(hook, slug, message):
    found = hook.problems(context(project_slug=slug))

    assert len(found) == 1
    assert message in found[0]
    assert "project_slug" in found[0]


@pytest.mark.parametrize(
    ("slug", "suggestion"),
    [
        ("My-Project", "my_project"),
        ("1project", "project_1project"),
        ("_private", "private"),
        ("café", "cafe"),
        ("../escape", "escape"),
        ("Ünïcode Chat!", "unicode_chat"),
        ("class", "class_service"),
        ("json", "json_service"),
        ("---", "realtime_project"),
        ("a" * 31, "a" * 30),
    ],
)
def test_a_bad_slug_is_answered_with_a_slug_made_from_it(hook, slug, suggestion):
    (problem,) = hook.problems(context(project_slug=slug))

    assert problem.endswith(f"e.g. {suggestion}.")
    assert hook.problems(context(project_slug=suggestion)) == []


@pytest.fixture(scope="module")
def shared_hook(tmp_path_factory):
    return load_hook("pre_gen_project", tmp_path_factory.mktemp("hook"))


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_every_suggested_slug_is_accepted(shared_hook, text):
    assert shared_hook.check_slug(shared_hook.suggest_slug(text)) == []


@pytest.mark.parametrize("slug", ["chat_service", "a", "a" * 30, "realtime2"])
def test_good_slugs_are_accepted(hook, slug):
    assert hook.problems(context(project_slug=slug)) == []


@pytest.mark.parametrize(
    "email", ["", "nobody", "no@tld", "two@@example.com", "sp ace@example.com", "a@b."]
)
def test_bad_emails_are_rejected(hook, email):
    found = hook.problems(context(email=email))

    assert len(found) == 1
    assert "does not look like an email" in found[0]


@pytest.mark.parametrize(
    "version", ["0.1.0", "1!2.0", "1.0rc1", "2.0.post1", "3.0.dev2", "1+local"]
)
def test_pep440_versions_are_accepted(hook, version):
    assert hook.problems(context(version=version)) == []


@pytest.mark.parametrize("version", ["", "one", "1.0-beta-x", "1..0"])
def test_other_versions_are_rejected(hook, version):
    assert "PEP 440" in " ".join(hook.problems(context(version=version)))


def test_unknown_time_zone_is_rejected(hook):
    assert "IANA time zone" in " ".join(hook.problems(context(timezone="Mars/Olympus")))


def test_control_characters_are_rejected(hook):
    found = hook.problems(context(project_name="Two\nLines", author_name="Tab\tbed"))

    assert len(found) == 2
    assert all("control character" in problem for problem in found)


def test_every_problem_is_reported_at_once(hook, capsys):
    bad = context(project_slug="Bad-Slug", email="nope", version="abc", timezone="Nowhere/X")

    assert len(hook.problems(bad)) == 4
    assert hook.main(bad) == 1
    err = capsys.readouterr().err
    for field in ("project_slug", "email", "version", "timezone"):
        assert field in err
    assert "Nothing was generated" in err


def test_values_reach_the_hook_as_data_not_code(tmp_path, capsys):
    """A slug crafted to break out of a string literal stays a plain value."""
    slug = 'x"; print("INJECTED") #'
    for attempt in (slug, 'x"""; print("INJECTED"); """', "x\\"):
        hook = load_hook("pre_gen_project", tmp_path, project_slug=attempt)

        assert hook.CONTEXT["project_slug"] == attempt
        assert "INJECTED" not in capsys.readouterr().out
        assert hook.problems(hook.CONTEXT)
