"""The HTML pages every variant serves."""

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_home_page_renders(page_client):
    response = page_client.get("/")

    assert response.status_code == 200
    assert "<h1>" in response.content.decode()


def test_unknown_page_is_not_found(page_client):
    assert page_client.get("/no-such-page/").status_code == 404


def test_the_favicon_browsers_ask_for_is_served_to_anyone(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x00\x00\x01\x00")


def test_stylesheet_is_a_static_file():
    assert finders.find("css/site.css")


def test_every_page_carries_the_security_headers_a_scanner_expects(page_client):
    response = page_client.get("/")

    assert "camera=()" in response["Permissions-Policy"]
    assert "microphone=()" in response["Permissions-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_every_page_carries_a_content_security_policy_without_inline_script(page_client):
    for path in ["/", "/no-such-page/"]:
        policy = page_client.get(path)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))

        assert directives["script-src"] == "'self'", path
        assert "unsafe-inline" not in policy, path
        assert directives["frame-ancestors"] == "'none'", path
        assert directives["object-src"] == "'none'", path
{%- if not cookiecutter.include_sample_consumer %}


def test_home_page_says_where_websocket_consumers_go(page_client):
    """Without the sample chat there is no room to link to: the page names the seam."""
    page = page_client.get("/").content.decode()

    assert "config/routing.py" in page
    assert "/chat/" not in page
{%- endif %}
