"""The production topology for real: the project's deploy/nginx.conf terminating TLS in
front of two app hosts (network namespaces of their own, or 127.0.0.2 and 127.0.0.3 where
the machine refuses namespaces), each running the production command under production
settings with only `chat.example.test` allowed, one Redis, the variant's database.
Clients reach `https://chat.example.test/` through the proxy, as a browser does (the test
CA trusted, the domain resolved to the proxy).
"""

import asyncio
import concurrent.futures
import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Coroutine
from typing import TypeVar

import pytest
import redis
import websockets
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect, sync_playwright

from harness.client import health, http_get, receive_json, send_json
from harness.hosts import Hosts
from harness.proxy import DOMAIN, Nginx, ProxyClient, make_certificates, plain_http
from harness.served import PASSWORD, USERNAME, Served
from harness.servers import RedisServer, TcpRelay, Uvicorn, wait_until
from harness.services import allow_postgres_connections, require
from harness.variants import TOPOLOGY_VARIANTS
from tests.test_e2e_browser import CHROMIUM_FLAGS

pytestmark = pytest.mark.e2e
# Its own xdist group (tests/conftest.py): every server here is the module's own, so it
# runs beside the variant's other end-to-end modules instead of after them.
XDIST_GROUP = "-topology"

T = TypeVar("T")

APP_HOSTS = 2
APP_PORT = 8000  # in a namespace of its own, an app host listens where deployments do
CLIENT = "127.0.0.9"  # a client of the proxy: the app must log this address, not nginx's
SPOOFED = "203.0.113.7"  # what a client claims in its own X-Forwarded-For
CROWD = 200
SERVICE_RESTART = 1012  # uvicorn's close code on SIGTERM
RESTART_JITTER = 1.0  # seconds: the test's clients, like chat.js, reconnect within this


