"""Sessions end, sockets end (core/sessions.py): a socket opened with a session is closed
with 4401 within 2 s of that session ending, whatever ended it.
"""

import datetime

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.models import Session
from django.utils import timezone

from {{ cookiecutter.project_slug }}.chat.protocol import CloseCode
from {{ cookiecutter.project_slug }}.core import sessions as core_sessions
from {{ cookiecutter.project_slug }}.core.sessions import SessionStore, push_to_user, user_group

from .support import ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)

LOBBY = "/ws/chat/lobby/"
WITHIN_SECONDS = 2


async def assert_closed_with_4401(socket: WebsocketCommunicator) -> None:
    output = await socket.receive_output(timeout=WITHIN_SECONDS)
    assert output == {"type": "websocket.close", "code": CloseCode.UNAUTHENTICATED}


async def assert_open(socket: WebsocketCommunicator) -> None:
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=2) == {"type": "pong"}


@pytest.fixture
def alice(ws_headers, django_user_model):
    """The user connect() opens sockets as (ws_headers made her)."""
    return django_user_model.objects.get(username="alice")


@pytest.fixture
def sessions(alice):
    """Log alice in on fresh clients: (client, handshake headers) per session."""
    from django.test import Client

    def log_in() -> tuple[Client, list[tuple[bytes, bytes]]]:
        client = Client()
        client.force_login(alice)
        cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
        return client, [ORIGIN, (b"cookie", cookie)]

    return log_in


async def test_logging_out_closes_that_sessions_sockets_only(connect, sessions):
    (client, first), (_, second) = await sync_to_async(sessions)(), await sync_to_async(sessions)()
    here, _ = await connect(LOBBY, headers=first)
    also_here, _ = await connect("/ws/chat/other/", headers=first)
    elsewhere, _ = await connect(LOBBY, headers=second)

    await sync_to_async(client.logout)()

    await assert_closed_with_4401(here)
    await assert_closed_with_4401(also_here)
    await assert_open(elsewhere)


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch):
    """The wait before a check, made short: these tests make no request to wait for."""
    monkeypatch.setattr(core_sessions, "CHECK_DELAY_SECONDS", 0.05)


async def test_a_password_change_closes_every_socket_of_the_user(connect, sessions, alice):
    _, headers = await sync_to_async(sessions)()
    socket, _ = await connect(LOBBY, headers=headers)
    await assert_open(socket)

    alice.set_password("a new and different one")
    await alice.asave()

    await assert_closed_with_4401(socket)


async def test_deactivating_the_user_closes_their_sockets(connect, sessions, alice):
    _, headers = await sync_to_async(sessions)()
    socket, _ = await connect(LOBBY, headers=headers)

    alice.is_active = False
    await alice.asave(update_fields=["is_active"])

    await assert_closed_with_4401(socket)


async def test_deleting_the_session_closes_its_sockets(connect, sessions):
    _, headers = await sync_to_async(sessions)()
    socket, _ = await connect(LOBBY, headers=headers)

    await sync_to_async(lambda: Session.objects.all().delete())()

    await assert_closed_with_4401(socket)


async def test_an_expiring_session_closes_its_sockets_when_it_expires(connect, sessions):
    _, headers = await sync_to_async(sessions)()
    soon = timezone.now() + datetime.timedelta(seconds=0.5)
    await Session.objects.all().aupdate(expire_date=soon)
    socket, _ = await connect(LOBBY, headers=headers)
    await assert_open(socket)

    output = await socket.receive_output(timeout=0.5 + WITHIN_SECONDS)

    assert output == {"type": "websocket.close", "code": CloseCode.UNAUTHENTICATED}


async def test_other_changes_to_the_user_leave_the_socket_open(connect, sessions, alice):
    _, headers = await sync_to_async(sessions)()
    socket, _ = await connect(LOBBY, headers=headers)

    alice.first_name = "Alice"
    await alice.asave()

    assert await socket.receive_nothing(timeout=0.3)  # the check ran, and passed
    await assert_open(socket)


async def test_push_to_user_reaches_every_socket_of_that_user_and_no_one_else(
    connect, sessions, alice, other_user
):
    _, headers = await sync_to_async(sessions)()
    mine = [(await connect(room, headers=headers))[0] for room in (LOBBY, "/ws/chat/b/")]
    theirs, _ = await connect(LOBBY, **other_user)
    event = {"type": "chat.message", "message": "for alice", "user": "server"}

    await sync_to_async(push_to_user)(alice.pk, event)

    for socket in mine:
        assert (await socket.receive_json_from(timeout=2))["message"] == "for alice"
    assert await theirs.receive_nothing(timeout=0.2)


def test_each_user_has_a_group_of_their_own():
    assert user_group(7) == "user.7"
    assert user_group(7) != user_group(8)


def test_the_session_store_keeps_the_expiry_date_of_its_row(sessions):
    """What a handshake learns its session's expiry from, without another query."""
    client, _ = sessions()
    store = SessionStore(client.cookies["sessionid"].value)

    store.load()

    assert store.expire_date == Session.objects.get(session_key=store.session_key).expire_date


async def test_another_session_engine_gets_its_expiry_from_the_database(sessions):
    """The fallback for a project that sets its own SESSION_ENGINE: the row is asked."""
    from django.contrib.sessions.backends.db import SessionStore as PlainStore

    client, _ = await sync_to_async(sessions)()
    plain = PlainStore(client.cookies["sessionid"].value)
    await sync_to_async(plain.load)()
    row = await Session.objects.aget(session_key=plain.session_key)

    assert await core_sessions.session_expiry(plain) == row.expire_date
    await row.adelete()
    assert await core_sessions.session_expiry(plain) is None
