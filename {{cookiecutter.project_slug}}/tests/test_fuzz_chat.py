"""Fuzzing the chat protocol (hypothesis) through the real ASGI application: arbitrary
text and binary frames, invalid Unicode, control and format characters, huge nesting.
Whatever a member sends, that member's socket stays open and answers every frame (an
event or an error), the other member of the room sees only valid chat messages, and
nothing is logged as an error.
"""

import json
import logging
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.project_slug }}.chat.protocol import text_problem

from config.asgi import application

from .support import fuzz_settings

pytestmark = pytest.mark.django_db(transaction=True)

# Every kind of code point, lone surrogates (Cs) and format characters (Cf) included.
any_text = st.text(st.characters(codec=None, categories=None), max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=10,
)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["chat.message", "ping", "pong", "error", ""]) | json_values,
        "message": any_text | json_values,
    },
)
frames = st.one_of(
    st.binary(max_size=64),
    any_text,
    st.builds(json.dumps, payloads, ensure_ascii=st.booleans()),
    st.integers(1, 50_000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 50_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)


async def events_until(socket: WebsocketCommunicator, marker: str) -> list[dict]:
    """Every event the socket sends up to the chat message `marker`; fails if it closes."""
    received: list[dict] = []
    while True:
        output = await socket.receive_output(timeout=5)
        assert output["type"] == "websocket.send", output
        event = json.loads(output["text"])
        if event.get("message") == marker:
            return received
        received.append(event)


@fuzz_settings()
@given(sent=st.lists(frames, min_size=1, max_size=5))
def test_no_frame_closes_a_socket_or_reaches_the_room_unchecked(ws_headers, settings, caplog, sent):
    settings.WS_RATE_PER_SECOND = 0  # five frames an example, hundreds an example run
    caplog.clear()

    async def scenario() -> tuple[list[dict], list[dict]]:
        sender = WebsocketCommunicator(application, "/ws/chat/fuzz/", headers=ws_headers)
        bystander = WebsocketCommunicator(application, "/ws/chat/fuzz/", headers=ws_headers)
        assert (await sender.connect())[0]
        assert (await bystander.connect())[0]
        for frame in sent:
            key = "bytes" if isinstance(frame, bytes) else "text"
            await sender.send_input({"type": "websocket.receive", key: frame})
        # Still a member after all that? The consumer handles frames in order and the room
        # delivers in order: when the marker arrives, everything before it has too.
        marker = f"marker {uuid.uuid4()}"
        await sender.send_json_to({"type": "chat.message", "message": marker})
        answers = await events_until(sender, marker)
        seen = await events_until(bystander, marker)
        await sender.disconnect()
        await bystander.disconnect()
        return answers, seen

    answers, seen = async_to_sync(scenario)()

    assert {event["type"] for event in answers} <= {"error", "chat.message", "pong"}
    for event in seen:
        assert event["type"] == "chat.message"
        assert text_problem(event["message"]) is None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
