"""The servers the benchmark compares, side by side on one baked project and one session.

The project runs twice: under its production command (uvicorn) and under daphne (its
development server), so the consumer can be compared with the tutorial's on the same
server, and the production configuration with the tutorial as the Channels docs serve it.
"""

import contextlib
import resource
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from harness.baking import Baked, Bakery
from harness.commands import clean_env, run
from harness.served import SECRET_KEY, USERNAME, login, prepare_database, server_env
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


def prepare(workdir: Path, bakery: Bakery | None = None) -> tuple[Baked, Path]:
    """The default project, baked and installed (from `bakery`, or a bakery of its own),
    with its database and the tutorial's; a log directory.
    """
    baked = (bakery or Bakery(workdir / "cache")).copy(variant(), workdir)
    prepare_database(baked.path, baked.python, project_env(baked, "memory"))
    run(
        [str(baked.python), "-m", "django", "migrate", "--noinput", "-v", "0"],
        cwd=TUTORIAL_DIR,
        env=tutorial_env(baked, "memory"),
    )
    logs = workdir / "logs"
    logs.mkdir()
    return baked, logs


def project_database(baked: Baked) -> Path:
    return baked.path / "bench.sqlite3"


def tutorial_database(baked: Baked) -> Path:
    return baked.path / "tutorial.sqlite3"


def project_env(baked: Baked, layer: str) -> dict[str, str]:
    env = server_env(
        baked.python,
        DATABASE_URL=f"sqlite:///{project_database(baked)}",
        # The benchmark is a flood by design, from one user, over thousands of sockets.
        WS_RATE_PER_SECOND="0",
        WS_MAX_FRAMES_PER_SECOND="0",
        WEB_MAX_CONNECTIONS="0",
        PYTHONWARNINGS="ignore",
    )
    if layer != "memory":
        env.update(REDIS_URL=REDIS_URL, REDIS_CHANNEL_LAYER=layer)
    return env


def tutorial_env(baked: Baked, layer: str) -> dict[str, str]:
    """The tutorial's environment: a database of its own (Django's default user model),
    the project's key, so the session log_in() copies there logs the same user in.
    """
    env = clean_env(
        DJANGO_SETTINGS_MODULE="tutorial_site.settings",
        BENCH_DATABASE=str(tutorial_database(baked)),
        BENCH_SECRET_KEY=SECRET_KEY,
    )
    if layer != "memory":
        env.update(REDIS_URL=REDIS_URL, REDIS_CHANNEL_LAYER=layer)
    return env


def contestants(layer: str, baked: Baked, logs: Path) -> list[Contestant]:
    """The four servers on `layer`, not started."""
    env = project_env(baked, layer)
    tutorial_app = "tutorial_site.asgi:application"
    servers = (
        Uvicorn(baked.python, baked.path, env, logs / f"project-{layer}.log"),
        Daphne(baked.python, baked.path, env, logs / f"project-daphne-{layer}.log"),
        Daphne(
            baked.python,
            TUTORIAL_DIR,
            tutorial_env(baked, layer),
            logs / f"tutorial-{layer}.log",
            tutorial_app,
        ),
        RawWebsockets(logs / f"raw-{layer}.log"),
    )
    return [Contestant(name, server) for name, server in zip(NAMES, servers, strict=True)]


def log_in(lineup: list[Contestant], baked: Baked) -> None:
    """One logged-in session for every server: the project's session and user, copied to
    the tutorial's database, so a handshake costs both the same two lookups.
    """
    cookie = login(lineup[0].server.base_url)
    session_key = dict(part.split("=", 1) for part in cookie.split("; "))["sessionid"]
    with (
        contextlib.closing(sqlite3.connect(project_database(baked))) as project,
        contextlib.closing(sqlite3.connect(tutorial_database(baked))) as tutorial,
    ):
        session = project.execute(
            "SELECT session_key, session_data, expire_date FROM django_session"
            " WHERE session_key = ?",
            (session_key,),
        ).fetchone()
        columns = [row[1] for row in tutorial.execute("PRAGMA table_info(auth_user)")]
        user = project.execute(
            f"SELECT {', '.join(columns)} FROM users_user WHERE username = ?",
            (USERNAME,),
        ).fetchone()
        with tutorial:
            tutorial.execute("INSERT OR REPLACE INTO django_session VALUES (?, ?, ?)", session)
            placeholders = ", ".join("?" * len(columns))
            tutorial.execute(
                f"INSERT OR REPLACE INTO auth_user ({', '.join(columns)}) VALUES ({placeholders})",
                user,
            )
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
