"""The benchmark runs: every scenario once, small, against every contestant; and its
diagnostic pieces, checked without timing anything.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.services import REDIS_URL, require_services
from harness.variants import TEMPLATE_DIR, variant

HOOK = TEMPLATE_DIR / "bench" / "allocator_hook.py"


def run_with_hook(code: str, reports: Path | None) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter that runs the hook as sitecustomize would, then `code`."""
    env = {k: v for k, v in os.environ.items() if k != "BENCH_ALLOCATOR_DIR"}
    if reports is not None:
        env["BENCH_ALLOCATOR_DIR"] = str(reports)
    program = f"exec(open({str(HOOK)!r}).read())\n{code}"
    return subprocess.run(
        [sys.executable, "-c", program],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_allocator_hook_reports_the_allocators_on_sigusr1(tmp_path):
    code = (
        "import os, signal\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "kept = [bytearray(100) for _ in range(20000)] + [[0] * 1000 for _ in range(2000)]\n"
        "os.rename(f'{os.environ[\"BENCH_ALLOCATOR_DIR\"]}/{os.getpid()}.json', "
        "f'{os.environ[\"BENCH_ALLOCATOR_DIR\"]}/before.json')\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "print(os.getpid())\n"
    )
    result = run_with_hook(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # the allocator statistics went to the report, not stderr
    before = json.loads((tmp_path / "before.json").read_text())
    after = json.loads((tmp_path / f"{result.stdout.strip()}.json").read_text())
    assert {"rss_kib", "py_in_use", "py_free", "py_arenas"} <= set(after)
    # 20,000 small objects (pymalloc) and 2,000 lists of 8 KB (C malloc) were kept between.
    assert after["py_in_use"] - before["py_in_use"] > 20000 * 100
    assert after["rss_kib"] > before["rss_kib"]
    if "c_in_use" in after:
        assert after["c_in_use"] - before["c_in_use"] > 2000 * 8000
    assert not list(tmp_path.glob(".*.json"))  # written whole, then renamed


def test_allocator_hook_does_nothing_unless_asked():
    code = "import signal\nprint(signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL)\n"
    result = run_with_hook(code, None)
    assert result.stdout.strip() == "True", result.stderr


@pytest.mark.e2e
def test_every_scenario_runs_against_every_contestant(bakery, tmp_path):
    """`bench/run.py --smoke`: each scenario once, small, on every layer, against the
    project (uvicorn and daphne), the tutorial and the raw server; every figure is a
    positive number. (The benchmark once stopped running and nothing noticed.)
    """
    require_services(variant())
    bakery.baked(variant())  # baked and installed in the run's shared cache
    result = subprocess.run(
        [
            sys.executable,
            str(TEMPLATE_DIR / "bench" / "run.py"),
            "--smoke",
            "--rounds=1",
            "--seconds=0.3",
            f"--out={tmp_path / 'out'}",
            f"--cache={bakery.root}",
        ],
        env={**os.environ, "REDIS_URL": REDIS_URL},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    layers = {"in-memory layer", "Redis layer", "Redis pub/sub layer"}
    assert {name.split(", ", 1)[1] for name in results if name.startswith("broadcast")} == layers
    assert sum(name.startswith("echo") for name in results) == 2
    assert any(name.startswith("connection rate") for name in results)
    assert any(name.startswith("idle memory") for name in results)
    for scenario, by_server in results.items():
        assert set(by_server) == {"project", "project on daphne", "tutorial", "raw"}, scenario
        for server, figures in by_server.items():
            # Times and rates were measured; CPU and memory may round to 0 (or less) here.
            measured = [v for k, v in figures.items() if k.endswith(("_ms", "_per_s"))]
            assert measured or scenario.startswith("idle memory"), (scenario, server)
            assert all(value > 0 for value in measured), (scenario, server, figures)
            assert not any(math.isnan(value) for value in figures.values()), (scenario, server)


@pytest.mark.e2e
def test_the_soak_runs_and_finds_nothing_left(bakery, tmp_path):
    """`bench/soak.py`, briefly: 300 cycles over two production processes end every way a
    socket ends, and leave no group member, no Redis group and every allowance.
    """
    require_services(variant())
    bakery.baked(variant())
    result = subprocess.run(
        [
            sys.executable,
            str(TEMPLATE_DIR / "bench" / "soak.py"),
            "--cycles=300",
            "--concurrency=8",
            f"--out={tmp_path}",
            f"--cache={bakery.root}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    soak = json.loads((tmp_path / "soak.json").read_text())
    assert soak["failed_handshakes"] == 0
    assert soak["errors"] == 0, soak["error_kinds"]
    assert soak["ended"] + soak["closed_by_server_first"] == 300
    assert soak["stale_group_members"] == 0
    assert soak["redis_group_keys_left"] == []
    assert soak["leaked_allowances"] == 0
    assert soak["sockets_allowed_per_process"] == [20, 20]