@pytest.fixture(scope="module", params=TOPOLOGY_VARIANTS)
def e2e_name(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def hosts():
    network = Hosts.create("", APP_HOSTS)
    try:
        yield network
    finally:
        network.close()


@pytest.fixture(scope="module")
def services(served: Served, hosts: Hosts, tmp_path_factory) -> dict[str, str]:
    """One Redis of the test's own where the hosts reach it, and the variant's database
    (PostgreSQL through a relay on the hosts' side when they are namespaced).
    """
    workdir = tmp_path_factory.mktemp("services")
    with contextlib.ExitStack() as stack:
        own_redis = stack.enter_context(RedisServer(workdir / "redis", host=hosts.gateway))
        env = {"REDIS_URL": own_redis.url, "DATABASE_URL": served.env["DATABASE_URL"]}
        database = urllib.parse.urlsplit(env["DATABASE_URL"])
        if database.scheme.startswith("postgres") and hosts.isolated:
            target = (database.hostname, database.port or 5432)
            relay = stack.enter_context(TcpRelay(workdir, hosts.gateway, target))
            user = f"{database.username}@" if database.username else ""
            netloc = f"{user}{hosts.gateway}:{relay.port}"
            env["DATABASE_URL"] = urllib.parse.urlunsplit(database._replace(netloc=netloc))
        yield env


@pytest.fixture(scope="module")
def app_hosts(served: Served, hosts: Hosts, services: dict[str, str]):
    """The production command on each host, under production settings as a deployment
    sets them: the real domain only, forwarded headers believed from the proxy only.
    """
    production = {
        **services,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_ALLOWED_HOSTS": DOMAIN,
        "FORWARDED_ALLOW_IPS": hosts.gateway,
    }
    servers = [
        served.new_server(
            Uvicorn,
            host=address,
            port=APP_PORT if hosts.isolated else None,
            launcher=hosts.launcher(address),
            **production,
        )
        for address in hosts.addresses
    ]
    with contextlib.ExitStack() as stack:
        for server in servers:
            stack.enter_context(server)
        yield servers


@pytest.fixture(scope="module")
def proxy(served: Served, app_hosts, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("topology")
    certificates = make_certificates(workdir / "tls")
    upstream = [address(server) for server in app_hosts]
    with Nginx(
        workdir / "nginx", served.path / "deploy" / "nginx.conf", certificates, upstream
    ) as running:
        yield running


@pytest.fixture(scope="module")
def user(served: Served, proxy) -> ProxyClient:
    """A client logged in through the proxy's HTTPS login form."""
    client = ProxyClient(proxy)
    if served.auth:
        log_in(client)
    return client


def log_in(client: ProxyClient) -> None:
    status, _, page = client.open("/accounts/login/")
    assert status == 200
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    form = {
        "username": USERNAME,
        "password": PASSWORD,
        "csrfmiddlewaretoken": token.group(1).decode(),
        "next": "/",
    }
    url = f"{client.proxy.base_url}/accounts/login/"
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers={"Referer": url})
    status, headers, _ = client.open(request)
    assert status == 302, status
    assert headers["Location"] == "/"


def handshakes(server, room: str) -> int:
    """How many websockets of `room` the app host accepted (its uvicorn access log)."""
    return server.log().count(f'"WebSocket /ws/chat/{room}/" [accepted]')


def address(server) -> str:
    """An app host as nginx's upstream names it."""
    return f"{server.host}:{server.port}"


def new_room() -> str:
    return f"topology-{uuid.uuid4().hex[:10]}"


def run_async(scenario: Coroutine[None, None, T]) -> T:
    """asyncio.run() in a thread of its own: Playwright's sync API (the module's browser)
    keeps an event loop running in the test's thread.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, scenario).result()


# --- HTTPS, redirects, probes -------------------------------------------------------------


def test_login_over_https_sets_secure_cookies_and_hsts(served, proxy):
    client = ProxyClient(proxy)
    status, headers, _ = client.open("/accounts/login/" if served.auth else "/")
    assert status == 200
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    if served.auth:
        log_in(client)
        assert {cookie.name: cookie.secure for cookie in client.cookies} == {
            "csrftoken": True,
            "sessionid": True,
        }
    status, _, page = client.open("/")
    assert status == 200
    assert b"chat" in page.lower()


def test_plain_http_redirects_to_https_except_health(proxy):
    status, headers, _ = plain_http(proxy.http_port, "/chat/lobby/?a=1", DOMAIN)
    assert status == 301
    assert headers["Location"] == f"https://{DOMAIN}/chat/lobby/?a=1"

    status, _, body = plain_http(proxy.http_port, "/health/", DOMAIN)
    assert status == 200
    assert b'"ok"' in body
    # A load balancer probing the proxy by address gets the same answer.
    assert plain_http(proxy.http_port, "/health/", "127.0.0.1")[0] == 200


def test_an_unknown_name_gets_no_certificate(proxy):
    context = proxy.certificates.client_context()
    with (
        socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock,
        pytest.raises(ssl.SSLError, match=r"UNRECOGNIZED_NAME|unrecognized name"),
    ):
        context.wrap_socket(sock, server_hostname="other.example.test")


def test_the_proxy_refuses_oversized_headers_and_bodies(proxy):
    """deploy/nginx.conf's limits: 8 KiB per header line, 32 KiB of headers, 1 MiB of
    body (announced: refused before a byte of it is read).
    """
    client = ProxyClient(proxy)

    def health_with(headers: dict[str, str]) -> int:
        url = f"{proxy.base_url}/health/"
        return client.open(urllib.request.Request(url, headers=headers))[0]

    assert health_with({f"X-Pad-{i}": "a" * 7000 for i in range(3)}) == 200
    assert health_with({"X-Long": "a" * 9000}) == 400
    assert health_with({f"X-Pad-{i}": "a" * 7000 for i in range(5)}) == 400

    connection = client.connection()
    try:
        connection.putrequest("POST", "/accounts/login/")
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
    finally:
        connection.close()


def test_each_app_host_answers_health_by_ip_and_nothing_else(app_hosts):
    for server in app_hosts:
        status, body = health(server.base_url)
        assert (status, body["status"]) == (200, "ok")
        assert http_get(f"{server.base_url}/")[0] == 400  # only chat.example.test is allowed


def test_the_app_logs_the_client_address_the_proxy_forwards(proxy, app_hosts):
    trace = uuid.uuid4().hex
    client = ProxyClient(proxy, source=CLIENT)
    request = urllib.request.Request(
        f"{proxy.base_url}/health/?trace={trace}", headers={"X-Forwarded-For": SPOOFED}
    )
    assert client.open(request)[0] == 200

    lines = [line for server in app_hosts for line in server.log().splitlines() if trace in line]
    assert len(lines) == 1, lines
    assert f" {CLIENT} - " in lines[0]  # the address alone: uvicorn's port 0 left out
    assert SPOOFED not in lines[0]

    def logged_by_the_proxy() -> list[str]:
        return [line for line in proxy.access_log.read_text().splitlines() if trace in line]

    # nginx logs a request once it has finished it, maybe after the client read the answer.
    wait_until(logged_by_the_proxy, timeout=5, what="nginx to log the request")
    assert logged_by_the_proxy()[0].startswith(f"{CLIENT} ")


def test_forwarded_headers_sent_straight_to_an_app_host_are_ignored(app_hosts, hosts):
    """A client on the hosts' network that is not the proxy."""
    server, client = app_hosts[0], hosts.outsider
    trace = uuid.uuid4().hex
    connection = http.client.HTTPConnection(
        server.host, server.port, timeout=10, source_address=(client, 0)
    )
    try:
        connection.request(
            "GET",
            f"/?trace={trace}",
            headers={"Host": DOMAIN, "X-Forwarded-For": SPOOFED, "X-Forwarded-Proto": "https"},
        )
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()

    # Not from the proxy: the scheme claim is ignored (HTTPS redirect) and so is the address.
    assert response.status == 301
    assert response.headers["Location"] == f"https://{DOMAIN}/?trace={trace}"
    line = next(line for line in server.log().splitlines() if trace in line)
    assert f"{client}:" in line
    assert SPOOFED not in line


# --- websockets through the proxy ---------------------------------------------------------


def test_wss_chat_between_clients_on_different_app_hosts(served, proxy, app_hosts, user):
    room = new_room()

    async def scenario():
        async with await user.websocket(f"/ws/chat/{room}/") as first:
            await send_json(first, {"type": "ping"})
            assert await receive_json(first) == {"type": "pong"}
            async with await user.websocket(f"/ws/chat/{room}/") as second:
                await send_json(second, {"type": "chat.message", "message": "across hosts"})
                for socket in (first, second):
                    assert (await receive_json(socket))["message"] == "across hosts"

    run_async(scenario())
    # least_conn: the second socket went to the host that held none.
    assert [handshakes(server, room) for server in app_hosts] == [1, 1]
    assert served.tracebacks(app_hosts) == []


# --- a real browser through the proxy ------------------------------------------------------


@pytest.fixture(scope="module")
def browser(proxy):
    """Debian's Chromium resolving the domain to the proxy (ports 443 and 80 to the
    proxy's) and trusting the test CA's key: as a user's browser meets the real site.
    """
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    require(executable is not None, "Chromium is not installed (Debian package: chromium)")
    rules = f"MAP {DOMAIN}:443 127.0.0.1:{proxy.port}, MAP {DOMAIN}:80 127.0.0.1:{proxy.http_port}"
    flags = [
        *CHROMIUM_FLAGS,
        f"--host-resolver-rules={rules}",
        f"--ignore-certificate-errors-spki-list={proxy.certificates.ca_spki_sha256}",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=flags)
        yield browser
        browser.close()


def open_room_page(browser, served, room: str) -> tuple[Page, object]:
    """A new browser context on the room's page over HTTPS, logged in where needed."""
    context = browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
    url = f"https://{DOMAIN}/chat/{room}/"
    try:
        page.goto(url)
    except PlaywrightError as error:
        # Chromium fails a navigation when the machine's interfaces change meanwhile (another
        # module's network namespaces coming or going); a person would reload.
        if "ERR_NETWORK_CHANGED" not in str(error):
            raise
        page.goto(url)
    if served.auth:
        page.fill("input[name=username]", USERNAME)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"https://{DOMAIN}/chat/{room}/")
    expect(page.locator("#chat-status")).to_have_attribute("data-state", "open")
    return page, context


