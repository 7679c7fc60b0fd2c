"""The harness's own promises, checked without baking or serving anything real."""

import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness import HarnessError, baking
from harness.baking import BakeCache
from harness.hosts import Hosts, Loopback
from harness.served import Served
from harness.servers import Server, TcpRelay, production_command
from harness.variants import VARIANTS, variant, variant_id


def test_a_variant_is_baked_once_whoever_asks(tmp_path, monkeypatch):
    """Two caches on one root (two xdist workers) asking at once: one bake, one path."""
    bakes = []

    def fake_bake(answers, output_dir: Path) -> Path:
        bakes.append(variant_id(answers))
        (output_dir / "project").mkdir(parents=True)
        return output_dir / "project"

    monkeypatch.setattr(baking, "bake", fake_bake)
    workers = [BakeCache(tmp_path), BakeCache(tmp_path)]
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda c=c: paths.append(c.path(variant()))) for c in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert bakes == [variant_id(variant())]
    assert len(set(paths)) == 1
    assert paths[0].is_dir()


def test_variant_ids_are_unique_and_readable():
    ids = [variant_id(answers) for answers in VARIANTS]

    assert len(set(ids)) == len(VARIANTS) == 64
    assert variant_id(variant()) == "redis-auth-chat-sqlite-docker-github"


def test_production_command_is_the_makefiles_serve_target(tmp_path):
    (tmp_path / "Makefile").write_text(
        "run:\n\tuv run python manage.py runserver\n\nHOST ?= 0.0.0.0\nPORT ?= 8000\n"
        "serve:\n\tuv run python -m config.serve --host $(HOST) \\\n"
        "\t\t--port $(PORT) --other $(UNSET)\n\ntest:\n\tuv run pytest\n"
    )

    assert production_command(tmp_path) == [
        "python",
        "-m",
        "config.serve",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
        "--other",
        "$(UNSET)",
    ]


def test_a_serve_target_not_run_by_uv_is_an_error(tmp_path):
    (tmp_path / "Makefile").write_text("serve:\n\tuvicorn config.asgi:application\n")

    with pytest.raises(HarnessError, match="does not start with `uv run`"):
        production_command(tmp_path)


class Exits(Server):
    name = "exits"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "print('no config'); raise SystemExit(3)"]


def test_a_server_that_exits_at_start_is_reported_with_its_log(tmp_path):
    server = Exits(tmp_path, None, tmp_path / "exits.log")

    with pytest.raises(HarnessError, match=r"exits exited with 3:\nno config"):
        server.start(timeout=30)
    assert server.process is not None
    assert server.process.poll() == 3


def test_tracebacks_leave_out_expected_records_but_find_a_crash(tmp_path):
    """A failed health check logs its traceback on purpose; anything else is a crash (a
    refused Host header among them: it is one WARNING line now).
    """
    log_file = tmp_path / "server.log"
    log_file.write_text(
        "2026-01-01 00:00:00,000 WARNING demo.core.health: Health check 'channel_layer' failed\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1\n'
        "OSError: refused\n"
        "\n"
        "During handling of the above exception, another exception occurred:\n"
        "\n"
        "Traceback (most recent call last):\n"
        '  File "y.py", line 2\n'
        "ConnectionError: gone\n"
        '127.0.0.1:43158 - - [30/Nov/2026:06:22:43] "GET /health/" 503 69\n'
        "2026-01-01 00:00:01,000 ERROR daphne.server: Exception inside application: boom\n"
        "Traceback (most recent call last):\n",
        encoding="utf-8",
    )

    class LoggedServer:
        log_path = log_file

        def log(self) -> str:
            return log_file.read_text(encoding="utf-8")

    served = Served("demo", None, {}, tmp_path, servers=[LoggedServer()])

    crash = "2026-01-01 00:00:01,000 ERROR daphne.server: Exception inside application: boom"
    assert served.tracebacks() == [
        f"server.log: {crash}",
        "server.log: Traceback (most recent call last):",
    ]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Hosts.create("h", 1), id="namespaces-where-allowed"),
        pytest.param(lambda: Loopback(1), id="loopback-fallback"),
    ],
)
def test_topology_hosts_serve_on_their_own_address_and_leave_nothing_behind(make, tmp_path):
    """A host of `harness.hosts` (a network namespace, or the loopback address the
    topology falls back to where the machine refuses namespaces) runs a server reachable
    at its address, reaches the gateway's services, and close() removes what it made.
    """
    hosts = make()
    try:
        (address,) = hosts.addresses
        with socket.create_server((hosts.gateway, 0)) as service:
            service.settimeout(10)
            target = (hosts.gateway, service.getsockname()[1])
            placement = {"port": 8000, "launcher": hosts.launcher(address)}
            relay = TcpRelay(tmp_path, address, target, **(placement if hosts.isolated else {}))
            with relay, socket.create_connection((address, relay.port), timeout=5) as client:
                client.sendall(b"across")
                received = b""
                for _ in range(5):  # the relay's readiness probe arrives first, empty
                    accepted, _ = service.accept()
                    with accepted:
                        received = accepted.recv(16)
                    if received:
                        break
                assert received == b"across"
    finally:
        hosts.close()
    if hosts.isolated:
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
        assert not set(hosts.namespaces_made) & set(listed.stdout.split())


def test_xdist_groups_keep_their_tests_on_one_worker(tmp_path):
    """conftest.py's groups hold only if the installed pytest and pytest-xdist honour
    `xdist_group` (pytest 9.2 with pytest-xdist 3.8 silently ignores it): run a group of
    six tests on two workers and see them all on one.
    """
    (tmp_path / "test_grouped.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.xdist_group('together')\n"
        "@pytest.mark.parametrize('n', range(6))\n"
        "def test_grouped(n):\n"
        "    pass\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "2",
            "--dist",
            "loadgroup",
            "-v",
            "-p",
            "no:cacheprovider",
            "-o",
            "addopts=",
            "test_grouped.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    workers = re.findall(r"^\[(gw\d+)\] .* PASSED test_grouped\.py", result.stdout, re.MULTILINE)
    assert len(workers) == 6, result.stdout[-3000:]
    assert len(set(workers)) == 1, workers
