"""The step generator's per-thread `MessageIndex` always equals the scans it replaced (every hash, the Private
and the Pending ones, sorted), whether the steps come from the generator or from elsewhere."""

from __future__ import annotations

import pytest

from choir_model import Model, RequestPublic
from choir_model.state import MessageState
from properties.generate import OPS, RandomSource, StepGenerator


def scans(model: Model, thread_id: str) -> tuple[list[str], list[str], list[str]]:
    messages = model.state.threads[thread_id].messages
    hashes = sorted(messages)
    private = [h for h in hashes if messages[h].state is MessageState.PRIVATE]
    pending = [h for h in hashes if messages[h].state is MessageState.PENDING]
    return hashes, private, pending


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_index_equals_the_scans_after_every_step(seed: int) -> None:
    model = Model()
    source = RandomSource(seed)
    generator = StepGenerator(model, source, invalid_one_in=5)
    changed = 0
    for _ in range(3000):
        step = generator.step(OPS[source.index(len(OPS))])
        model.try_apply(step)
        generator.step("fund")  # the next build files the last step's message again, as the soak's would
        for thread in model.state.threads.values():
            index = generator.messages(thread)
            assert (index.hashes, index.private, index.pending) == scans(model, thread.thread_id), step
        changed += step.op in ("request_public", "process_approval", "expire")
    assert changed > 500


def test_steps_built_elsewhere_rebuild_the_index() -> None:
    """A request the generator did not build moves a Private message to Pending: the thread's Pending count no
    longer matches its index, which is rebuilt from a scan."""
    model = Model()
    source = RandomSource(4)
    generator = StepGenerator(model, source)
    private = None
    for _ in range(4000):
        model.try_apply(generator.step(OPS[source.index(len(OPS))]))
        generator.step("fund")
        found = [
            (thread, h)
            for thread in model.state.threads.values()
            if len(thread.co_authors) > 1
            for h in generator.messages(thread).private
        ]
        if found:
            private = found[0]
            break
    assert private is not None
    thread, content_hash = private
    author = thread.messages[content_hash].author
    assert model.try_apply(RequestPublic(author, model.state.last_now, thread.thread_id, content_hash)) is None
    index = generator.messages(thread)
    assert content_hash in index.pending and content_hash not in index.private
    assert (index.hashes, index.private, index.pending) == scans(model, thread.thread_id)
