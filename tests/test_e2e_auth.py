"""Authentication for real: the login form, the session cookie on the websocket, 4401."""

import asyncio

import pytest

from harness.client import connect, drain, http_get, receive_json, send_json
from harness.served import USERNAME, LoginFailed, login
from harness.variants import AUTH_VARIANTS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", params=AUTH_VARIANTS)
def e2e_name(request) -> str:
    return request.param


def test_logged_in_socket_chats_under_the_username(server):
    cookie = login(server.base_url)

    async def scenario():
        headers = {"Origin": server.base_url, "Cookie": cookie}
        async with await connect(server, "/ws/chat/auth-room/", headers) as socket:
            await send_json(socket, {"type": "chat.message", "message": "signed"})
            event = await receive_json(socket)
            assert event["user"] == USERNAME
            assert event["message"] == "signed"

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(None, id="anonymous"),
        pytest.param("sessionid=forgedforgedforgedforgedforged12", id="forged"),
        pytest.param("sessionid=", id="empty"),
    ],
)
def test_socket_without_a_valid_session_is_closed_with_4401(server, cookie):
    async def scenario():
        headers = {"Origin": server.base_url}
        if cookie:
            headers["Cookie"] = cookie
        socket = await connect(server, "/ws/chat/auth-room/", headers)
        assert await drain(socket, limit=1) == ([], 4401)

    asyncio.run(scenario())


def test_wrong_password_is_refused_by_the_form(server):
    with pytest.raises(LoginFailed, match="login failed"):
        login(server.base_url, password="not-the-password")


def test_chat_page_sends_anonymous_users_to_log_in(server):
    status, headers, _ = http_get(f"{server.base_url}/chat/lobby/")

    assert status == 302
    assert headers["Location"] == "/accounts/login/?next=/chat/lobby/"


def test_server_log_holds_no_traceback(served):
    assert served.tracebacks() == []
