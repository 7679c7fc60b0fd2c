"""The benchmark: bake a project, serve it, and measure it side by side, in one run,
with the Channels tutorial app and a raw `websockets` server speaking the same protocol.

The project runs twice: under its production command (uvicorn, from its README) and
under daphne (its development server), so the consumer can be compared with the
tutorial's on the same server and the production configuration with the tutorial as
the Channels docs serve it (daphne).

    python bench/run.py [--rounds 3] [--seconds 3] [--out bench-results] [--only TEXT]

Needs what the template's tests need (requirements/test.txt) and a Redis at REDIS_URL
(default redis://127.0.0.1:6379/0). Everything binds to 127.0.0.1; every loop is bounded.
Figures are medians over interleaved rounds; CPU is the server process's own user+system
time, so the client sharing the machine does not blur it. Writes results.json and
results.md to --out.
"""

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import websockets
from cookiecutter.main import cookiecutter

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TEMPLATE_DIR))

from tests.conftest import REDIS_URL, ProjectEnvironments, clean_env  # noqa: E402
from tests.e2e import SECRET_KEY, login, prepare_database, server_env  # noqa: E402
from tests.servers import Daphne, Uvicorn, free_port, wait_until  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SERVERS = ("project", "project on daphne", "tutorial", "raw")
# Channel layers, by the name REDIS_CHANNEL_LAYER gives them ("memory": no Redis at all).
LAYERS = ("memory", "core", "pubsub")
# The layer the per-connection scenarios run on: the project's production default.
PRODUCTION_LAYER = "core"
LAYER_NAMES = {"memory": "in-memory layer", "core": "Redis layer", "pubsub": "Redis pub/sub layer"}
ECHO_CLIENTS = (1, 50, 200)
BROADCAST_MEMBERS = (100, 500)
# Idle memory: resident memory per connection over the first 1,000 on a fresh process, and
# per connection from 1,000 to 5,000, past the allocators' start-up reserve (performance.md).
IDLE_CONNECTIONS = (1000, 5000)


# --- the servers -----------------------------------------------------------------------


class Server:
    """A server under test: how to start it, its process, and the handshake headers."""

    def __init__(self, name: str, start: Callable[[], subprocess.Popen | Daphne]) -> None:
        self.name = name
        self._start = start
        self.handle = None
        self.headers: dict[str, str] = {}
        self.port = 0

    def start(self) -> None:
        self.handle = self._start()
        self.port = self.handle.port

    @property
    def pid(self) -> int:
        return self.handle.process.pid

    def stop(self) -> None:
        self.handle.stop()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/{room}/"


class RawServer:
    def __init__(self, log: Path) -> None:
        self.port = free_port()
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("raw_server.py")), str(self.port)],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def answers() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_until(answers, timeout=30, what="the raw websockets server")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def bake_project(workdir: Path, environments: ProjectEnvironments) -> tuple[Path, Path]:
    project = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=str(workdir)))
    return project, environments.python_for(project)


def project_env(python: Path, project: Path, layer: str) -> dict[str, str]:
    env = server_env(
        python,
        DATABASE_URL=f"sqlite:///{project / 'bench.sqlite3'}",
        WS_RATE_PER_SECOND="0",  # the benchmark is a flood by design
        PYTHONWARNINGS="ignore",
    )
    if layer != "memory":
        env["REDIS_URL"] = REDIS_URL
        env["REDIS_CHANNEL_LAYER"] = layer
    return env


def servers_for(layer: str, project: Path, python: Path, logs: Path) -> list[Server]:
    env = project_env(python, project, layer)

    def start_project() -> Daphne:
        return Uvicorn(python, project, env, logs / f"project-{layer}.log").start()

    def start_project_on_daphne() -> Daphne:
        return Daphne(python, project, env, logs / f"project-daphne-{layer}.log").start()

    def start_tutorial() -> Daphne:
        tutorial_env = clean_env(
            DJANGO_SETTINGS_MODULE="tutorial_site.settings",
            # The project's database and key: the same session cookie logs in to both.
            BENCH_DATABASE=str(project / "bench.sqlite3"),
            BENCH_SECRET_KEY=SECRET_KEY,
        )
        if layer != "memory":
            tutorial_env.update(REDIS_URL=REDIS_URL, REDIS_CHANNEL_LAYER=layer)
        tutorial = Path(__file__).with_name("tutorial")
        log = logs / f"tutorial-{layer}.log"
        return Daphne(python, tutorial, tutorial_env, log, "tutorial_site.asgi:application").start()

    def start_raw() -> RawServer:
        return RawServer(logs / f"raw-{layer}.log")

    starters = (start_project, start_project_on_daphne, start_tutorial, start_raw)
    return [Server(name, start) for name, start in zip(SERVERS, starters, strict=True)]


