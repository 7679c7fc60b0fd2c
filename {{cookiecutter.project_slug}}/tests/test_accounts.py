"""Login, logout and password reset pages; pages need a logged-in user."""

import importlib
import re

import pytest
from django.urls import clear_url_caches

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


def test_the_login_page_links_to_password_reset(client):
    page = client.get("/accounts/login/").content.decode()

    assert '<a href="/accounts/password_reset/">Forgot your password?</a>' in page


def test_a_forgotten_password_is_reset_through_the_emailed_link(client, alice, mailoutbox):
    alice.email = "alice@example.com"
    alice.save()

    sent = client.post("/accounts/password_reset/", {"email": "alice@example.com"})
    assert sent.status_code == 302
    assert client.get(sent["Location"]).status_code == 200
    (mail,) = mailoutbox
    assert mail.to == ["alice@example.com"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.body)
    assert link is not None, mail.body
    form_page = client.get(link[1], follow=True)
    assert 'name="new_password1"' in form_page.content.decode()
    new_password = "a new and long passphrase"
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
    )

    assert done.status_code == 302
    assert "Password set" in client.get(done["Location"]).content.decode()
    assert client.login(username="alice", password=new_password)
    assert client.get(link[1], follow=True).context["validlink"] is False  # once only


def test_an_unknown_address_is_answered_like_a_known_one(client, mailoutbox):
    """Whether an account has an address is nobody's business: same answer, no mail."""
    sent = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})

    assert sent.status_code == 302
    assert sent["Location"] == "/accounts/password_reset/done/"
    assert mailoutbox == []


def test_without_mail_there_is_no_password_reset(client, settings):
    """Production without EMAIL_URL: no link, and the pages are not there."""
    from {{ cookiecutter.project_slug }}.users import urls

    settings.PASSWORD_RESET_BY_EMAIL = False
    try:
        importlib.reload(urls)
        clear_url_caches()
        names = [getattr(pattern, "name", None) for pattern in urls.urlpatterns]
        assert "login" in names
        assert not [name for name in names if "reset" in str(name)]
    finally:
        settings.PASSWORD_RESET_BY_EMAIL = True
        importlib.reload(urls)
        clear_url_caches()
