"""The production topology's front: the project's own `deploy/nginx.conf`, run by nginx
with a certificate of a test CA, in front of app hosts on loopback addresses.

Only the lines the file marks EDIT change (the domain, the listen ports, the certificate,
the app hosts); `site_config` fails if one of them is not found as documented, so the file
the project ships is the file under test. Clients reach the proxy as a browser would reach
`https://chat.example.test/`: `ProxyClient` resolves the domain to the proxy's port and
trusts the test CA only.
"""

import base64
import functools
import hashlib
import http.client
import http.cookiejar
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import trustme
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness import HarnessError, Unavailable
from harness.client import NoRedirect
from harness.servers import HOST, Server, free_port

DOMAIN = "chat.example.test"
# The placeholders of deploy/nginx.conf.
SHIPPED_DOMAIN = "chat.example.com"
SHIPPED_APP_HOST = re.compile(r"^(\s*)server 10\.0\.0\.\d+:8000( [^;]*)?;\n", re.MULTILINE)
SHIPPED_LISTEN = re.compile(r"^(\s*)listen (80|443)\b", re.MULTILINE)
SHIPPED_IPV6_LISTEN = re.compile(r"^\s*listen \[::\]:\d+.*\n", re.MULTILINE)
FOREGROUND = ["-g", "daemon off;"]


