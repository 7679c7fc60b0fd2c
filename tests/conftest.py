"""Fixtures only: the harness (harness/) made into pytest fixtures, its errors into test
outcomes. A harness error fails the test with its message; a missing service skips it,
saying why, or fails it under REQUIRE_SERVICES=1.
"""

import contextlib
import os
from collections.abc import Iterator

import pytest

from harness import HarnessError, Unavailable
from harness.baking import Bakery
from harness.client import ws_headers
from harness.served import Served, login, prepare
from harness.services import REQUIRE_SERVICES, require_services
from harness.variants import E2E_SERVERS, E2E_VARIANTS, python_twin, variant_id


@contextlib.contextmanager
def harness_errors_as_outcomes() -> Iterator[None]:
    try:
        yield
    except Unavailable as missing:
        if REQUIRE_SERVICES:
            pytest.fail(f"{missing} (REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(str(missing))
    except HarnessError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with harness_errors_as_outcomes():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with harness_errors_as_outcomes():
        return (yield)


@pytest.fixture(scope="session")
def bakery(tmp_path_factory: pytest.TempPathFactory) -> Bakery:
    """One bake per variant and one environment per dependency set for the whole run:
    pytest-xdist workers share the run's temporary root.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    return Bakery(root / "shared")


@pytest.fixture(scope="session")
def prepared(bakery: Bakery, tmp_path_factory: pytest.TempPathFactory):
    """End-to-end variants ready to serve, by name, prepared once per worker."""
    cache: dict[str, Served] = {}

    def get(name: str) -> Served:
        if name not in cache:
            answers = E2E_VARIANTS[name]
            require_services(answers)
            workdir = tmp_path_factory.mktemp(f"e2e-{name}")
            cache[name] = prepare(name, answers, bakery, workdir, E2E_SERVERS[name])
        return cache[name]

    return get


@pytest.fixture(scope="module")
def served(e2e_name: str, prepared) -> Served:
    """The prepared project of this module's end-to-end variant (e2e_name)."""
    return prepared(e2e_name)


@pytest.fixture(scope="module")
def server(served: Served):
    """One server of the variant's kind serving it for the module's tests, then stopped."""
    with served.new_server() as running:
        yield running


@pytest.fixture(scope="module")
def headers(served: Served, server) -> dict[str, str]:
    """Handshake headers of a chat member: logged in through the real form where needed."""
    return ws_headers(server, login(server.base_url) if served.auth else None)


# First: pytest-xdist reads the groups in a hook of its own, on each worker.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the tests of one variant, or of one end-to-end variant, on one xdist worker:
    its module-scoped fixtures (an installed bake, a prepared project) are then made once.
    A module that names an `XDIST_GROUP` suffix (the topology) gets a worker of its own.
    """
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "variant" in params:
            # Variants that differ only in `use_docker` and `ci` share one worker: their
            # checks and own suite have the same input and run once (test_variants.py).
            item.add_marker(pytest.mark.xdist_group(variant_id(python_twin(params["variant"]))))
        elif "e2e_name" in params:
            # A module with servers all of its own may run beside its variant's other
            # modules, on a worker of its own (it prepares its own copy there).
            own = getattr(item.module, "XDIST_GROUP", "")
            item.add_marker(pytest.mark.xdist_group(f"e2e-{params['e2e_name']}{own}"))
