"""GET /health/: 200 when the database and the channel layer work, 503 naming what does not."""

import pytest

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

    monkeypatch.setattr("{{ cookiecutter.project_slug }}.core.views._query_database", broken_query)

    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "failed: ConnectionError",
        "channel_layer": "ok",
    }
