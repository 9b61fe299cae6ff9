"""Rate limits per user and route (seeds: create_thread 10/hour, submit_message 60/hour, search 100/hour), 429 with
Retry-After, driven by the manual clock; and the client's backoff (1 s, 5 s, 30 s, then fail) without sleeping."""

from __future__ import annotations

import httpx
import pytest

from choir_model import CHOIR
from reference_backend.auth import dev_keypair
from reference_backend.client import ChoirApiError, ChoirClient
from reference_backend.config import SEED_RATE_LIMITS, RateLimit, parse_rate_limit
from reference_backend.ratelimit import RateLimiter
from tests.backend.conftest import T0, World


def test_sliding_window_admits_at_most_count_in_any_window() -> None:
    limiter = RateLimiter({"search": RateLimit(3, 100)})
    assert [limiter.admit("u", "search", t) for t in (0, 10, 20)] == [None, None, None]
    assert limiter.admit("u", "search", 30) == 70  # the request at t=0 leaves the window at t=100
    assert limiter.admit("u", "search", 99) == 1
    assert limiter.admit("u", "search", 100) is None
    assert limiter.admit("u", "search", 101) == 9  # refusals are not recorded; t=10 leaves at 110
    assert limiter.admit("v", "search", 101) is None  # per user
    assert limiter.admit("u", "wallet", 101) is None  # per route; unlimited routes always pass
    # a fixed window would have let six through around a boundary; the sliding one never more than three
    burst = RateLimiter({"r": RateLimit(3, 100)})
    admitted = sum(burst.admit("u", "r", t) is None for t in (97, 98, 99, 100, 101, 102))
    assert admitted == 3


def test_rate_limit_parsing() -> None:
    assert parse_rate_limit("search=5") == ("search", RateLimit(5, 3600))
    assert parse_rate_limit("create_thread=2/60") == ("create_thread", RateLimit(2, 60))
    for bad in ("nope=1", "search", "search=0", "search=x"):
        with pytest.raises(ValueError):
            parse_rate_limit(bad)


def test_seed_limits_over_http(make_world) -> None:
    world: World = make_world(rate_limits=dict(SEED_RATE_LIMITS))
    world.fund("alice", 100_000 * CHOIR)
    alice = world.client("alice")
    for n in range(10):
        alice.create_thread(f"t{n}", CHOIR)
        world.clock.advance(60)
    with pytest.raises(ChoirApiError) as info:
        alice.create_thread("t10", CHOIR)
    assert (info.value.status, info.value.code) == (429, "RateLimited")
    assert info.value.retry_after == 3600 - 10 * 60  # the first of the ten leaves the window then
    assert info.value.attempts == 4 and world.sleeps == [1.0, 5.0, 30.0]  # the seeds' backoff, no real sleep
    assert world.backend.snapshot()["threads"].keys() == {f"t{n}" for n in range(10)}
    # A raw request shows the header; other users and other routes are unaffected.
    content, headers = world.signed("alice", "POST", "/v1/thread/create", {"thread_id": "t10", "deposit": CHOIR})
    response = world.send("POST", "/v1/thread/create", content, headers)
    assert response.status_code == 429 and response.headers["retry-after"] == str(3600 - 10 * 60)
    assert response.json()["error"]["retry_after"] == 3600 - 10 * 60
    world.fund("bob")
    world.client("bob").create_thread("b1", CHOIR)
    for n in range(60):
        alice.submit_message("t0", f"message {n}")
    with pytest.raises(ChoirApiError) as info:
        alice.submit_message("t0", "one too many")
    assert info.value.status == 429
    world.clock.advance(3600 - 10 * 60)
    alice.create_thread("t10", CHOIR)  # the window moved on


def test_search_limit_counts_every_search(make_world) -> None:
    world: World = make_world(rate_limits={"search": RateLimit(100)})
    carol = world.client("carol")
    for _ in range(100):
        carol.search("anything")
    with pytest.raises(ChoirApiError) as info:
        carol.search("anything")
    assert info.value.status == 429 and info.value.retry_after == 3600
    world.clock.advance(3600)
    assert carol.search("anything").count == 0


def test_client_retries_with_fresh_signatures_until_the_limit_clears(make_world) -> None:
    """The first retry after 1 s succeeds when the window has moved: the retried request is signed afresh (a
    resent signature would be a replay)."""
    world: World = make_world(rate_limits={"create_thread": RateLimit(1, 1)})
    world.fund("alice")
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        world.clock.advance(int(seconds))

    alice = ChoirClient(world.url, "alice", dev_keypair("alice"), clock=world.clock.now, sleep=sleep)
    alice.create_thread("t1", CHOIR)
    assert alice.create_thread("t2", CHOIR).thread_id == "t2"
    assert waits == [1.0]
    alice.close()


def test_client_gives_up_on_connection_errors_after_the_backoff() -> None:
    waits: list[float] = []
    client = ChoirClient("http://127.0.0.1:9", "alice", dev_keypair("alice"), clock=lambda: T0, sleep=waits.append)
    with pytest.raises(httpx.ConnectError):
        client.wallet()
    assert waits == [1.0, 5.0, 30.0]
    client.close()


def test_the_chorus_loop_counts_against_the_search_limit(make_world) -> None:
    world: World = make_world(rate_limits={"search": RateLimit(3)})
    world.fund("alice")
    alice = world.client("alice")
    alice.create_thread("t1", CHOIR)
    alice.submit_message("t1", "a note about rivers")
    alice.search("rivers")
    for _ in range(2):
        alice.call("POST", "/v1/thread/t1/chorus", {"prompt": "rivers"})
    for call in (lambda: alice.call("POST", "/v1/thread/t1/chorus", {"prompt": "rivers"}), lambda: alice.search("x")):
        with pytest.raises(ChoirApiError) as info:
            call()
        assert (info.value.status, info.value.code) == (429, "RateLimited")
