"""Where an idle connection's memory goes: the allocators' own figures, read inside each
server process, step by step as idle connections are added (docs/performance.md).

    python bench/allocators.py [--steps 5] [--step 1000]

Same project, tutorial, Redis layer, warm-up and session as the idle-memory scenario
(scenarios.py). The benchmark's own virtual environment gets bench/allocator_hook.py as its
`sitecustomize`, which answers SIGUSR1 with the process's resident set, CPython's
small-object allocator (bytes in use, bytes free in its arenas) and glibc's malloc
(bytes in use, bytes free in its heap). Per step it prints, per connection added: the
resident set's growth, what the objects took (Python and C), and what each allocator
held free when the step began: memory already resident that the step could use
without growing the resident set. Takes about 4 minutes.
"""

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import sys
import sysconfig
import tempfile
import time
import uuid
from pathlib import Path

from lineup import PRODUCTION_LAYER, Contestant, allow_sockets, contestants, log_in, prepare
from scenarios import close_all, open_sockets, restart_warmed_up

HOOK = Path(__file__).with_name("allocator_hook.py")
# Same server first and second: the consumer against the tutorial's on daphne.
ORDER = ("project on daphne", "tutorial", "project")
FREE = ("py_free", "c_free")


def install_hook(python: Path, reports: Path) -> None:
    """The hook as sitecustomize of the benchmark's own environment (never the user's)."""
    purelib = sysconfig.get_path("purelib", vars={"base": str(python.parent.parent)})
    shutil.copy(HOOK, Path(purelib) / "sitecustomize.py")
    os.environ["BENCH_ALLOCATOR_DIR"] = str(reports)  # inherited by the servers


def report(contestant: Contestant, reports: Path) -> dict[str, int]:
    server = contestant.server
    path = reports / f"{server.pid}.json"
    path.unlink(missing_ok=True)
    os.kill(server.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{contestant.name} wrote no allocator report (is the hook installed?)"
            )
        time.sleep(0.1)
    return json.loads(path.read_text())


async def steps(
    contestant: Contestant, reports: Path, count: int, size: int
) -> list[dict[str, int]]:
    await restart_warmed_up(contestant)
    room = f"idle-{uuid.uuid4().hex[:8]}"
    figures = [report(contestant, reports)]
    sockets: list = []
    try:
        for _ in range(count):
            sockets += await open_sockets(contestant, room, size)
            await asyncio.sleep(2)
            figures.append(report(contestant, reports))
    finally:
        await close_all(sockets)
    return figures


def table(by_server: dict[str, list[dict[str, int]]], size: int) -> str:
    lines = [
        "| server | connections | RSS KiB/conn | Python objects KiB/conn | C objects KiB/conn "
        "| Python free at start MiB | C free at start MiB | Python arenas added |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in by_server.items():
        for step, (start, end) in enumerate(itertools.pairwise(figures)):
            added = {key: (end.get(key, 0) - start.get(key, 0)) / size for key in end}
            free = [f"{start[key] / 2**20:.2f}" if key in start else "n/a" for key in FREE]
            lines.append(
                f"| {name} | {step * size:,} to {(step + 1) * size:,} "
                f"| {added['rss_kib']:.1f} | {added['py_in_use'] / 1024:.1f} "
                f"| {added.get('c_in_use', 0) / 1024:.1f} | {' | '.join(free)} "
                f"| {end['py_arenas'] - start['py_arenas']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--step", type=int, default=1000, help="connections per step")
    args = parser.parse_args()
    allow_sockets(args.steps * args.step)
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        baked, logs = prepare(Path(workdir))
        reports = Path(workdir) / "allocators"
        reports.mkdir()
        install_hook(baked.python, reports)
        lineup = {c.name: c for c in contestants(PRODUCTION_LAYER, baked, logs)}
        chosen = [lineup[name] for name in ORDER]
        try:
            for contestant in chosen:
                contestant.server.start()
            log_in(chosen)
            by_server = {
                contestant.name: asyncio.run(steps(contestant, reports, args.steps, args.step))
                for contestant in chosen
            }
        finally:
            for contestant in chosen:
                contestant.server.stop()
    print(table(by_server, args.step))
    return 0


if __name__ == "__main__":
    sys.exit(main())
