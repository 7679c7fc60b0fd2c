"""The chat page serves the JavaScript client for its room."""

import pytest

pytestmark = pytest.mark.django_db


def test_room_page_renders_the_client(page_client):
    response = page_client.get("/chat/lobby/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<script id="room-name" type="application/json">"lobby"</script>' in html
    assert "chat/chat.js" in html


def test_room_name_is_escaped_for_json_script(page_client):
    response = page_client.get("/chat/a_b-C9/")

    assert '"a_b-C9"' in response.content.decode()


@pytest.mark.parametrize("room", ["a" * 65, "a.b", "caf%C3%A9"])
def test_invalid_room_page_is_not_found(page_client, room):
    assert page_client.get(f"/chat/{room}/").status_code == 404


def test_home_page_links_to_the_lobby(page_client):
    response = page_client.get("/")

    assert response.status_code == 200
    assert 'action="/chat/lobby/"' in response.content.decode()


def test_chat_client_is_a_static_file():
    from django.contrib.staticfiles import finders

    assert finders.find("chat/chat.js")
