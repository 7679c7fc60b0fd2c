"""Limits per user, not per socket: a token bucket for the frames a user sends and a count
of the sockets a user holds, shared by all of that user's sockets in this server process.

A user is the account for logged-in users and the client address for guests (behind the
project's proxy, the address the server took from the proxy's forwarded header: see
docs/deploy.md). Reconnecting does not refill the bucket: the record outlives its sockets.
Records are kept in least-recently-used order and the oldest without an open socket is
dropped past MAX_TRACKED_USERS, so a crowd of passing users cannot grow the process.
"""

import time
from collections import OrderedDict
from typing import Any

# Users remembered per process (each record is a few hundred bytes).
MAX_TRACKED_USERS = 10_000


class TokenBucket:
    """Allows `rate` frames per second on average and bursts of up to `burst` frames."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one; False means the frame is over the limit."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Allowance:
    """What one user may still do in this process: its bucket (None: no rate limit) and
    the number of sockets it holds open.
    """

    __slots__ = ("bucket", "sockets")

    def __init__(self, bucket: TokenBucket | None) -> None:
        self.bucket = bucket
        self.sockets = 0


class UserLimits:
    """The allowances of the users this process has seen lately, by user key."""

    def __init__(self, max_tracked: int = MAX_TRACKED_USERS) -> None:
        self.max_tracked = max_tracked
        self._allowances: OrderedDict[str, Allowance] = OrderedDict()

    def __len__(self) -> int:
        return len(self._allowances)

    def allowance(self, key: str, rate: float, burst: int) -> Allowance:
        """The allowance of `key`, made with `rate` and `burst` when it is new."""
        allowance = self._allowances.get(key)
        if allowance is None:
            self._make_room()
            allowance = Allowance(TokenBucket(rate, burst) if rate > 0 else None)
            self._allowances[key] = allowance
        else:
            self._allowances.move_to_end(key)
        return allowance

    def _make_room(self) -> None:
        """Forget the least recently seen users until one more fits. Users with open
        sockets are kept (their sockets bound their number) and moved to the recent end,
        so one pass looks at each record at most once.
        """
        for _ in range(len(self._allowances)):
            if len(self._allowances) < self.max_tracked:
                return
            key, allowance = next(iter(self._allowances.items()))
            if allowance.sockets:
                self._allowances.move_to_end(key)
            else:
                del self._allowances[key]

    def clear(self) -> None:
        self._allowances.clear()


def user_key(scope: dict[str, Any]) -> str:
    """Whose limits a connection counts against: the account, or the guest's address."""
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    client = scope.get("client")
    return f"address:{client[0] if client else 'unknown'}"


# The process's limits: every consumer of this process shares them.
limits = UserLimits()
