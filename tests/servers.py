"""Real servers for the end-to-end tests: daphne, uvicorn and redis-server processes on
free loopback ports, every wait bounded, everything stopped by the test that started it.
"""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `condition` every 0.1 s; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(f"gave up after {timeout} s waiting for {what}")


def http_get(url: str, *, timeout: float = 5) -> tuple[int, Message, bytes]:
    """GET without following redirects; returns status, headers (names in any case: uvicorn
    sends them in lower case) and body.
    """

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def health(base_url: str) -> tuple[int, dict]:
    status, _, body = http_get(f"{base_url}/health/")
    return status, json.loads(body)


def _stop(process: subprocess.Popen, *, timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def production_command(project_dir: Path) -> list[str]:
    """The uvicorn command of the project's README (Deploy), as the Dockerfile runs it."""
    readme = (project_dir / "README.md").read_text(encoding="utf-8")
    deploy = readme.split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]
    [line] = [line for line in deploy.splitlines() if line.startswith("uvicorn ")]
    return shlex.split(line)


class Daphne:
    """`daphne config.asgi:application` of a baked project, on a free loopback port."""

    name = "daphne"

    def __init__(
        self,
        python: Path,
        project_dir: Path,
        env: dict[str, str],
        log: Path,
        application: str = "config.asgi:application",
    ) -> None:
        self.application = application
        self.python = python
        self.project_dir = project_dir
        self.env = env
        self.log_path = log
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}"

    def command(self) -> list[str]:
        daphne = [str(self.python), "-m", "daphne", "-b", HOST, "-p", str(self.port)]
        return [*daphne, self.application]

    def start(self, *, timeout: float = 60) -> "Daphne":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.project_dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._answers, timeout=timeout, what=f"{self.name} on port {self.port}")
        return self

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
        try:
            http_get(f"{self.base_url}/health/", timeout=2)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def __enter__(self) -> "Daphne":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops it; waits for the process to exit."""
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=20)


class Uvicorn(Daphne):
    """The project's production command (uvicorn), on a free loopback port."""

    name = "uvicorn"

    def command(self) -> list[str]:
        arguments = production_command(self.project_dir)[1:]
        for option, value in (("--host", HOST), ("--port", str(self.port))):
            arguments[arguments.index(option) + 1] = value
        return [str(self.python), "-m", "uvicorn", *arguments]


class RedisServer:
    """A redis-server of our own on a free port, for tests that stop it."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self, *, timeout: float = 20) -> "RedisServer":
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError("redis-server is not installed")
        arguments = ["--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [executable, *arguments, "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(self._answers, timeout=timeout, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
