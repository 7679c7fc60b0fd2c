"""Real server processes on free loopback ports: one `Server` family.

`Daphne` and `Uvicorn` serve a baked project (uvicorn with the project's own production
command, read from its Makefile), `RawWebsockets` is the benchmark's reference server,
`RedisServer` a redis-server of our own for tests that stop it. Every wait is bounded;
each process runs in its own session, so stopping it stops its children too.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from harness import HarnessError, Unavailable
from harness.client import http_get
from harness.commands import clean_env

HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RAW_SERVER = Path(__file__).with_name("raw_server.py")
RELAY = Path(__file__).with_name("relay.py")


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition` every 0.1 s; TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"gave up after {timeout} s waiting for {what}")


def production_command(project_dir: Path) -> list[str]:
    """The project's production server command: its Makefile's `serve` target, the command
    the README's Deploy section and the Dockerfile's CMD also run (`uv run` left out), with
    the Makefile's `NAME ?= value` defaults in place of `$(NAME)`.
    """
    makefile = (project_dir / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^serve:.*\n((?:\t.*\n?)+)", makefile, re.MULTILINE)
    if target is None:
        raise HarnessError(f"{project_dir / 'Makefile'} has no serve target with a recipe")
    defaults = dict(re.findall(r"^(\w+) \?= (\S+)$", makefile, re.MULTILINE))
    lines = [line.strip() for line in target.group(1).splitlines()]
    recipe = re.sub(r"\$\((\w+)\)", lambda name: defaults.get(name[1], name[0]), " ".join(lines))
    command = shlex.split(recipe.replace("\\ ", " "))
    if command[:2] != ["uv", "run"]:
        raise HarnessError(f"the serve target does not start with `uv run`: {command}")
    return command[2:]


class Server:
    """A process serving on a free loopback port: started, waited for, stopped, measured.

    Subclasses say how to start it (`command`) and when it is ready (`ready`). The port is
    chosen once, so `stop()` then `start()` restarts it where clients expect it. `host` and
    `launcher` make it another host of a topology (`harness.hosts`): another loopback
    address, or an address in a network namespace with the `ip netns exec` that runs it
    there (and a `port`, as no free port of that namespace can be asked for from here).
    """

    name = "server"

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str] | None,
        log: Path | None,
        host: str = HOST,
        port: int | None = None,
        launcher: list[str] | None = None,
    ) -> None:
        self.cwd = cwd
        self.env = env if env is not None else clean_env()
        self.log_path = log
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.launcher = launcher or []
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        """Whether the server accepts connections."""
        try:
            socket.create_connection((self.host, self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def start(self, *, timeout: float = 60) -> Self:
        output = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [*self.launcher, *self.command()],
                cwd=self.cwd,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if self.log_path:
                output.close()
        try:
            wait_until(self._started, timeout=timeout, what=f"{self.name} on port {self.port}")
        except BaseException:
            self.stop()  # never leave a half-started process behind
            raise
        return self

    def _started(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise HarnessError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
        return self.ready()

    def stop(self, *, timeout: float = 10) -> None:
        """SIGTERM to the whole process group; SIGKILL after `timeout` seconds."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)

    def terminate(self) -> None:
        """SIGTERM to the server process alone, as an orchestrator stops it; waits for it."""
        if self.process is None:
            raise HarnessError(f"{self.name} was never started")
        self.process.terminate()
        self.process.wait(timeout=20)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise HarnessError(f"{self.name} was never started")
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User and system CPU time the server process has used."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_kib(self) -> int:
        """The server process's resident memory."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise HarnessError("no VmRSS")


class AsgiServer(Server):
    """An ASGI server of a Django project, ready when `/health/` answers (any status)."""

    def __init__(
        self,
        python: Path,
        project_dir: Path,
        env: dict[str, str],
        log: Path,
        application: str = "config.asgi:application",
        **placement: Any,
    ) -> None:
        super().__init__(project_dir, env, log, **placement)
        self.python = python
        self.application = application

    def ready(self) -> bool:
        try:
            http_get(f"{self.base_url}/health/", timeout=2)
        except OSError:
            return False
        return True


class Daphne(AsgiServer):
    """`daphne` serving the application, as `runserver` does in development."""

    name = "daphne"

    def command(self) -> list[str]:
        daphne = [str(self.python), "-m", "daphne", "-b", self.host, "-p", str(self.port)]
        return [*daphne, self.application]


class Uvicorn(AsgiServer):
    """The project's production command (uvicorn), bound to a free loopback port."""

    name = "uvicorn"

    def command(self) -> list[str]:
        arguments = production_command(self.cwd)
        # In the project's environment: `python -m config.serve ...` as it is, a console
        # script (`uvicorn ...`, a project of an earlier release) as a module.
        arguments = arguments[1:] if arguments[0] == "python" else ["-m", *arguments]
        for option, value in (("--host", self.host), ("--port", str(self.port))):
            arguments[arguments.index(option) + 1] = value
        return [str(self.python), *arguments]