@pytest.mark.parametrize("e2e_name", ["defaults"], indirect=True, scope="module")
def test_browser_logs_in_over_https_and_chats_over_wss_across_hosts(
    browser, served, proxy, app_hosts
):
    room = new_room()
    first, first_context = open_room_page(browser, served, room)
    second, second_context = open_room_page(browser, served, room)
    try:
        assert first.evaluate("window.isSecureContext") is True
        if served.auth:
            cookies = {c["name"]: c for c in first_context.cookies()}
            assert cookies["sessionid"]["secure"]
            assert cookies["sessionid"]["httpOnly"]
        # One page's socket on each app host (least_conn).
        assert [handshakes(server, room) for server in app_hosts] == [1, 1]

        first.fill("#chat-input", "hello over wss")
        first.press("#chat-input", "Enter")
        expect(second.locator("#chat-log")).to_contain_text("hello over wss")
    finally:
        first_context.close()
        second_context.close()
    assert served.tracebacks(app_hosts) == []


@pytest.mark.parametrize("e2e_name", ["defaults"], indirect=True, scope="module")
def test_a_page_comes_back_at_once_after_its_host_restarts(browser, served, proxy, app_hosts):
    """chat.js reconnects within a second after 1012 (it used to back off as after any
    loss), through the proxy to the host still running.
    """
    room = new_room()
    page, context = open_room_page(browser, served, room)
    try:
        (host,) = [server for server in app_hosts if handshakes(server, room) == 1]
        (other,) = [server for server in app_hosts if server is not host]
        proxy.wait_until_hosts_routable()
        began = time.monotonic()
        os.kill(host.pid, signal.SIGTERM)
        wait_until(lambda: handshakes(other, room) == 1, timeout=10, what="the page's new socket")
        expect(page.locator("#chat-status")).to_have_attribute("data-state", "open")
        seconds = time.monotonic() - began
        host.process.wait(timeout=10)  # the SPEC's bound on a stopping server
        print(f"\nthe page was back {seconds:.2f} s after SIGTERM to its host")
        assert seconds < 5
    finally:
        context.close()
        for server in app_hosts:
            if server.process.poll() is not None:
                server.start()
                proxy.host_back()
    assert served.tracebacks(app_hosts) == []


