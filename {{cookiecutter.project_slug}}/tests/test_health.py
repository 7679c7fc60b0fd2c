"""GET /health/: 200 when the database and the channel layer work, 503 naming what does not."""

import asyncio
import json

import pytest
from channels.testing import HttpCommunicator

from {{ cookiecutter.project_slug }}.core import health

from config.asgi import application

pytestmark = pytest.mark.django_db


def test_health_reports_every_check_ok(client):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}}


def test_health_is_never_cached(client):
    response = client.get("/health/")

    assert "no-cache" in response["Cache-Control"]


def test_health_refuses_writes(client):
    assert client.post("/health/").status_code == 405


def test_health_names_a_broken_channel_layer(client, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "no.such.ChannelLayer"}}

    response = client.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"].startswith("failed")


def test_health_names_a_broken_database(client, monkeypatch):
    def broken_query() -> None:
        raise ConnectionError("database is down")

    monkeypatch.setattr("{{ cookiecutter.project_slug }}.core.health._query_database", broken_query)

    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "failed: ConnectionError",
        "channel_layer": "ok",
    }


def test_health_answers_a_probe_by_ip(client):
    """Probes ask by address; ALLOWED_HOSTS stays strict for every other URL."""
    assert client.get("/health/", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/", HTTP_HOST="10.0.0.7:8000").status_code == 400


def test_health_answers_plain_http_behind_a_tls_proxy(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/health/", HTTP_HOST="10.0.0.7").status_code == 200
    assert client.get("/", HTTP_HOST="localhost").status_code == 301


async def get_health(host: bytes = b"10.0.0.7") -> tuple[int, dict]:
    communicator = HttpCommunicator(application, "GET", "/health/", headers=[(b"host", host)])
    response = await communicator.get_response(timeout=10)
    return response["status"], json.loads(response["body"])


@pytest.mark.django_db(transaction=True)
async def test_a_flood_of_concurrent_probes_runs_one_check(monkeypatch):
    """Single flight: every request that arrives while a check runs shares its answer."""
    started = asyncio.Event()
    release = asyncio.Event()
    original = health.CHECKS["channel_layer"]

    async def slow_check() -> None:
        started.set()
        await release.wait()
        await original()

    monkeypatch.setitem(health.CHECKS, "channel_layer", slow_check)
    before = health.monitor.checks_run

    probes = [asyncio.ensure_future(get_health()) for _ in range(200)]
    await asyncio.wait_for(started.wait(), timeout=10)
    await asyncio.sleep(0.2)  # every probe is waiting now
    release.set()
    answers = await asyncio.gather(*probes)

    assert {status for status, _ in answers} == {200}
    assert health.monitor.checks_run - before == 1


@pytest.mark.django_db(transaction=True)
async def test_a_probe_that_gives_up_does_not_cancel_the_check(monkeypatch):
    release = asyncio.Event()

    async def slow_check() -> None:
        await release.wait()

    monkeypatch.setitem(health.CHECKS, "channel_layer", slow_check)
    impatient = asyncio.ensure_future(health.monitor.results())
    patient = asyncio.ensure_future(health.monitor.results())
    await asyncio.sleep(0.1)
    impatient.cancel()
    release.set()

    assert (await asyncio.wait_for(patient, timeout=10))["channel_layer"] == "ok"


def test_results_are_reused_for_health_cache_seconds(client, settings, monkeypatch):
    settings.HEALTH_CACHE_SECONDS = 60
    health.monitor.forget()
    before = health.monitor.checks_run

    assert client.get("/health/").status_code == 200

    def broken_query() -> None:
        raise ConnectionError("database is down")

    monkeypatch.setattr(health, "_query_database", broken_query)
    # Within the cache time the answer is the last check's: one check for the two requests.
    assert client.get("/health/").status_code == 200
    assert health.monitor.checks_run - before == 1

    settings.HEALTH_CACHE_SECONDS = 0
    assert client.get("/health/").status_code == 503
    assert health.monitor.checks_run - before == 2
    health.monitor.forget()