@dataclass(frozen=True)
class Certificates:
    """A test CA and a certificate it issued for the domain, as PEM files."""

    ca: Path
    chain: Path
    key: Path
    ca_spki_sha256: str  # base64: what Chromium's --ignore-certificate-errors-spki-list takes

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the test CA and nothing else."""
        return ssl.create_default_context(cafile=str(self.ca))


def make_certificates(directory: Path, domain: str = DOMAIN) -> Certificates:
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    issued = authority.issue_cert(domain)
    ca = directory / "ca.pem"
    authority.cert_pem.write_to_path(str(ca))
    chain = directory / f"{domain}.pem"
    # The CA's certificate ends the chain nginx sends: Chromium's SPKI allow-list matches a
    # key of the chain it is shown.
    blobs = [*issued.cert_chain_pems, authority.cert_pem]
    chain.write_bytes(b"".join(blob.bytes() for blob in blobs))
    key = directory / f"{domain}.key"
    issued.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    certificate = x509.load_pem_x509_certificate(authority.cert_pem.bytes())
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    return Certificates(ca, chain, key, digest)


def _substitute(pattern: re.Pattern[str] | str, replacement, text: str, *, at_least: int) -> str:
    if isinstance(pattern, str):
        pattern = re.compile(re.escape(pattern))
    new, count = pattern.subn(replacement, text)
    if count < at_least:
        raise HarnessError(
            f"deploy/nginx.conf: expected {at_least}+ of {pattern.pattern!r}, found {count}"
        )
    return new


def site_config(
    shipped: str,
    *,
    domain: str,
    http_port: int,
    https_port: int,
    certificates: Certificates,
    app_hosts: list[str],
) -> str:
    """The shipped site file with its EDIT lines set for this topology, nothing else."""
    text = _substitute(
        re.compile(r"^(\s*ssl_certificate) \S+;", re.MULTILINE),
        lambda m: f"{m.group(1)} {certificates.chain};",
        shipped,
        at_least=1,
    )
    text = _substitute(
        re.compile(r"^(\s*ssl_certificate_key) \S+;", re.MULTILINE),
        lambda m: f"{m.group(1)} {certificates.key};",
        text,
        at_least=1,
    )
    text = _substitute(SHIPPED_DOMAIN, domain, text, at_least=2)
    ports = {"80": http_port, "443": https_port}
    text = _substitute(
        SHIPPED_LISTEN,
        lambda m: f"{m.group(1)}listen {HOST}:{ports[m.group(2)]}",
        text,
        at_least=3,
    )
    text = _substitute(SHIPPED_IPV6_LISTEN, "", text, at_least=0)
    first = SHIPPED_APP_HOST.search(text)
    if first is None:
        raise HarnessError("deploy/nginx.conf: no `server 10.0.0.x:8000` line in its upstream")
    indent, options = first.group(1), first.group(2) or ""
    lines = "".join(f"{indent}server {address}{options};\n" for address in app_hosts)
    text = SHIPPED_APP_HOST.sub("", text)
    return text[: first.start()] + lines + text[first.start() :]


class Nginx(Server):
    """nginx serving the project's site file: HTTPS on `port`, HTTP on `http_port`."""

    name = "nginx"

    def __init__(
        self,
        workdir: Path,
        shipped: Path,
        certificates: Certificates,
        app_hosts: list[str],
        domain: str = DOMAIN,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        super().__init__(workdir, None, workdir / "error.log")
        self.http_port = free_port()
        self.domain = domain
        self.certificates = certificates
        site = site_config(
            shipped.read_text(encoding="utf-8"),
            domain=domain,
            http_port=self.http_port,
            https_port=self.port,
            certificates=certificates,
            app_hosts=app_hosts,
        )
        (workdir / "site.conf").write_text(site, encoding="utf-8")
        self.access_log = workdir / "access.log"
        # How long nginx leaves out an app host that refused a connection (passive health).
        found = re.search(r"\bfail_timeout=(\d+)s\b", site)
        if found is None:
            raise HarnessError("deploy/nginx.conf: no fail_timeout=<N>s on its app hosts")
        self.fail_timeout = int(found.group(1))
        self._host_back_at = 0.0

    def host_back(self) -> None:
        """An app host that was stopped serves again (it refused connections meanwhile)."""
        self._host_back_at = time.monotonic()

    def wait_until_hosts_routable(self) -> None:
        """The rolling-restart rule (docs/deploy.md): stop the next host only `fail_timeout`
        after the previous one is back, once nginx has forgotten its refusals.
        """
        time.sleep(max(0.0, self._host_back_at + self.fail_timeout - time.monotonic()))

    def command(self) -> list[str]:
        # Debian installs it in /usr/sbin, on root's PATH only.
        executable = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
        if executable is None:
            raise Unavailable("nginx is not installed (Debian package: nginx)")
        root = self.cwd
        temp = root / "temp"
        temp.mkdir(exist_ok=True)
        temp_paths = "".join(
            f"    {kind}_temp_path {temp / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, workers would run as Debian's www-data, which cannot enter the test's
        # private temporary directory.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (root / "nginx.conf").write_text(
            f"{user}worker_processes 1;\nworker_rlimit_nofile 8192;\n"
            f"pid {root / 'nginx.pid'};\nerror_log {self.log_path} info;\n"
            "events { worker_connections 4096; }\n"
            f"http {{\n    access_log {self.access_log};\n{temp_paths}"
            f"    include {root / 'site.conf'};\n}}\n",
            encoding="utf-8",
        )
        conf = str(root / "nginx.conf")
        return [executable, "-p", str(root), "-e", str(self.log_path), "-c", conf, *FOREGROUND]

    @property
    def base_url(self) -> str:
        return f"https://{self.domain}"

    @property
    def ws_url(self) -> str:
        return f"wss://{self.domain}"

    def test_config(self) -> str:
        """`nginx -t` on the configuration: its output (HarnessError if it fails)."""
        done = subprocess.run(
            [*self.command()[: -len(FOREGROUND)], "-t"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise HarnessError(f"nginx -t failed:\n{done.stderr}")
        return done.stderr


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to `address` whatever the URL's host, with the URL's host as SNI and Host."""

    def __init__(self, host: str, *, address: tuple[str, int], source: str | None, **kwargs):
        super().__init__(host, **kwargs)
        self._address = address
        self._source = (source, 0) if source else None

    def connect(self) -> None:
        sock = socket.create_connection(self._address, self.timeout, self._source)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class _PinnedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, source: str | None):
        super().__init__(context=context)
        self._address = address
        self._source = source

    def https_open(self, request):
        connection = functools.partial(
            _PinnedHTTPSConnection, address=self._address, source=self._source
        )
        return self.do_open(connection, request, context=self._context)


class ProxyClient:
    """HTTPS through the proxy as a browser at `https://<domain>/` would send it (from the
    loopback address `source` if given), with cookies kept and redirects not followed.
    """

    def __init__(self, proxy: Nginx, source: str | None = None) -> None:
        self.proxy = proxy
        self.source = source
        self.context = proxy.certificates.client_context()
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            _PinnedHTTPSHandler((HOST, proxy.port), self.context, source),
            urllib.request.HTTPCookieProcessor(self.cookies),
            NoRedirect,
        )

    def open(self, request: str | urllib.request.Request, timeout: float = 10):
        """Status, headers and body of a request (a path or a Request for a full URL)."""
        if isinstance(request, str):
            request = urllib.request.Request(f"{self.proxy.base_url}{request}")
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def connection(self, timeout: float = 10) -> http.client.HTTPSConnection:
        """A raw HTTPS connection to the proxy, for requests urllib would not send."""
        return _PinnedHTTPSConnection(
            self.proxy.domain,
            address=(HOST, self.proxy.port),
            source=self.source,
            context=self.context,
            timeout=timeout,
        )

    def elsewhere(self, source: str) -> "ProxyClient":
        """The same session from the loopback address `source` (another network, a NAT)."""
        other = ProxyClient(self.proxy, source)
        for cookie in self.cookies:
            other.cookies.set_cookie(cookie)
        return other

    def cookie_header(self) -> str:
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.cookies)

    async def websocket(self, path: str, headers: dict[str, str] | None = None, **options):
        """A websocket through the proxy (wss://, the domain as SNI and Host), with this
        client's cookies and the site's Origin.
        """
        handshake = {"Origin": self.proxy.base_url, **(headers or {})}
        if cookie := self.cookie_header():
            handshake.setdefault("Cookie", cookie)
        extra = {"local_addr": (self.source, 0)} if self.source else {}
        return await websockets.connect(
            f"{self.proxy.ws_url}{path}",
            host=HOST,
            port=self.proxy.port,
            ssl=self.context,
            server_hostname=self.proxy.domain,
            additional_headers=handshake,
            open_timeout=15,
            close_timeout=2,
            **extra,
            **options,
        )


def plain_http(port: int, path: str, host: str, *, timeout: float = 10):
    """A plain-HTTP GET to a loopback port with this Host header: status, headers, body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()
