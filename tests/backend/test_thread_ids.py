"""Every thread id the model accepts is reachable over REST and through `ChoirClient`, and names exactly its own
thread (`reference_backend.thread_path`): the thread `x/stake` is not the stake quote of thread `x`, `..` is not
the parent route, and a newline, `%`, `?`, `#`, spaces or non-ASCII text reach the thread that holds them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from choir_model import CHOIR
from reference_backend.client import ChoirApiError
from reference_backend.thread_path import thread_segment
from tests.backend.conftest import World

HOSTILE = [
    "x", "x/stake", "x/chorus", "x/", "/x", "/", "//", "\n", "a\r\nb", "\t", ".", "..", "./..", "%", "%2F", "%2E%2E",
    "?", "#", "a?b=c#d", "+", " ", "a b", "\\", "é", "日本語", "🎵", "x" * 32, "é" * 16, "\x00", "\x7f",
]  # fmt: skip


def read_back(world: World, thread_id: str) -> None:
    alice = world.client("alice")
    view = alice.thread(thread_id)
    assert view.thread_id == thread_id and view.co_authors == ["alice"], (thread_id, view)
    assert alice.stake_quote(thread_id).thread_id == thread_id
    answer = alice.call("POST", f"/v1/thread/{thread_segment(thread_id)}/chorus", {"prompt": "anything"})
    assert answer["thread_id"] == thread_id


def test_every_hostile_thread_id_reaches_its_own_thread(world: World) -> None:
    world.fund("alice", 10_000 * CHOIR)
    alice = world.client("alice")
    for thread_id in HOSTILE:
        alice.create_thread(thread_id, CHOIR + len(thread_id))
    for thread_id in HOSTILE:
        read_back(world, thread_id)
        assert alice.thread(thread_id).message_count == 0
    alice.submit_message("x/stake", "only in x/stake")
    assert alice.thread("x/stake").message_count == 1 and alice.thread("x").message_count == 0


def test_an_unknown_hostile_id_is_unknown_thread_and_undecodable_bytes_are_a_validation_error(world: World) -> None:
    world.fund("alice")
    alice = world.client("alice")
    alice.create_thread("x", 2 * CHOIR)
    for missing in ("x/stake/stake", "x/", "..", "%"):
        with pytest.raises(ChoirApiError) as refused:
            alice.thread(missing)
        assert (refused.value.status, refused.value.code) == (404, "UnknownThread"), missing
    for raw in ("%FF", "%C3", "x%ED%A0%80"):  # not UTF-8; the last a UTF-8-encoded surrogate
        path = f"/v1/thread/{raw}"
        answer = world.send("GET", path, *world.signed("alice", "GET", path))
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "ValidationError", answer.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(thread_id=st.text(min_size=1, max_size=32).filter(lambda t: len(t.encode("utf-8")) <= 32))
def test_any_id_the_model_accepts_round_trips_over_rest(world: World, thread_id: str) -> None:
    """Hypothesis's text strategy draws every Unicode category but lone surrogates (which the model refuses)."""
    alice = world.client("alice")
    if alice.wallet().balance < 2 * CHOIR:
        world.fund("alice", 1000 * CHOIR)
    try:
        alice.create_thread(thread_id, CHOIR)
    except ChoirApiError as error:  # drawn before by this test: the same world serves every example
        assert error.code == "ThreadExists", error
    read_back(world, thread_id)
