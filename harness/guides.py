"""A baked project's guide followed word for word: its fenced code blocks, in order.

A `bash` block is run, line by line, in the project. A `python` block is an edit; its first
line names the file and where the rest goes:

    # <path>: a new file                      the file is the rest of the block
    # <path>: at the end                      appended
    # <path>: with the imports                after the last top-level import
    # <path>: first in <name>                 after the line that opens the list `<name> = [`

Anything else in a guide's blocks is an error here: a guide the suite cannot follow is a
guide a newcomer may misread.
"""

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from harness import HarnessError

BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
EDIT = re.compile(r"# (?P<path>[\w./-]+): (?P<where>.+)")
IMPORT = re.compile(r"^(from \S+ import .+|import .+)$", re.M)


def follow(
    guide: str, project: Path, run_line: Callable[[str], subprocess.CompletedProcess[str]]
) -> list[str]:
    """Apply every block of `guide` to `project`; returns what was done, one line each."""
    done = []
    for language, body in BLOCK.findall(guide):
        if language == "bash":
            for line in body.splitlines():
                if line.strip():
                    run_line(line)
                    done.append(f"ran {line}")
        elif language == "python":
            heading, _, code = body.partition("\n")
            match = EDIT.fullmatch(heading)
            if match is None:
                raise HarnessError(f"a python block that names no file and place: {heading!r}")
            edit(project / match["path"], match["where"], code)
            done.append(f"edited {match['path']}: {match['where']}")
        else:
            raise HarnessError(f"a {language} block the guide's reader cannot follow")
    return done


def edit(path: Path, where: str, code: str) -> None:
    if where == "a new file":
        if path.exists():
            raise HarnessError(f"{path} exists already")
        path.write_text(code, encoding="utf-8")
        return
    text = path.read_text(encoding="utf-8")
    if where == "at the end":
        text = text.rstrip("\n") + "\n" + code
    elif where == "with the imports":
        last = list(IMPORT.finditer(text))[-1]
        text = text[: last.end() + 1] + code + text[last.end() + 1 :]
    elif opening := re.fullmatch(r"first in (\w+)", where):
        start = re.search(rf"^{opening[1]} = \[\n", text, re.M)
        if start is None:
            raise HarnessError(f"no list {opening[1]} in {path}")
        text = text[: start.end()] + code + text[start.end() :]
    else:
        raise HarnessError(f"an edit the harness cannot place: {where!r}")
    path.write_text(text, encoding="utf-8")
