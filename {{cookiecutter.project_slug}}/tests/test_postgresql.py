"""The PostgreSQL database, the real server of DATABASE_URL (or of the default URL): the
whole suite runs on it, these tests say so.
"""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def test_suite_runs_on_postgresql():
    assert connection.vendor == "postgresql"


def test_models_round_trip(django_user_model):
    django_user_model.objects.create_user("dana", email="dana@example.com")

    assert django_user_model.objects.get(username="dana").email == "dana@example.com"


def test_health_checks_postgresql(client):
    response = client.get("/health/")

    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"
