"""Authentication for real: the login form, the session cookie on the websocket, 4401."""

import asyncio
import time
import uuid

import pytest

from harness.client import connect, drain, http_get, receive_json, send_json
from harness.served import PASSWORD, USERNAME, LoginFailed, login, logout
from harness.variants import AUTH_VARIANTS, E2E_VARIANTS

pytestmark = pytest.mark.e2e

REDIS_AUTH_VARIANTS = [name for name in AUTH_VARIANTS if E2E_VARIANTS[name]["use_redis"]]


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


# A socket must be closed with 4401 this soon after its session ends (SPEC).
WITHIN_SECONDS = 2


async def closed_within(socket, seconds: float) -> tuple[int | None, float]:
    """Wait for the server to close `socket`; its close code and how long it took."""
    started = time.monotonic()
    _, code = await drain(socket, limit=1, timeout=seconds + 1)
    return code, time.monotonic() - started


def shell(served, code: str) -> None:
    """Run Python in `manage.py shell` of the served project: another process."""
    served.baked.manage("shell", "-c", code, env=served.env)


def test_logging_out_closes_the_sessions_sockets_and_no_other(server):
    ending, staying = login(server.base_url), login(server.base_url)

    async def scenario():
        path = f"/ws/chat/logout-{uuid.uuid4().hex[:8]}/"
        ending_headers = {"Origin": server.base_url, "Cookie": ending}
        staying_headers = {"Origin": server.base_url, "Cookie": staying}
        async with (
            await connect(server, path, ending_headers) as socket,
            await connect(server, path, staying_headers) as other,
        ):
            assert await asyncio.to_thread(logout, server.base_url, ending) == 302
            code, seconds = await closed_within(socket, WITHIN_SECONDS)
            assert code == 4401
            assert seconds < WITHIN_SECONDS
            await send_json(other, {"type": "ping"})
            assert await receive_json(other) == {"type": "pong"}

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def second_server(served):
    with served.new_server() as running:
        yield running


ENDINGS = {
    "logout on another process": None,
    "password changed in a shell": (
        "from django.contrib.auth import get_user_model as m; u = m().objects.get(username='{}');"
        " u.set_password('Another-Password-42'); u.save()"
    ),
    "deactivated in a shell": (
        "from django.contrib.auth import get_user_model as m; u = m().objects.get(username='{}');"
        " u.is_active = False; u.save()"
    ),
    "sessions deleted in a shell": (
        "from django.contrib.sessions.models import Session; Session.objects.all().delete()"
    ),
}


@pytest.mark.parametrize("e2e_name", REDIS_AUTH_VARIANTS, indirect=True, scope="module")
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_sockets_on_every_process_close_when_the_session_ends(
    served, server, second_server, ending
):
    """Two server processes on one Redis (the in-memory layer reaches one process only)."""
    username = f"user-{uuid.uuid4().hex[:8]}"
    shell(
        served,
        "from django.contrib.auth import get_user_model as m;"
        f" m().objects.create_user('{username}', password='{PASSWORD}')",
    )
    cookie = login(server.base_url, username)

    async def scenario():
        path = f"/ws/chat/ending-{uuid.uuid4().hex[:8]}/"
        headers = {"Origin": server.base_url, "Cookie": cookie}
        async with (
            await connect(server, path, headers) as here,
            await connect(
                second_server, path, {**headers, "Origin": second_server.base_url}
            ) as there,
        ):
            await send_json(here, {"type": "ping"})
            assert await receive_json(here) == {"type": "pong"}
            if ENDINGS[ending] is None:
                assert await asyncio.to_thread(logout, second_server.base_url, cookie) == 302
            else:
                await asyncio.to_thread(shell, served, ENDINGS[ending].format(username))
            for socket in (here, there):
                code, seconds = await closed_within(socket, WITHIN_SECONDS)
                assert code == 4401
                assert seconds < WITHIN_SECONDS

    asyncio.run(scenario())


def test_a_socket_closes_when_its_session_expires(served, server):
    cookie = login(server.base_url)
    session_key = dict(part.split("=", 1) for part in cookie.split("; "))["sessionid"]
    shell(
        served,
        "import datetime; from django.utils import timezone;"
        " from django.contrib.sessions.models import Session;"
        f" Session.objects.filter(session_key='{session_key}')"
        ".update(expire_date=timezone.now() + datetime.timedelta(seconds=3))",
    )

    async def scenario():
        headers = {"Origin": server.base_url, "Cookie": cookie}
        async with await connect(server, "/ws/chat/expiring/", headers) as socket:
            await send_json(socket, {"type": "ping"})
            assert await receive_json(socket) == {"type": "pong"}
            code, _ = await closed_within(socket, 3 + WITHIN_SECONDS)
            assert code == 4401

    asyncio.run(scenario())


def test_server_log_holds_no_traceback(served):
    assert served.tracebacks() == []
