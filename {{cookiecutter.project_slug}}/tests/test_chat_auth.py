"""With authentication on, websockets belong to logged-in users."""

import pytest

from {{ cookiecutter.project_slug }}.chat.protocol import CloseCode

from .support import ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)

LOBBY = "/ws/chat/lobby/"


async def test_messages_carry_the_username(connect):
    alice, connected = await connect(LOBBY)
    assert connected

    await alice.send_json_to({"type": "chat.message", "message": "hi"})

    assert (await alice.receive_json_from(timeout=2))["user"] == "alice"


async def test_anonymous_socket_is_accepted_then_closed_with_4401(connect):
    anonymous, connected = await connect(LOBBY, headers=[ORIGIN])

    assert connected
    output = await anonymous.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": CloseCode.UNAUTHENTICATED}
    assert type(output["code"]) is int  # daphne refuses an IntEnum member


async def test_forged_session_cookie_is_closed_with_4401(connect):
    forged = [ORIGIN, (b"cookie", b"sessionid=forged0123456789abcdefghijklmnopqrstu")]

    anonymous, connected = await connect(LOBBY, headers=forged)

    assert connected
    output = await anonymous.receive_output(timeout=2)
    assert output["code"] == CloseCode.UNAUTHENTICATED


async def test_anonymous_socket_is_not_in_the_room(connect):
    alice, _ = await connect(LOBBY)
    anonymous, _ = await connect(LOBBY, headers=[ORIGIN])
    await anonymous.receive_output(timeout=2)

    await alice.send_json_to({"type": "chat.message", "message": "members only"})

    assert (await alice.receive_json_from(timeout=2))["message"] == "members only"
    assert await anonymous.receive_nothing(timeout=0.2)


def test_chat_page_sends_anonymous_users_to_log_in(client):
    response = client.get("/chat/lobby/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/chat/lobby/"
