"""The benchmark: bake a project, serve it, and measure it side by side, in one run,
with the Channels tutorial app and a raw `websockets` server speaking the same protocol.

    python bench/run.py [--rounds 3] [--seconds 3] [--out bench-results] [--only TEXT]
                        [--smoke] [--cache DIR]

Needs what the template's tests need (requirements/test.txt, which installs the harness)
and a Redis at REDIS_URL (default redis://127.0.0.1:6379/0). Everything binds to
127.0.0.1; every loop is bounded. Figures are medians over interleaved rounds. Writes
results.json and results.md to --out. The servers are in lineup.py, what is measured in
scenarios.py.
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path

from lineup import LAYERS, NAMES, allow_sockets, contestants, log_in, prepare
from scenarios import FULL, IDLE_CONNECTIONS, SMOKE, Scale, scenarios

from harness.baking import CACHE_HELP, Bakery
from harness.variants import TEMPLATE_DIR


def measure(
    rounds: int,
    seconds: float,
    workdir: Path,
    only: str = "",
    *,
    scale: Scale = FULL,
    bakery: Bakery | None = None,
) -> dict[str, dict[str, dict]]:
    baked, logs = prepare(workdir, bakery)
    raw_samples: dict[str, dict[str, list[dict]]] = {}
    for layer in LAYERS:
        chosen = scenarios(seconds, layer, only, scale)
        if not chosen:
            continue
        lineup = contestants(layer, baked, logs)
        try:
            for contestant in lineup:
                contestant.server.start()
            log_in(lineup, baked)
            for round_number in range(rounds):
                for name, scenario in chosen.items():
                    # Interleaved: each round runs every server once per scenario.
                    for contestant in lineup:
                        result = asyncio.run(scenario(contestant))
                        by_server = raw_samples.setdefault(name, {})
                        by_server.setdefault(contestant.name, []).append(result)
                        print(f"round {round_number + 1} {name:42} {contestant.name:17} {result}")
        finally:
            for contestant in lineup:
                contestant.server.stop()
    return {
        scenario: {
            server: {key: statistics.median(s[key] for s in samples) for key in samples[0]}
            for server, samples in by_server.items()
        }
        for scenario, by_server in raw_samples.items()
    }


def markdown(results: dict[str, dict[str, dict]]) -> str:
    ratios = (("project", "tutorial"), ("project on daphne", "tutorial"), ("project", "raw"))
    header = [*NAMES, *(f"{a} / {b}" for a, b in ratios)]
    lines = [
        f"| scenario | metric | {' | '.join(header)} |",
        "|---|---|" + "---:|" * len(header),
    ]
    for scenario, by_server in results.items():
        for metric in by_server["project"]:
            values = {name: by_server[name][metric] for name in NAMES}
            numbers = [f"{values[name]:,.1f}" for name in NAMES]
            quotients = [f"{values[a] / values[b]:.2f}x" if values[b] else "n/a" for a, b in ratios]
            lines.append(f"| {scenario} | {metric} | {' | '.join(numbers + quotients)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="per timed scenario")
    parser.add_argument("--out", type=Path, default=TEMPLATE_DIR / "bench-results")
    parser.add_argument(
        "--only", default="", help="run only the scenarios whose name contains this text"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="every scenario once, small: does it all run?"
    )
    parser.add_argument("--cache", type=Path, help=CACHE_HELP)
    args = parser.parse_args()
    scale = SMOKE if args.smoke else FULL
    if not any(scenarios(args.seconds, layer, args.only) for layer in LAYERS):
        parser.error(f"no scenario's name contains {args.only!r}")
    allow_sockets(IDLE_CONNECTIONS[-1])
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        bakery = Bakery(args.cache) if args.cache else None
        results = measure(
            args.rounds, args.seconds, Path(workdir), args.only, scale=scale, bakery=bakery
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "results.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
