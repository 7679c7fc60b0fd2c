"""The chat pages: a room's page hands its script what it needs; the room form leads there."""

import json
import re

import pytest
from django.conf import settings

from {{ cookiecutter.project_slug }}.chat.protocol import CloseCode

pytestmark = pytest.mark.django_db


def chat_config(html: str) -> dict:
    """The JSON the page hands chat.js (json_script with id chat-config)."""
    match = re.search(r'<script id="chat-config" type="application/json">(.*?)</script>', html)
    assert match, "no chat-config on the page"
    return json.loads(match.group(1))


def test_room_page_renders_the_client(page_client):
    response = page_client.get("/chat/lobby/")

    assert response.status_code == 200
    html = response.content.decode()
    assert chat_config(html)["room"] == "lobby"
    assert "chat/chat.js" in html


def test_room_page_tells_the_client_the_servers_facts(page_client):
    """Socket path, close codes and limits come from the Python that defines them."""
    config = chat_config(page_client.get("/chat/a_b-C9/").content.decode())

    assert config["room"] == "a_b-C9"
    assert config["socketPath"] == "/ws/chat/a_b-C9/"
    assert config["closeCodes"] == {code.name: int(code) for code in CloseCode}
    assert config["maxMessageChars"] == settings.WS_MAX_MESSAGE_CHARS


def test_message_field_takes_the_servers_length_limit(page_client, settings):
    settings.WS_MAX_MESSAGE_CHARS = 123

    html = page_client.get("/chat/lobby/").content.decode()

    assert 'maxlength="123"' in html


@pytest.mark.parametrize("room", ["a" * 65, "a.b", "caf%C3%A9"])
def test_invalid_room_page_is_not_found(page_client, room):
    assert page_client.get(f"/chat/{room}/").status_code == 404


def test_home_page_links_to_the_lobby_and_the_room_form(page_client):
    html = page_client.get("/").content.decode()

    assert 'href="/chat/lobby/"' in html
    assert 'href="/chat/"' in html


def test_room_form_leads_to_the_room(page_client):
    response = page_client.get("/chat/", {"room": "ops-2"})

    assert response.status_code == 302
    assert response["Location"] == "/chat/ops-2/"


@pytest.mark.parametrize("room", ["a" * 65, "a.b", "café", "no spaces", ""])
def test_room_form_refuses_an_invalid_name_and_says_why(page_client, room):
    response = page_client.get("/chat/", {"room": room})

    assert response.status_code == 400
    assert 'class="errorlist' in response.content.decode()


def test_room_form_asks_the_browser_for_the_room_pattern(page_client):
    html = page_client.get("/chat/").content.decode()

    assert 'pattern="[A-Za-z0-9_\\-]{1,64}"' in html
    assert 'maxlength="64"' in html


def test_chat_client_is_a_static_file():
    from django.contrib.staticfiles import finders

    assert finders.find("chat/chat.js")