class Runserver(AsgiServer):
    """`manage.py runserver` (daphne's), as a developer runs it: with its autoreloader."""

    name = "runserver"

    def command(self) -> list[str]:
        return [str(self.python), "manage.py", "runserver", f"{self.host}:{self.port}"]


class RawWebsockets(Server):
    """The benchmark's reference: a bare `websockets` server speaking the chat protocol."""

    name = "raw websockets"

    def __init__(self, log: Path) -> None:
        super().__init__(RAW_SERVER.parent, None, log)

    def command(self) -> list[str]:
        return [sys.executable, str(RAW_SERVER), str(self.port)]


class RedisServer(Server):
    """A redis-server of our own, no persistence, for tests that stop it; a replica of
    another when `replica_of` names its port.
    """

    name = "redis-server"

    def __init__(self, workdir: Path, replica_of: int | None = None, host: str = HOST) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir, None, None, host=host)
        self.replica_of = replica_of

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        executable = shutil.which("redis-server")
        if executable is None:
            raise Unavailable("redis-server is not installed")
        arguments = ["--port", str(self.port), "--bind", self.host, "--save", ""]
        arguments += ["--appendonly", "no"]
        if self.host != HOST:
            # Protected mode answers only loopback clients; hosts of a topology are others.
            arguments += ["--protected-mode", "no"]
        if self.replica_of is not None:
            arguments += ["--replicaof", HOST, str(self.replica_of)]
        return [executable, *arguments, "--dir", str(self.cwd)]

    def ready(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class RedisSentinel(RedisServer):
    """A Redis Sentinel of our own watching the master at `master_port` as "mymaster"
    (quorum 2, down after 1 s), for failover tests.
    """

    name = "redis-sentinel"

    def __init__(self, workdir: Path, master_port: int, master_name: str = "mymaster") -> None:
        super().__init__(workdir)
        self.master_port = master_port
        self.master_name = master_name

    def command(self) -> list[str]:
        executable = shutil.which("redis-server")
        if executable is None:
            raise Unavailable("redis-server is not installed")
        config = self.cwd / f"sentinel-{self.port}.conf"
        name = self.master_name
        config.write_text(
            f"port {self.port}\nbind {HOST}\ndir {self.cwd}\n"
            f"sentinel monitor {name} {HOST} {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {name} 1000\n"
            f"sentinel failover-timeout {name} 5000\n",
            encoding="utf-8",
        )
        return [executable, str(config), "--sentinel"]


class TcpRelay(Server):
    """Forwards connections to `host`:`port` on to `target` (harness/relay.py): a service
    of the machine that listens on loopback only, made reachable from namespaced hosts.
    """

    name = "tcp relay"

    def __init__(self, workdir: Path, host: str, target: tuple[str, int], **placement: Any) -> None:
        log = workdir / f"relay-{target[1]}.log"
        super().__init__(workdir, None, log, host=host, **placement)
        self.target = target

    def command(self) -> list[str]:
        target_host, target_port = self.target
        return [
            sys.executable,
            str(RELAY),
            self.host,
            str(self.port),
            target_host,
            str(target_port),
        ]


SERVER_KINDS: dict[str, type[AsgiServer]] = {"daphne": Daphne, "uvicorn": Uvicorn}
