"""Load a hook the way cookiecutter runs it: rendered with a context, then imported."""

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

from harness.variants import TEMPLATE_DIR

_counter = itertools.count()


def context(**answers: object) -> dict:
    """The rendered cookiecutter context for these answers, as a hook receives it."""
    raw = generate_context(
        context_file=str(TEMPLATE_DIR / "cookiecutter.json"), extra_context=answers
    )
    return prompt_for_config(raw, no_input=True)


def load_hook(name: str, tmp_path: Path, **answers: object) -> ModuleType:
    ctx = context(**answers)
    env = StrictEnvironment(context={"cookiecutter": ctx}, keep_trailing_newline=True)
    source = (TEMPLATE_DIR / "hooks" / f"{name}.py").read_text(encoding="utf-8")
    rendered = env.from_string(source).render(cookiecutter=ctx)
    path = tmp_path / f"{name}_{next(_counter)}.py"
    path.write_text(rendered, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