def test_the_proxy_caps_handshakes_and_connections_per_address(proxy, user):
    """deploy/nginx.conf's limits per client address: a burst of 50 handshakes (then 10 a
    second) and 100 connections at once; past either, 429, while another address goes on.
    """
    path = f"/ws/chat/{new_room()}/"

    async def handshake(client: ProxyClient):
        try:
            return await client.websocket(path)
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    async def scenario() -> tuple[list, list, object]:
        held: list = []
        try:
            burst = await asyncio.gather(
                *(handshake(user.elsewhere("127.0.0.30")) for _ in range(80))
            )
            held += [ws for ws in burst if not isinstance(ws, int)]
            refused_burst = [status for status in burst if isinstance(status, int)]

            steady = user.elsewhere("127.0.0.31")
            for _ in range(100):  # within the handshake rate: 10 a second
                ws = await handshake(steady)
                assert not isinstance(ws, int), f"handshake refused with {ws}"
                held.append(ws)
                await asyncio.sleep(0.11)
            over = await handshake(steady)
            elsewhere = await handshake(user.elsewhere("127.0.0.32"))
            held += [ws for ws in (over, elsewhere) if not isinstance(ws, int)]
            return refused_burst, [over], elsewhere
        finally:
            await asyncio.gather(*(ws.close() for ws in held))

    refused_burst, (over,), elsewhere = run_async(scenario())
    assert 15 <= len(refused_burst) <= 29  # 80 at once: 51 pass, a few more as tokens return
    assert set(refused_burst) == {429}
    assert over == 429  # the 101st connection from one address
    assert not isinstance(elsewhere, int)  # another address is not held back


# --- rolling restart -----------------------------------------------------------------------


class Member:
    """A chat member through the proxy that behaves as chat.js does: after 1012 it comes
    back within RESTART_JITTER seconds (random), after any other loss with a backoff; it
    keeps every event and close code, and when it lost and regained its socket.
    """

    def __init__(self, user: ProxyClient, path: str) -> None:
        self.user = user
        self.path = path
        self.socket = None
        self.opened = asyncio.Event()
        self.closes: list[int | None] = []
        self.messages: list[str] = []
        self.lost_at: float | None = None
        self.back_after: float | None = None  # seconds from the 1012 to the new socket
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        delay = 0.0
        while True:
            await asyncio.sleep(delay)
            try:
                self.socket = await self.user.websocket(self.path)
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                delay = min(5.0, max(0.5, delay * 2)) * random.random()
                continue
            if self.lost_at is not None and self.back_after is None:
                self.back_after = time.monotonic() - self.lost_at
            self.opened.set()
            try:
                async for frame in self.socket:
                    event = json.loads(frame)
                    if event.get("type") == "chat.message":
                        self.messages.append(event["message"])
            except websockets.ConnectionClosed:
                pass
            self.opened.clear()
            code = self.socket.close_code
            self.closes.append(code)
            self.lost_at = time.monotonic()
            delay = random.uniform(0, RESTART_JITTER) if code == SERVICE_RESTART else 1.0

    def start(self) -> None:
        self.task = asyncio.ensure_future(self.run())

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        if self.socket is not None:
            await self.socket.close()