# --- the scenarios -----------------------------------------------------------------------


async def open_sockets(server: Server, room: str, count: int) -> list:
    sockets = []
    for start in range(0, count, 50):
        batch = min(50, count - start)
        sockets += await asyncio.gather(
            *(
                websockets.connect(
                    server.url(room),
                    additional_headers={**server.headers, "Origin": "http://127.0.0.1"},
                    open_timeout=30,
                    max_queue=None,
                )
                for _ in range(batch)
            )
        )
    return sockets


async def close_all(sockets: list) -> None:
    await asyncio.gather(*(socket.close() for socket in sockets), return_exceptions=True)


async def echo(server: Server, clients: int, seconds: float) -> dict[str, float]:
    """Ping/pong round trips from `clients` sockets for `seconds`."""
    sockets = await open_sockets(server, f"echo-{uuid.uuid4().hex[:8]}", clients)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client(socket) -> None:
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            await socket.send('{"type":"ping"}')
            await asyncio.wait_for(socket.recv(), 10)
            latencies.append(time.perf_counter() - sent)

    cpu = server.cpu_seconds()
    started = time.monotonic()
    await asyncio.gather(*(client(socket) for socket in sockets))
    elapsed = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu
    await close_all(sockets)
    latencies.sort()
    return {
        "msgs_per_s": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "cpu_us_per_msg": cpu / len(latencies) * 1e6,
        "msgs_per_cpu_s": len(latencies) / cpu if cpu else float("inf"),
    }


async def connection_rate(server: Server, seconds: float) -> dict[str, float]:
    """Handshakes (open and close) from 10 concurrent clients for `seconds`."""
    count = 0
    deadline = time.monotonic() + seconds
    room = f"connect-{uuid.uuid4().hex[:8]}"

    async def client() -> None:
        nonlocal count
        while time.monotonic() < deadline:
            socket = (await open_sockets(server, room, 1))[0]
            await socket.close()
            count += 1

    cpu = server.cpu_seconds()
    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(10)))
    elapsed = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu
    return {"handshakes_per_s": count / elapsed, "cpu_us_per_connection": cpu / count * 1e6}


async def broadcast(server: Server, members: int, repeats: int = 20) -> dict[str, float]:
    """One member sends; time until every member (itself included) has the message."""
    sockets = await open_sockets(server, f"fanout-{uuid.uuid4().hex[:8]}", members)
    await asyncio.sleep(0.5)
    durations = []
    cpu = server.cpu_seconds()
    for repeat in range(repeats):
        text = f"fan-out {repeat} {uuid.uuid4().hex}"

        async def receive(socket, text=text) -> None:
            while text not in await asyncio.wait_for(socket.recv(), 30):
                pass

        waiting = [asyncio.ensure_future(receive(socket)) for socket in sockets]
        sent = time.perf_counter()
        await sockets[0].send(json.dumps({"type": "chat.message", "message": text}))
        await asyncio.gather(*waiting)
        durations.append(time.perf_counter() - sent)
    cpu = server.cpu_seconds() - cpu
    await close_all(sockets)
    return {
        "all_received_ms": statistics.median(durations) * 1000,
        "cpu_us_per_delivery": cpu / (members * repeats) * 1e6,
    }


async def restart_warmed_up(server: Server) -> None:
    """A fresh process that has served one connection (imports, pools, first queries)."""
    server.stop()
    server.start()
    await close_all(await open_sockets(server, f"warm-{uuid.uuid4().hex[:8]}", 1))


