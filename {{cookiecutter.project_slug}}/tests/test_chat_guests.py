"""With authentication off, anyone may chat under a guest name."""

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_anyone_may_chat_under_a_guest_name(connect):
    guest, connected = await connect("/ws/chat/lobby/")
    assert connected

    await guest.send_json_to({"type": "chat.message", "message": "hi"})

    event = await guest.receive_json_from(timeout=2)
    assert event["user"].startswith("guest-")


async def test_each_connection_gets_its_own_guest_name(connect):
    first, _ = await connect("/ws/chat/lobby/")
    second, _ = await connect("/ws/chat/lobby/")
    names = set()

    for sender in (first, second):
        await sender.send_json_to({"type": "chat.message", "message": "hi"})
        names.add((await sender.receive_json_from(timeout=2))["user"])
        await (second if sender is first else first).receive_from(timeout=2)

    assert len(names) == 2


def test_chat_page_is_open_to_everyone(client):
    response = client.get("/chat/lobby/")

    assert response.status_code == 200