def group_members(redis_url: str, room: str) -> set[str]:
    client = redis.Redis.from_url(redis_url)
    try:
        return {name.decode() for name in client.zrange(f"asgi:group:chat.{room}", 0, -1)}
    finally:
        client.close()


def process_prefixes(channels: set[str]) -> set[str]:
    """The per-process part of channel names ("specific.<process>!<channel>")."""
    return {name.split("!", 1)[0] for name in channels}


def test_rolling_restart_moves_every_client_to_the_other_host(
    served, proxy, app_hosts, user, services
):
    room = new_room()
    stopped, other = app_hosts

    async def scenario() -> None:
        # From ten addresses, as people come from many: the proxy holds each address to 100
        # connections and a burst of 50 handshakes (deploy/nginx.conf).
        clients = [user.elsewhere(f"127.0.0.{20 + number}") for number in range(10)]
        crowd = [Member(clients[i % 10], f"/ws/chat/{room}/") for i in range(CROWD)]
        try:
            for member in crowd:
                member.start()
            await asyncio.wait_for(asyncio.gather(*(m.opened.wait() for m in crowd)), 60)
            on_stopped = handshakes(stopped, room)
            assert 0 < on_stopped < CROWD  # spread over both hosts
            before = group_members(services["REDIS_URL"], room)
            assert len(before) == CROWD
            assert len(process_prefixes(before)) == 2

            began = time.monotonic()
            await asyncio.to_thread(stopped.terminate)  # SIGTERM, as an orchestrator sends it
            exit_seconds = time.monotonic() - began
            assert exit_seconds < 10

            moved = [m for m in crowd if m.closes]
            assert len(moved) == on_stopped
            assert {code for m in moved for code in m.closes} == {SERVICE_RESTART}
            await asyncio.wait_for(asyncio.gather(*(m.opened.wait() for m in crowd)), 30)
            assert handshakes(other, room) == CROWD  # the stopped host's clients, moved

            # Every member is now a channel of the host still running; none of the stopped
            # host's channels is left behind, and the other host's clients stayed put.
            after = group_members(services["REDIS_URL"], room)
            assert len(after) == CROWD
            assert len(process_prefixes(after)) == 1
            (gone,) = process_prefixes(before) - process_prefixes(after)
            assert {c for c in before if c.split("!", 1)[0] != gone} <= after

            text = f"after the restart {uuid.uuid4().hex[:6]}"
            await send_json(crowd[0].socket, {"type": "chat.message", "message": text})
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and any(text not in m.messages for m in crowd):
                await asyncio.sleep(0.1)
            assert sum(text in m.messages for m in crowd) == CROWD

            slowest = max(m.back_after for m in moved)
            print(
                f"\nrolling restart: {on_stopped} of {CROWD} clients on the stopped host, "
                f"exit in {exit_seconds:.2f} s, all back through the proxy within "
                f"{slowest:.2f} s of their 1012 (median "
                f"{sorted(m.back_after for m in moved)[len(moved) // 2]:.2f} s)"
            )
        finally:
            await asyncio.gather(*(m.stop() for m in crowd))

    proxy.wait_until_hosts_routable()  # both hosts in use, as the spread needs
    try:
        run_async(scenario())
    finally:
        stopped.start()
        proxy.host_back()
    assert served.tracebacks(app_hosts) == []


# --- the database goes away -----------------------------------------------------------------


@pytest.mark.parametrize("e2e_name", ["postgresql"], indirect=True, scope="module")
def test_a_database_outage_turns_health_503_naming_it_and_recovers(served, proxy, app_hosts):
    name = served.env["DATABASE_URL"].rsplit("/", 1)[1]
    assert all(health(server.base_url)[0] == 200 for server in app_hosts)

    allow_postgres_connections(served.python, name, allowed=False)
    try:
        for server in app_hosts:
            wait_until(lambda s=server: health(s.base_url)[0] == 503, timeout=10, what="503")
            status, body = health(server.base_url)
            assert status == 503
            assert body["checks"]["database"].startswith("failed")
            assert body["checks"]["channel_layer"] == "ok"
        # Through the proxy too, as the load balancer in front of it sees it.
        assert plain_http(proxy.http_port, "/health/", DOMAIN)[0] == 503
    finally:
        allow_postgres_connections(served.python, name, allowed=True)

    for server in app_hosts:
        wait_until(lambda s=server: health(s.base_url)[0] == 200, timeout=10, what="recovery")
    assert ProxyClient(proxy).open("/accounts/login/")[0] == 200
    assert served.tracebacks(app_hosts) == []
