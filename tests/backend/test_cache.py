"""Caching: the seeds' TTLs on a manual clock, event-driven invalidation, and the property that
no response is ever staler than the state it claims.

The property runs random worlds on a `Backend` (no HTTP, for speed: the routes call the same `ResponseCache`):
writes of every kind, premium grants, clock jumps across every TTL, and cached reads of thread views, wallets and
searches by random viewers, some right after a write (before the writer's listener has run, the race the cache
must survive) and some after it. Each cached answer must equal a fresh computation on the state at that moment,
and claim a journal position no later than the current one. The HTTP test checks the headers and the hit-ratio
report."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from choir_model import CHOIR, ChoirError
from choir_model.state import Privacy
from choir_model.steps import CreateThread, Fund, ProcessApproval, RequestPublic, SubmitMessage, SubmitSpec
from reference_backend.auth import dev_keypair
from reference_backend.cache import SEARCH, THREAD_STATE, USER_DATA, ResponseCache
from reference_backend.clock import ManualClock
from reference_backend.config import BackendConfig
from reference_backend.content import content_hash
from reference_backend.errors import ApiError
from reference_backend.service import Backend, PremiumCommand, RegisterCommand, StepCommand
from tests.backend.conftest import T0, World

USERS = ("ann", "bob", "cid")
THREADS = ("t0", "t1")
TEXTS = ("red apples grow", "green apples fall", "blue river runs", "red river bends", "apples and rivers")


class Rig:
    def __init__(self, root: Path) -> None:
        self.clock = ManualClock(T0)
        config = BackendConfig(data_dir=root / "data", manual_clock=T0, rate_limits={}, check="off")
        self.backend = Backend(config, clock=self.clock).start()
        self.cache = ResponseCache(self.backend)
        for name in USERS:
            self.backend.execute(RegisterCommand(name, str(dev_keypair(name).pubkey())))

    def step(self, step: object, content: str | None = None) -> None:
        with contextlib.suppress(ChoirError, ApiError):
            self.backend.execute(StepCommand(step, content))  # type: ignore[arg-type]

    def reset(self) -> None:
        self.backend.reset().result(10)
        for name in USERS:
            self.backend.execute(PremiumCommand(name, False))


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    running = Rig(tmp_path_factory.mktemp("cache"))
    yield running
    running.backend.close()


user, thread, text = st.sampled_from(USERS), st.sampled_from(THREADS), st.sampled_from(TEXTS)
action = st.one_of(
    st.tuples(st.just("fund"), user),
    st.tuples(st.just("create"), user, thread),
    st.tuples(st.just("message"), user, thread, text, st.sampled_from(list(Privacy))),
    st.tuples(st.just("spec"), user, thread, text),
    st.tuples(st.just("public"), user, thread, text),
    st.tuples(st.just("vote"), user, thread, text, st.booleans()),
    st.tuples(st.just("premium"), user, st.booleans()),
    st.tuples(st.just("tick"), st.sampled_from((1, 299, 301, 3599, 3601, 86_401))),
    st.tuples(st.just("settle")),
    st.tuples(st.just("read_thread"), user, thread),
    st.tuples(st.just("read_wallet"), user),
    st.tuples(st.just("search"), user, st.sampled_from(("apples", "river")), st.sampled_from((None, "t0"))),
    st.tuples(st.just("search"), user, st.sampled_from(("apples", "river")), st.sampled_from((None, "t0"))),
)


def fresh_view(backend: Backend, viewer: str, thread_id: str) -> object:
    try:
        return backend.thread_view(viewer, thread_id)
    except ApiError as error:
        return error.code


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(  # a new message must reach a cached search inside its thread (NewMessage invalidation)
    [
        ("search", "ann", "apples", "t0"),
        ("message", "ann", "t0", TEXTS[0], Privacy.PUBLIC),
        ("search", "ann", "apples", "t0"),
    ]
)
@example(  # a new message in another thread moves a thread-scoped search's BM25 scores (collection-wide IDF)
    [
        ("message", "ann", "t0", TEXTS[0], Privacy.PUBLIC),
        ("search", "ann", "apples", "t0"),
        ("message", "bob", "t1", TEXTS[0] + " again", Privacy.PUBLIC),
        ("search", "ann", "apples", "t0"),
    ]
)
@given(actions=st.lists(action, min_size=10, max_size=60))
def test_no_response_is_staler_than_the_state_it_claims(rig: Rig, actions: list[tuple]) -> None:
    rig.reset()
    backend, cache, clock = rig.backend, rig.cache, rig.clock
    for name in USERS:
        rig.step(Fund(name, 0, 100 * CHOIR, ("treasury1", "treasury2")))
    rig.step(CreateThread("ann", 0, "t0", 2 * CHOIR))
    rig.step(CreateThread("bob", 0, "t1", 2 * CHOIR))
    for act in actions:
        kind = act[0]
        if kind == "fund":
            rig.step(Fund(act[1], 0, 100 * CHOIR, ("treasury1", "treasury2")))
        elif kind == "create":
            rig.step(CreateThread(act[1], 0, act[2], 2 * CHOIR))
        elif kind == "message":
            rig.step(SubmitMessage(act[1], 0, act[2], content_hash(act[3]), act[4]), act[3])
        elif kind == "spec":
            rig.step(SubmitSpec(act[1], 0, act[2], content_hash(act[3]), CHOIR, Privacy.PUBLIC), act[3])
        elif kind == "public":
            rig.step(RequestPublic(act[1], 0, act[2], content_hash(act[3])))
        elif kind == "vote":
            rig.step(ProcessApproval(act[1], 0, act[2], content_hash(act[3]), act[4]))
        elif kind == "premium":
            backend.execute(PremiumCommand(act[1], act[2]))
        elif kind == "tick":
            clock.advance(act[1])
        elif kind == "settle":
            assert cache.wait_applied(backend.journal_seq)
        elif kind == "read_thread":
            key, tags = cache.thread_key(act[1], act[2])
            try:
                got = cache.get(THREAD_STATE, key, tags, lambda a=act: backend.thread_view(a[1], a[2]))
            except ApiError as error:
                assert error.code == fresh_view(backend, act[1], act[2])
                continue
            assert got.as_of <= backend.journal_seq
            assert got.value == fresh_view(backend, act[1], act[2]), "a cached thread view is staler than it claims"
        elif kind == "read_wallet":
            key, tags = cache.wallet_key(act[1])
            got = cache.get(USER_DATA, key, tags, lambda a=act: backend.wallet(a[1]))
            assert got.as_of <= backend.journal_seq
            assert got.value == backend.wallet(act[1]), "a cached wallet is staler than it claims"
        elif kind == "search":
            assert backend.wait_indexed(backend.journal_seq, 10)
            got = asyncio.run(cache.search(act[1], act[2], 10, act[3]))
            assert got.as_of <= backend.journal_seq
            fresh = backend.search(act[1], act[2], 10, act[3])
            assert got.value.results == fresh.results, "cached search results are staler than they claim"


def test_ttls_and_invalidation_on_the_manual_clock(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    try:
        backend, cache, clock = rig.backend, rig.cache, rig.clock
        rig.step(Fund("ann", 0, 100 * CHOIR, ("treasury1", "treasury2")))
        rig.step(CreateThread("ann", 0, "t0", 2 * CHOIR))
        assert cache.wait_applied(backend.journal_seq)

        def view() -> bool:
            key, tags = cache.thread_key("bob", "t0")
            return cache.get(THREAD_STATE, key, tags, lambda: backend.thread_view("bob", "t0")).hit

        def wallet() -> bool:
            key, tags = cache.wallet_key("ann")
            return cache.get(USER_DATA, key, tags, lambda: backend.wallet("ann")).hit

        assert (view(), view(), wallet(), wallet()) == (False, True, False, True)
        clock.advance(5 * 60)  # thread state lives 5 minutes, user data 24 hours
        assert (view(), wallet()) == (False, True)
        rig.step(SubmitMessage("ann", 0, "t0", content_hash("hello there"), Privacy.PUBLIC), "hello there")
        assert cache.wait_applied(backend.journal_seq)
        assert view() is False  # a message invalidates the thread
        assert (view(), wallet(), wallet()) == (True, False, True)  # ...and its author's user data, conservatively
        rig.step(Fund("bob", 0, CHOIR, ("treasury1", "treasury2")))
        assert cache.wait_applied(backend.journal_seq)
        assert (view(), wallet()) == (True, True)  # bob's funding touches neither the thread nor ann
        rig.step(Fund("ann", 0, CHOIR, ("treasury1", "treasury2")))
        assert cache.wait_applied(backend.journal_seq)
        assert (view(), wallet()) == (True, False)
        clock.advance(24 * 60 * 60)
        assert wallet() is False
        assert backend.wait_indexed(backend.journal_seq, 10)
        search = [asyncio.run(cache.search("bob", "hello", 5)).hit for _ in range(2)]
        assert search == [False, True]
        clock.advance(60 * 60)
        assert asyncio.run(cache.search("bob", "hello", 5)).hit is False
        report = cache.report()
        assert report.hits[THREAD_STATE] >= 2 and report.hits[SEARCH] == 1 and report.expired >= 3
        assert 0 < report.hit_ratio < 1
    finally:
        rig.backend.close()


def test_http_reports_cache_headers_and_hit_ratio(world: World) -> None:
    world.fund("ann")
    ann = world.client("ann")
    ann.create_thread("t1", 2 * CHOIR)
    admin = world.client("treasury1")
    assert world.backend.wait_indexed(world.backend.journal_seq, 10)
    first = ann.send("GET", "/v1/thread/t1")
    assert first.headers["x-choir-cache"] in ("miss", "hit")
    again = ann.send("GET", "/v1/thread/t1")
    assert again.json()["data"] == first.json()["data"]
    assert int(again.headers["x-choir-as-of"]) <= world.backend.journal_seq
    written = ann.submit_message("t1", "a brand new message")
    after = ann.send("GET", "/v1/thread/t1")
    assert after.headers["x-choir-cache"] == "miss"  # read-your-writes: the ack came before the listener, or after
    assert written.content_hash in after.json()["data"]["content_hashes"]
    report = admin.call("GET", "/v1/admin/cache")
    assert report["misses"]["thread_state"] >= 2 and "hit_ratio" in report