async def idle_memory(server: Server, first: int, total: int) -> dict[str, float]:
    """Resident memory per idle connection, on a fresh process: Python keeps freed memory,
    so a process that already held connections would report almost nothing.

    Two figures: per connection over the first `first` connections, and per connection
    from `first` to `total`. The first is lowered by whatever the process's allocators
    held free, already resident, when it started; the second is the cost of one more
    connection once that is used up (docs/performance.md, bench/allocators.py).
    """
    await restart_warmed_up(server)
    room = f"idle-{uuid.uuid4().hex[:8]}"
    before = server.rss_kib()
    sockets = await open_sockets(server, room, first)
    await asyncio.sleep(2)
    at_first = server.rss_kib()
    sockets += await open_sockets(server, room, total - first)
    await asyncio.sleep(2)
    at_total = server.rss_kib()
    await close_all(sockets)
    return {
        f"kib_per_idle_connection_first_{first}": (at_first - before) / first,
        f"kib_per_idle_connection_{first}_to_{total}": (at_total - at_first) / (total - first),
    }


def allow_sockets(count: int) -> None:
    """Raise the open-files limit (inherited by the servers) to hold `count` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            raise SystemExit(f"needs {wanted} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


# --- the run -----------------------------------------------------------------------------


def scenarios(
    seconds: float, layer: str, only: str = ""
) -> dict[str, Callable[[Server], Awaitable[dict]]]:
    found: dict[str, Callable[[Server], Awaitable[dict]]] = {}
    if layer == PRODUCTION_LAYER:
        for clients in ECHO_CLIENTS:
            found[f"echo, {clients} clients"] = lambda s, c=clients: echo(s, c, seconds)
        found["connection rate"] = lambda s: connection_rate(s, seconds)
        first, total = IDLE_CONNECTIONS
        found[f"idle memory, {first} then {total} connections"] = lambda s: idle_memory(
            s, first, total
        )
    for members in BROADCAST_MEMBERS:
        name = f"broadcast to {members}, {LAYER_NAMES[layer]}"
        found[name] = lambda s, m=members: broadcast(s, m)
    return {name: run for name, run in found.items() if only.lower() in name.lower()}


def prepare(workdir: Path) -> tuple[Path, Path, Path]:
    """Bake the default project with its own environment and database; a log directory."""
    project, python = bake_project(workdir, ProjectEnvironments(workdir / "venvs"))
    prepare_database(project, python, project_env(python, project, "memory"))
    logs = workdir / "logs"
    logs.mkdir()
    return project, python, logs


def log_in(servers: list[Server]) -> None:
    """One logged-in session for every server (the tutorial shares the database)."""
    cookie = login(f"http://127.0.0.1:{servers[0].port}")
    for server in servers:
        server.headers = {"Cookie": cookie}


def measure(
    rounds: int, seconds: float, workdir: Path, only: str = ""
) -> dict[str, dict[str, dict]]:
    project, python, logs = prepare(workdir)
    raw_samples: dict[str, dict[str, list[dict]]] = {}
    for layer in LAYERS:
        chosen = scenarios(seconds, layer, only)
        if not chosen:
            continue
        servers = servers_for(layer, project, python, logs)
        for server in servers:
            server.start()
        try:
            log_in(servers)
            for round_number in range(rounds):
                for name, scenario in chosen.items():
                    # Interleaved: each round runs every server once per scenario.
                    for server in servers:
                        result = asyncio.run(scenario(server))
                        raw_samples.setdefault(name, {}).setdefault(server.name, []).append(result)
                        print(f"round {round_number + 1} {name:42} {server.name:17} {result}")
        finally:
            for server in servers:
                server.stop()
    return {
        scenario: {
            server: {key: statistics.median(s[key] for s in samples) for key in samples[0]}
            for server, samples in by_server.items()
        }
        for scenario, by_server in raw_samples.items()
    }


def markdown(results: dict[str, dict[str, dict]]) -> str:
    ratios = (("project", "tutorial"), ("project on daphne", "tutorial"), ("project", "raw"))
    header = [*SERVERS, *(f"{a} / {b}" for a, b in ratios)]
    lines = [
        f"| scenario | metric | {' | '.join(header)} |",
        "|---|---|" + "---:|" * len(header),
    ]
    for scenario, by_server in results.items():
        for metric in by_server["project"]:
            values = {name: by_server[name][metric] for name in SERVERS}
            numbers = [f"{values[name]:,.1f}" for name in SERVERS]
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
    args = parser.parse_args()
    if not any(scenarios(args.seconds, layer, args.only) for layer in LAYERS):
        parser.error(f"no scenario's name contains {args.only!r}")
    allow_sockets(IDLE_CONNECTIONS[-1])
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        results = measure(args.rounds, args.seconds, Path(workdir), args.only)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "results.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
