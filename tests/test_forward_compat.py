"""The default project on the newest Django that channels declares support for, under the
interpreter running this suite: the template's CI runs it on Python 3.13
(`.github/workflows/template-ci.yml`, job newest-django-and-python). Deprecations are
errors in the project's own suite, so what the next upgrade breaks shows here first.

Selected with `-m forward` only: Django 6.0 needs Python 3.12 or later, and the default
run (Python 3.11) already tests the Django the project pins.
"""

import sys

import pytest

from harness.baking import bake
from harness.commands import run
from harness.services import require_services, service_env
from harness.variants import variant

pytestmark = [
    pytest.mark.forward,
    pytest.mark.slow,
    pytest.mark.skipif(sys.version_info < (3, 12), reason="Django 6.0 needs Python 3.12+"),
]

# channels 4.3.2 declares Django 4.2 to 6.0; the project pins 5.2 LTS.
NEWEST_DJANGO = "django>=6.0,<6.1"


def test_the_default_project_passes_its_suite_on_the_newest_django(tmp_path):
    answers = variant()
    require_services(answers)
    project = bake(answers, tmp_path / "bake")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    uv = [sys.executable, "-m", "uv"]
    run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=project)
    overrides = tmp_path / "overrides.txt"
    overrides.write_text(NEWEST_DJANGO + "\n", encoding="utf-8")
    install = [*uv, "pip", "install", "--quiet", "--python", str(python), "-r", "pyproject.toml"]
    run([*install, "--group", "dev", "--override", str(overrides)], cwd=project)
    version = run([str(python), "-c", "import django; print(django.get_version())"], cwd=project)
    assert version.stdout.startswith("6.0"), version.stdout

    result = run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=project,
        env={**service_env(answers), "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "hypothesis")},
    )

    summary = result.stdout.strip().splitlines()[-1]
    print(f"Django {version.stdout.strip()} on Python {sys.version.split()[0]}: {summary}")
    assert " passed" in summary
    assert "skipped" not in summary
