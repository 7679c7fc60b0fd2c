"""Server push from synchronous code: broadcast() and `manage.py broadcast`."""

import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command

from {{ cookiecutter.project_slug }}.chat.broadcast import broadcast

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def join(connect):
    async def _join(room: str):
        communicator, connected = await connect(f"/ws/chat/{room}/")
        assert connected
        return communicator

    return _join


async def test_broadcast_reaches_every_member_of_the_room(join):
    alice, bob = await join("news"), await join("news")

    await sync_to_async(broadcast)("news", "deploy finished")

    for member in (alice, bob):
        event = await member.receive_json_from(timeout=2)
        assert event == {
            "type": "chat.message",
            "message": "deploy finished",
            "user": "server",
            "room": "news",
        }


async def test_broadcast_stays_in_its_room(join):
    other = await join("other")

    await sync_to_async(broadcast)("news", "not for you")

    assert await other.receive_nothing(timeout=0.2)


def test_broadcast_refuses_an_invalid_room():
    with pytest.raises(ValueError, match="Invalid room name"):
        broadcast("no spaces", "hi")


@pytest.mark.parametrize("text", ["\ud800", "a\x00b", "\u200b", "\u202eopen"])
def test_broadcast_refuses_text_no_client_may_send(text):
    with pytest.raises(ValueError, match="Invalid message"):
        broadcast("lobby", text)


def test_broadcast_command_refuses_invalid_text():
    with pytest.raises(CommandError, match="visible character"):
        call_command("broadcast", "ops", "\u200b")


async def test_broadcast_command_reaches_the_room(join, capsys):
    alice = await join("ops")

    await sync_to_async(call_command)("broadcast", "ops", "maintenance at noon")

    event = await alice.receive_json_from(timeout=2)
    assert event["message"] == "maintenance at noon"
    assert "Sent to room ops." in capsys.readouterr().out


def test_broadcast_command_warns_about_the_in_memory_layer(capsys):
    call_command("broadcast", "ops", "hello")

    assert "in-memory channel layer reaches only this process" in capsys.readouterr().err


def test_broadcast_command_refuses_an_invalid_room():
    with pytest.raises(CommandError, match="Invalid room name"):
        call_command("broadcast", "../etc", "hi")
