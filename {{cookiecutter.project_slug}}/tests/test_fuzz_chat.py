"""Fuzzing the chat protocol (hypothesis) through the real ASGI application: arbitrary
text and binary frames, invalid Unicode, control and format characters, huge nesting.
Whatever a member sends, that member's socket stays open and answers every frame (an
event or an error), the other member of the room sees only valid chat messages, and
nothing is logged as an error.
"""

import json
import logging

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


async def events(socket: WebsocketCommunicator) -> list[dict]:
    """What the socket sent until it went quiet; fails if it was closed."""
    received = []
    while not await socket.receive_nothing(timeout=0.05):
        output = await socket.receive_output()
        assert output["type"] == "websocket.send", output
        received.append(json.loads(output["text"]))
    return received


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
        await sender.send_json_to({"type": "ping"})  # still answering after all that?
        answers = await events(sender)
        await bystander.send_json_to({"type": "ping"})
        seen = await events(bystander)
        await sender.disconnect()
        await bystander.disconnect()
        return answers, seen

    answers, seen = async_to_sync(scenario)()

    assert {"type": "pong"} in answers
    assert {event["type"] for event in answers} <= {"error", "chat.message", "pong"}
    assert {"type": "pong"} in seen
    for event in seen:
        assert event["type"] in ("chat.message", "pong")
        if event["type"] == "chat.message":
            assert text_problem(event["message"]) is None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
