"""The PostgreSQL database, against the real server at DATABASE_URL."""

import pytest
from django.db import connection

from .support import require_service

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    require_service("DATABASE_URL")


def test_suite_runs_on_postgresql():
    assert connection.vendor == "postgresql"


def test_models_round_trip(django_user_model):
    django_user_model.objects.create_user("dana", email="dana@example.com")

    assert django_user_model.objects.get(username="dana").email == "dana@example.com"


def test_health_checks_postgresql(client):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"
