"""The template's machinery for tests and the benchmark: bake, install, serve.

Plain Python, no pytest: `tests/conftest.py` turns it into fixtures, `bench/` uses it as
it is. How the pieces fit is in docs/testing.md.

- `variants`: the option matrix, readable ids, the end-to-end variants and their servers.
- `commands`: a command run in a clean environment; `CommandFailed` with its output.
- `services`: the machine's Redis and PostgreSQL and what a variant gets of them.
- `baking`: baking a variant once per run (`BakeCache`) and per-dependency-set virtual
  environments (`ProjectEnvironments`), both shared between processes.
- `servers`: one `Server` family (`Daphne`, `Uvicorn`, `RawWebsockets`, `RedisServer`),
  each a process on a free loopback port, started and stopped with bounded waits.
- `served`: a baked project made ready to serve (database, static files, a user).
- `hosts`: a topology's app hosts: network namespaces on a bridge of their own, or
  loopback addresses where the machine refuses namespaces.
- `proxy`: the production topology's front: the project's deploy/nginx.conf run by nginx
  with a test CA's certificate, and a client that reaches it as a browser would.
- `client`: the websocket and HTTP client side.
"""


class HarnessError(Exception):
    """Something the harness was asked to do failed; the message says what and why."""


class Unavailable(HarnessError):
    """A service or program a caller needs is missing (a test skips, or fails in CI)."""
