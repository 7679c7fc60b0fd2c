"""The servers the benchmark compares, side by side on one baked project and one session.

The project runs twice: under its production command (uvicorn) and under daphne (its
development server), so the consumer can be compared with the tutorial's on the same
server, and the production configuration with the tutorial as the Channels docs serve it.
"""

import resource
from dataclasses import dataclass, field
from pathlib import Path

from harness.baking import Baked, Bakery
from harness.commands import clean_env
from harness.served import SECRET_KEY, login, prepare_database, server_env
from harness.servers import Daphne, RawWebsockets, Server, Uvicorn
from harness.services import REDIS_URL
from harness.variants import variant

TUTORIAL_DIR = Path(__file__).with_name("tutorial")
NAMES = ("project", "project on daphne", "tutorial", "raw")
# Channel layers, by the name REDIS_CHANNEL_LAYER gives them ("memory": no Redis at all).
LAYERS = ("memory", "core", "pubsub")
# The layer the per-connection scenarios run on: the project's production default.
PRODUCTION_LAYER = "core"
LAYER_NAMES = {"memory": "in-memory layer", "core": "Redis layer", "pubsub": "Redis pub/sub layer"}


@dataclass
class Contestant:
    """One server under test, by the name the results give it, with its handshake headers."""

    name: str
    server: Server
    headers: dict[str, str] = field(default_factory=dict)

    def url(self, room: str) -> str:
        return f"{self.server.ws_url}/ws/chat/{room}/"


def prepare(workdir: Path) -> tuple[Baked, Path]:
    """The default project, baked and installed, with its database; a log directory."""
    baked = Bakery(workdir / "cache").copy(variant(), workdir)
    prepare_database(baked.path, baked.python, project_env(baked, "memory"))
    logs = workdir / "logs"
    logs.mkdir()
    return baked, logs


def project_env(baked: Baked, layer: str) -> dict[str, str]:
    env = server_env(
        baked.python,
        DATABASE_URL=f"sqlite:///{baked.path / 'bench.sqlite3'}",
        # The benchmark is a flood by design, from one user, over thousands of sockets.
        WS_RATE_PER_SECOND="0",
        WS_MAX_FRAMES_PER_SECOND="0",
        WEB_MAX_CONNECTIONS="0",
        PYTHONWARNINGS="ignore",
    )
    if layer != "memory":
        env.update(REDIS_URL=REDIS_URL, REDIS_CHANNEL_LAYER=layer)
    return env


def contestants(layer: str, baked: Baked, logs: Path) -> list[Contestant]:
    """The four servers on `layer`, not started."""
    env = project_env(baked, layer)
    tutorial_env = clean_env(
        DJANGO_SETTINGS_MODULE="tutorial_site.settings",
        # The project's database and key: the same session cookie logs in to both.
        BENCH_DATABASE=str(baked.path / "bench.sqlite3"),
        BENCH_SECRET_KEY=SECRET_KEY,
    )
    if layer != "memory":
        tutorial_env.update(REDIS_URL=REDIS_URL, REDIS_CHANNEL_LAYER=layer)
    tutorial_app = "tutorial_site.asgi:application"
    servers = (
        Uvicorn(baked.python, baked.path, env, logs / f"project-{layer}.log"),
        Daphne(baked.python, baked.path, env, logs / f"project-daphne-{layer}.log"),
        Daphne(
            baked.python, TUTORIAL_DIR, tutorial_env, logs / f"tutorial-{layer}.log", tutorial_app
        ),
        RawWebsockets(logs / f"raw-{layer}.log"),
    )
    return [Contestant(name, server) for name, server in zip(NAMES, servers, strict=True)]


def log_in(lineup: list[Contestant]) -> None:
    """One logged-in session for every server (the tutorial shares the database)."""
    cookie = login(lineup[0].server.base_url)
    for contestant in lineup:
        contestant.headers = {"Cookie": cookie}


def allow_sockets(count: int) -> None:
    """Raise the open-files limit (inherited by the servers) to hold `count` sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            raise SystemExit(f"needs {wanted} open files; the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
