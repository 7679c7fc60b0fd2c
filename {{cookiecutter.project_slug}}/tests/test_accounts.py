"""Login and logout pages; pages need a logged-in user."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="correct horse battery")


def test_login_page_renders(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()


def test_login_with_the_right_password_redirects_to_next(client, alice):
    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "correct horse battery", "next": "/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_login_with_a_wrong_password_is_refused(client, alice):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})

    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


def test_login_requires_a_csrf_token(alice):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)

    response = strict.post("/accounts/login/", {"username": "alice", "password": "x"})

    assert response.status_code == 403


def test_logout_ends_the_session(client, alice):
    client.force_login(alice)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_pages_send_anonymous_users_to_log_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_health_check_needs_no_login(client):
    assert client.get("/health/").status_code == 200
