"""The published read state (`reference_backend.readstate`): readers see only committed states, a published state
never changes afterwards (copy-on-write in the writer), and a read does not wait for a commit's disk write."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from choir_model import CHOIR
from choir_model.state import Privacy
from choir_model.steps import (
    CreateThread,
    Divest,
    Expire,
    Fund,
    ProcessApproval,
    RequestPublic,
    Step,
    SubmitMessage,
    SubmitSpec,
)
from reference_backend.auth import dev_keypair
from reference_backend.clock import ManualClock
from reference_backend.config import BackendConfig
from reference_backend.content import content_hash
from reference_backend.readstate import ReadState
from reference_backend.service import Backend, RegisterCommand, StepCommand
from tests.backend.conftest import T0

USERS = ("ann", "bob", "cid")
THREADS = ("t0", "t1")
TEXTS = ("red apples", "green apples", "blue river")
TREASURY = ("treasury1", "treasury2")


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    config = BackendConfig(data_dir=tmp_path_factory.mktemp("readstate"), manual_clock=T0, rate_limits={}, check="off")
    running = Backend(config, clock=ManualClock(T0)).start()
    for name in USERS:
        running.execute(RegisterCommand(name, str(dev_keypair(name).pubkey())))
    yield running
    running.close()


def rendered(read: ReadState) -> tuple[int, dict[str, Any], dict[str, frozenset[str]]]:
    return read.seq, read.model.snapshot(), dict(read.threads_of)


user, thread, text = st.sampled_from(USERS), st.sampled_from(THREADS), st.sampled_from(TEXTS)
steps = st.one_of(
    st.builds(lambda u: Fund(u, 0, 50 * CHOIR, TREASURY), user),
    st.builds(lambda u, t: CreateThread(u, 0, t, 2 * CHOIR), user, thread),
    st.builds(
        lambda u, t, x, p: SubmitMessage(u, 0, t, content_hash(x), p),
        user,
        thread,
        text,
        st.sampled_from(list(Privacy)),
    ),
    st.builds(lambda u, t, x: SubmitSpec(u, 0, t, content_hash(x + " spec"), CHOIR), user, thread, text),
    st.builds(lambda u, t, x: RequestPublic(u, 0, t, content_hash(x)), user, thread, text),
    st.builds(
        lambda u, t, x, a: ProcessApproval(u, 0, t, content_hash(x + " spec"), a), user, thread, text, st.booleans()
    ),
    st.builds(lambda u, t, x: Expire(u, 0, t, content_hash(x + " spec")), user, thread, text),
    st.builds(lambda u, t: Divest(u, 0, t, CHOIR // 2), user, thread),
)
TEXT_OF = {content_hash(x): x for base in TEXTS for x in (base, base + " spec")}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(st.tuples(st.lists(steps, min_size=1, max_size=6), st.sampled_from((0, 3600, 8 * 86_400))),
                       min_size=1, max_size=12))  # fmt: skip
def test_a_published_state_never_changes_and_the_last_is_the_committed_state(
    backend: Backend, rounds: list[tuple[list[Step], int]]
) -> None:
    """Each round's steps are queued together, so one group commit often writes one thread and one message
    several times: every state published on the way must still read as it did when it was published."""
    backend.reset().result(10)
    seen = [(backend.published, rendered(backend.published))]
    for batch, tick in rounds:
        backend.clock.advance(tick)  # type: ignore[attr-defined]
        with backend.state_lock:  # queue the whole round before the writer takes any of it
            futures = [backend.submit(StepCommand(step, TEXT_OF.get(step.content_hash or ""))) for step in batch]
        concurrent.futures.wait(futures, timeout=30)
        seen.append((backend.published, rendered(backend.published)))
    for read, render in seen:
        assert rendered(read) == render
    with backend.state_lock:
        live = backend.model.snapshot()
        threads_of: dict[str, set[str]] = {}
        for t in backend.model.state.threads.values():
            for name in t.co_authors:
                threads_of.setdefault(name, set()).add(t.thread_id)
    assert backend.published.model.snapshot() == live
    assert dict(backend.published.threads_of) == {name: frozenset(ts) for name, ts in threads_of.items()}


def test_a_read_during_a_commit_answers_at_once_from_the_last_commit(backend: Backend) -> None:
    backend.reset().result(10)
    backend.execute(StepCommand(Fund("ann", 0, 5 * CHOIR, TREASURY)))
    seq = backend.journal_seq
    journal = backend.writer.journal
    committing, release = threading.Event(), threading.Event()
    commit = journal.commit

    def slow_commit(batch: Any) -> int:  # the disk write takes as long as the test wants
        committing.set()
        assert release.wait(30)
        return commit(batch)

    journal.commit = slow_commit  # type: ignore[method-assign]
    try:
        future = backend.submit(StepCommand(Fund("ann", 0, 7 * CHOIR, TREASURY)))
        assert committing.wait(10)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a read blocked behind the commit would time out
            read = pool.submit(lambda: (backend.wallet("ann"), backend.journal_seq))
            assert read.result(5) == (5 * CHOIR, seq)  # the uncommitted fund is not visible
        release.set()
        assert future.result(10).seq == seq + 1
        assert (backend.wallet("ann"), backend.journal_seq) == (12 * CHOIR, seq + 1)
    finally:
        release.set()
        journal.commit = commit  # type: ignore[method-assign]
