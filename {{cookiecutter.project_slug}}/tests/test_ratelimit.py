"""Per-user limits (chat/ratelimit.py): the token bucket and the bounded registry."""

import time

from {{ cookiecutter.project_slug }}.chat.ratelimit import TokenBucket, UserLimits, user_key


def test_bucket_allows_the_burst_then_refuses():
    bucket = TokenBucket(rate=0.001, burst=3)

    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_at_its_rate(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    bucket = TokenBucket(rate=2, burst=1)
    assert bucket.take()
    assert not bucket.take()

    now[0] += 0.5

    assert bucket.take()


def test_the_same_key_gets_the_same_allowance():
    limits = UserLimits()

    assert limits.allowance("user:1", 10, 20) is limits.allowance("user:1", 10, 20)
    assert limits.allowance("user:2", 10, 20) is not limits.allowance("user:1", 10, 20)


def test_zero_rate_means_no_bucket():
    assert UserLimits().allowance("user:1", 0, 20).bucket is None


def test_the_registry_is_bounded_and_forgets_the_least_recently_seen():
    limits = UserLimits(max_tracked=100)
    first = limits.allowance("user:0", 10, 20)
    for number in range(1, 1000):
        limits.allowance(f"user:{number}", 10, 20)

    assert len(limits) == 100
    assert limits.allowance("user:0", 10, 20) is not first  # forgotten, made anew


def test_a_user_with_open_sockets_is_never_forgotten():
    limits = UserLimits(max_tracked=10)
    holder = limits.allowance("user:holder", 10, 20)
    holder.sockets = 1
    for number in range(500):
        limits.allowance(f"guest:{number}", 10, 20)

    assert len(limits) == 10
    assert limits.allowance("user:holder", 10, 20) is holder


def test_when_every_user_holds_sockets_the_registry_grows_with_them():
    """Sockets bound it then: a user cannot be forgotten while one is open."""
    limits = UserLimits(max_tracked=5)
    for number in range(8):
        limits.allowance(f"user:{number}", 10, 20).sockets = 1

    assert len(limits) == 8


class _User:
    def __init__(self, pk: int | None) -> None:
        self.pk = pk
        self.is_authenticated = pk is not None


def test_a_logged_in_user_is_the_account_wherever_they_connect_from():
    scope = {"user": _User(7), "client": ("203.0.113.9", 4000)}

    assert user_key(scope) == "user:7"
    assert user_key({**scope, "client": ("198.51.100.1", 5000)}) == "user:7"


def test_a_guest_is_the_client_address_whatever_the_port():
    scope = {"user": _User(None), "client": ("203.0.113.9", 4000)}

    assert user_key(scope) == "address:203.0.113.9"
    assert user_key({**scope, "client": ("203.0.113.9", 4001)}) == "address:203.0.113.9"
    assert user_key({"client": None}) == "address:unknown"
