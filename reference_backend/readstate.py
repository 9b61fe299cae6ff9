"""The state readers see: what the journal holds, published by the writer after each commit, never waiting for it.

Why: the writer holds the state lock from its first apply to the end of the fsynced commit, so a reader of the
live model waits for the disk whenever it arrives during a commit (the p99 tail of the mixed load). Readers use a
`ReadState` instead: an immutable cut of the world as of one committed journal row, swapped in by one reference
assignment after the commit and before any caller of the commit is answered (so a client reads its own writes).

It costs a copy of the world's two top-level maps per commit and, per thread a commit writes, a copy of that
thread's containers: the writer's model copies, on write, every thread and message a published state still
references (`CopyOnWrite`). That is sound because a step changes only the wallets, the treasury, the running
totals, `last_now`, its own thread (or a new one) and the one message it names (SPEC section 3: every operation
addresses at most one message), so copying the thread's containers and that message before the step applies
leaves everything a published state holds untouched.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from choir_model import Model, Step
from choir_model import events as ev


@dataclass(frozen=True, slots=True)
class ReadState:
    """The world as of journal row `seq` of world `generation`. `model` is a read-only twin of the writer's model
    (same parameters, economics and rules; its own state) for the pure views; `threads_of` maps a user to the
    threads they co-author (search filters on it). Nothing reachable from here is ever changed."""

    seq: int
    generation: int
    model: Model
    threads_of: Mapping[str, frozenset[str]]


def publish(model: Model, seq: int, generation: int, threads_of: Mapping[str, frozenset[str]]) -> ReadState:
    """A read state sharing every thread and message with `model` (the caller then copies before writing:
    `CopyOnWrite.reset`)."""
    state = model.state
    reader = copy.copy(model)
    reader.state = dataclasses.replace(state, wallets=dict(state.wallets), threads=dict(state.threads))
    return ReadState(seq, generation, reader, threads_of)


class CopyOnWrite:
    """The writer's side: which threads and messages of its model are its own since the last publication."""

    def __init__(self) -> None:
        self._threads: set[str] = set()
        self._messages: set[tuple[str, str]] = set()

    def reset(self) -> None:
        """Everything the model holds is now shared with a published state."""
        self._threads.clear()
        self._messages.clear()

    def own(self, model: Model, step: Step) -> None:
        """Before `step` applies: make the thread it addresses, and the message it names, the model's own."""
        thread_id = step.thread_id
        if thread_id is None:
            return
        threads = model.state.threads
        thread = threads.get(thread_id)
        if thread is None:
            self._threads.add(thread_id)  # a thread this step may create is new, never published yet
            return
        if thread_id not in self._threads:
            thread = dataclasses.replace(
                thread,
                co_authors=list(thread.co_authors),
                last_divest=dict(thread.last_divest),
                messages=dict(thread.messages),
                pending_spec_authors=set(thread.pending_spec_authors),
            )
            threads[thread_id] = thread
            self._threads.add(thread_id)
        content_hash = step.content_hash
        if content_hash is None or (thread_id, content_hash) in self._messages:
            return
        message = thread.messages.get(content_hash)
        if message is not None:
            thread.messages[content_hash] = dataclasses.replace(message, votes=dict(message.votes))
        self._messages.add((thread_id, content_hash))


def co_authored(
    threads_of: Mapping[str, frozenset[str]], changed: Mapping[str, Iterable[str]]
) -> dict[str, frozenset[str]]:
    """`threads_of` with the users in `changed` given their new thread sets."""
    out = dict(threads_of)
    out.update((name, frozenset(threads)) for name, threads in changed.items())
    return out


class Publisher:
    """What the one mutator of a model (the writer, or a worker's replica: `reference_backend.replica`) keeps to
    publish read states: who co-authors which threads, whose set changed since the last publication, and the
    copy-on-write bookkeeping. Call `before` ahead of every step and `after` with its events."""

    def __init__(self) -> None:
        self.threads_of: dict[str, set[str]] = {}
        self._changed: set[str] = set()
        self._copy_on_write = CopyOnWrite()

    def before(self, model: Model, step: Step) -> None:
        self._copy_on_write.own(model, step)

    def after(self, events: Iterable[ev.Event]) -> None:
        """A new thread's creator and an added co-author gain a thread (SPEC section 3: co-authors only join)."""
        for event in events:
            if isinstance(event, ev.ThreadCreated):
                name = event.creator
            elif isinstance(event, ev.CoAuthorAdded):
                name = event.co_author
            else:
                continue
            self.threads_of.setdefault(name, set()).add(event.thread_id)
            self._changed.add(name)

    def publish_all(self, model: Model, seq: int, generation: int, threads_of: dict[str, set[str]]) -> ReadState:
        """A read state of the whole model with these co-author sets (after a rebuild or a reset: all are new)."""
        self.threads_of = threads_of
        self._copy_on_write.reset()
        self._changed.clear()
        return publish(model, seq, generation, {name: frozenset(threads) for name, threads in threads_of.items()})

    def publish(self, model: Model, seq: int, generation: int, previous: ReadState) -> ReadState:
        """The next read state after `previous`: only the co-author sets that changed are copied."""
        threads_of = previous.threads_of
        if self._changed:
            threads_of = co_authored(threads_of, {name: self.threads_of[name] for name in self._changed})
            self._changed.clear()
        self._copy_on_write.reset()
        return publish(model, seq, generation, threads_of)
