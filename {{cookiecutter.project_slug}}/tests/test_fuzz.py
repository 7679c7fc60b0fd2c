"""Fuzzing the websocket handshake (hypothesis): whatever the path, Origin and cookie,
the ASGI application answers (accepts or refuses) and never fails, and no foreign Origin
is ever let in.
"""

from urllib.parse import urlsplit

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from hypothesis import given
from hypothesis import strategies as st

from config.asgi import application

from .support import ORIGIN, fuzz_settings

pytestmark = pytest.mark.django_db(transaction=True)

# Paths as a server hands them over. ("//..." is left out: the test communicator parses
# it as a host name, which no server does with a request path.)
paths = st.one_of(
    st.text(max_size=80).map(lambda text: "/" + text),
    st.text(max_size=80).map(lambda text: "/ws/chat/" + text + "/"),
    st.sampled_from(["/ws/chat/lobby/", "/ws/", "/", "/ws/chat/../admin/"]),
).filter(lambda path: not path.startswith("//"))
# Header values as servers hand them over: bytes, Latin-1 at most.
header_values = st.binary(max_size=120).filter(lambda value: b"\r" not in value)
origins = st.one_of(
    st.none(),
    st.just(ORIGIN[1]),
    st.sampled_from([b"null", b"http://evil.example", b"http://testserver.evil", b""]),
    header_values,
)


@fuzz_settings()
@given(path=paths, origin=origins, cookie=st.one_of(st.none(), header_values))
def test_any_handshake_is_answered_and_only_our_origin_gets_in(path, origin, cookie):
    headers = [] if origin is None else [(b"origin", origin)]
    if cookie is not None:
        headers.append((b"cookie", cookie))

    async def handshake() -> bool:
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    connected = async_to_sync(handshake)()

    if connected:  # test settings compare host names only, as local development does
        assert origin is not None
        assert urlsplit(origin.decode("latin-1")).hostname == "testserver"
