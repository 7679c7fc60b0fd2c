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


def test_stylesheet_is_a_static_file():
    assert finders.find("css/site.css")
