"""Sessions end, sockets end: a websocket opened with a session closes when that session
ends (logout, deleted or expired session) or its user is deactivated, deleted or changes
password, on every server process the channel layer reaches.

Every socket of a logged-in user joins the group ``user.<pk>`` (user_group()). It is also
the way to push anything to one user, wherever their sockets are:

    from {{ cookiecutter.project_slug }}.core.sessions import push_to_user

    push_to_user(user.pk, {"type": "chat.message", "message": "Build done", "user": "ci"})

The signal receivers below send two events to that group:

* ``session.ended`` with a session key: the socket opened with that session closes;
* ``session.check``: each socket loads its session again and closes if it no longer logs
  its user in (Django's own rule: session present and unexpired, user active, password
  hash unchanged).

A socket also checks again when its session's expiry date comes. The project's session
engine is this module (SESSION_ENGINE): Django's database sessions, which here remember the
expiry date of the row they loaded, so a handshake costs no query for it.
"""

import asyncio
import datetime
import logging
from importlib import import_module
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import SESSION_KEY, user_logged_out
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

logger = logging.getLogger(__name__)

# A check waits this long, so that the request that changed the user has finished: a
# password change keeps its own session valid by saving the new hash into it afterwards.
CHECK_DELAY_SECONDS = 0.5


def user_group(user_pk: Any) -> str:
    """The channel-layer group every socket of this user belongs to."""
    return f"user.{user_pk}"


def push_to_user(user_pk: Any, event: dict[str, Any]) -> None:
    """Send `event` to every socket of one user, from synchronous code. At most once, like
    every group send; with the in-memory layer only sockets of this process get it.
    """
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(user_group(user_pk), event)


def _after_commit(user_pk: Any, event: dict[str, Any]) -> None:
    # After the transaction: a socket that checks must see the change.
    transaction.on_commit(lambda: _push_quietly(user_pk, event))


def _push_quietly(user_pk: Any, event: dict[str, Any]) -> None:
    """A signal must not fail the request that sent it: an unreachable channel layer is
    logged, and the sockets still close at their session's expiry.
    """
    try:
        push_to_user(user_pk, event)
    except Exception:
        logger.exception("Could not tell the sockets of user %s of a session change", user_pk)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and request is not None and request.session.session_key:
        event = {"type": "session.ended", "session_key": request.session.session_key}
        _push_quietly(user.pk, event)


@receiver(post_delete, sender=Session)
def _session_deleted(sender: Any, instance: Session, **kwargs: Any) -> None:
    user_pk = instance.get_decoded().get(SESSION_KEY)
    if user_pk is not None:
        _after_commit(user_pk, {"type": "session.ended", "session_key": instance.session_key})


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _user_saved(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every login saves this; it ends no session
    _after_commit(instance.pk, {"type": "session.check"})


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def _user_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    _after_commit(instance.pk, {"type": "session.check"})


class SessionStore(DatabaseSessionStore):
    """Django's database session store, keeping the expiry date of the row it loaded."""

    expire_date: datetime.datetime | None = None

    def _get_session_from_db(self) -> Session | None:
        # Django's own (private) loader, which django-stubs leaves out.
        session = super()._get_session_from_db()  # type: ignore[misc]
        self.expire_date = session.expire_date if session is not None else None
        return session


def _session_store(session_key: str | None) -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


async def session_expiry(session: Any) -> datetime.datetime | None:
    """When the loaded `session` expires (None: it does not exist any more). With this
    module's store the date came with the session; another engine's is asked (database
    engines) or estimated as now plus the session's age (cache and cookie stores do not
    say when they were last saved).
    """
    expire_date = getattr(session, "expire_date", None)
    if expire_date is not None:
        return expire_date
    return await _stored_expiry(session.session_key)


@database_sync_to_async
def _stored_expiry(session_key: str) -> datetime.datetime | None:
    store = _session_store(session_key)
    model = getattr(store, "model", None)
    if model is not None:
        row = model.objects.filter(session_key=session_key).values("expire_date").first()
        return row["expire_date"] if row else None
    return timezone.now() + datetime.timedelta(seconds=store.get_expiry_age())


class SessionBoundMixin:
    """For consumers of logged-in users (core.websocket.SocketConsumer subclasses): call
    bind_to_session() in connect() and unbind_from_session() in disconnect();
    on_session_end() is called when the session no longer logs the user in.
    """

    scope: dict[str, Any]
    if TYPE_CHECKING:  # provided by SocketConsumer

        async def join(self, group: str) -> None: ...
        async def leave(self, group: str) -> None: ...

    _session_timer: asyncio.TimerHandle | None = None
    _expiry_check: asyncio.Task[None] | None = None
    _bound = False

    async def bind_to_session(self) -> None:
        await self.join(user_group(self.scope["user"].pk))
        self._bound = True
        await self._schedule_expiry_check()

    async def unbind_from_session(self) -> None:
        if self._session_timer is not None:
            self._session_timer.cancel()
            self._session_timer = None
        if self._bound:
            self._bound = False
            await self.leave(user_group(self.scope["user"].pk))

    async def on_session_end(self) -> None:
        raise NotImplementedError

    # Channel-layer event handlers ("session.ended", "session.check").

    async def session_ended(self, event: dict[str, Any]) -> None:
        if event["session_key"] == self.scope["session"].session_key:
            await self.on_session_end()

    async def session_check(self, event: dict[str, Any]) -> None:
        await asyncio.sleep(CHECK_DELAY_SECONDS)
        if not await self.session_is_valid():
            await self.on_session_end()

    async def session_is_valid(self) -> bool:
        return (await self._fresh_session_if_valid()) is not None

    async def _fresh_session_if_valid(self) -> Any:
        """The socket's session loaded afresh, if it still logs its user in, else None."""
        fresh = _session_store(self.scope["session"].session_key)
        user = await get_user({"session": fresh})
        valid = user.is_authenticated and user.pk == self.scope["user"].pk
        return fresh if valid else None

    async def _schedule_expiry_check(self, session: Any = None) -> None:
        expires = await session_expiry(self.scope["session"] if session is None else session)
        delay = 0.0 if expires is None else (expires - timezone.now()).total_seconds()
        # A little after the date (the store compares with its own clock), and no further
        # than a week ahead: then look again.
        delay = min(max(delay, 0.0) + 0.1, 7 * 24 * 3600.0)
        loop = asyncio.get_running_loop()
        self._session_timer = loop.call_later(delay, self._expiry_due)

    def _expiry_due(self) -> None:
        self._session_timer = None
        self._expiry_check = asyncio.ensure_future(self._check_expired())

    async def _check_expired(self) -> None:
        if not self._bound:
            return
        fresh = await self._fresh_session_if_valid()
        if fresh is not None:
            await self._schedule_expiry_check(fresh)  # renewed meanwhile
        else:
            await self.on_session_end()
