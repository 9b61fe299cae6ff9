"""The writer: the one thread that changes the state, and the journal that makes each change durable.

Commands (`reference_backend.commands`: an operation, a registration, a premium flag, a nonce, a reset) queue up;
the writer takes all that are waiting, applies them one by one to the model (which either changes the state or
raises the SPEC error and changes nothing), writes the accepted ones to the journal in one transaction (group
commit), publishes the state it committed (`reference_backend.readstate`) and only then resolves the callers'
futures. Readers see only published states, so no reader ever sees a state the journal does not hold (what a
client can observe survives a crash) and none waits for the disk. The state lock, held from the first apply to
the publication, is left to the few readers that need the live model (the chain's and the WebSocket hub's
snapshots, the Chorus loop). If the commit fails, the model is rebuilt from the journal and the batch is
answered 503 (`/v1/health` says "degraded" until a commit succeeds again).

`now` for an operation is read by the writer when it applies it, so operations are applied in time order. With
the system clock it never goes backwards (max of clock and the last step's time); a `ManualClock` is passed
through unchanged, so the model's own `InvalidTime` guard answers exactly as it does for a trace.

After each commit the writer hands the index updates to the indexer (`reference_backend.indexer`), the texts to
the text cache, and the accepted operations to its listeners (the WebSocket hub, cache invalidation; spec section
10). `chain`, when set, sees every operation before the model does (`reference_backend.chain`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import choir_model
from choir_model import ChoirError, Model
from choir_model import events as ev
from choir_model.model import CheckMode, InvariantViolation
from choir_model.state import ChoirState
from choir_model.trace import step_from_json
from reference_backend.auth import parse_public_key
from reference_backend.clock import Clock, ManualClock
from reference_backend.commands import (
    Accepted,
    Command,
    NonceCommand,
    PremiumCommand,
    RegisterCommand,
    ResetCommand,
    StepCommand,
    UserRecord,
)
from reference_backend.config import BackendConfig
from reference_backend.disclosure import disclosed
from reference_backend.errors import ApiError, StorageFailed
from reference_backend.indexer import Update, index_update
from reference_backend.journal import RESTORE, Batch, DataDirDamaged, Journal, storage_cause, trace_line
from reference_backend.readstate import Publisher, ReadState
from reference_backend.texts import TextCache

log = logging.getLogger("reference_backend")

Listener = Callable[[list[Accepted]], None]
"""Called by the writer after each commit with every accepted operation of the commit, in journal order."""
PublishHook = Callable[[ReadState, list[UserRecord]], None]
"""Called by the writer (state lock held) after each commit that changed the world or the users, and after a reset,
with the state just published and the user records the commit wrote, before any caller of the commit is answered
(`reference_backend.workers` tells the worker processes from here, so none can answer a read of an older state to
a client that already saw the commit's answer)."""
Witness = Callable[[ChoirState, list[ev.Event]], Any]
"""Reads, right after one operation applied (writer thread, state lock held), what a listener needs to know of the
state as that operation left it: a later operation of the same group commit may change it again."""

_STOP = object()
MAX_BATCH = 512


class JournalCorrupt(DataDirDamaged):
    """The journal does not replay on the model (edited by hand, or written under other parameters)."""


class IndexFeed(Protocol):
    """Where the writer sends what each commit changed for search (`reference_backend.indexer.Indexer`)."""

    def follow(self, generation: int, seq: int, updates: list[Update]) -> None: ...

    def reset(self, generation: int) -> None: ...


def model_fingerprint(config: BackendConfig) -> str:
    """Snapshots are valid only for the same model code, parameters and policy."""
    digest = hashlib.sha256()
    package = Path(choir_model.__file__).parent
    for path in sorted(package.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(repr(config.params).encode())
    digest.update(config.policy.encode())
    return digest.hexdigest()


def journal_fingerprint(config: BackendConfig) -> str:
    """What a journal's meaning depends on: replaying it under other parameters or another policy would build a
    different state, so the service refuses to start on a mismatch."""
    return json.dumps({"params": repr(config.params), "policy": config.policy}, sort_keys=True)


@dataclass(slots=True)
class _Outcome:
    command: Command
    future: concurrent.futures.Future[Any]
    result: Any = None
    error: BaseException | None = None
    step_index: int | None = None
    index_update: Update | None = None


@dataclass(slots=True)
class World:
    """The state a journal rebuilds: the model after row `seq` (started from the snapshot after row `start`), who
    co-authors which threads, and the registered users with their parsed keys."""

    model: Model
    start: int
    seq: int
    threads_of: dict[str, set[str]]
    users: dict[str, UserRecord]
    keys: dict[str, Any]


def load_world(journal: Journal, config: BackendConfig, fingerprint: str, check: CheckMode) -> World:
    """Rebuild the world from the newest usable snapshot plus the journal rows after it (the writer at start and
    after a failed commit; a worker's replica, `reference_backend.replica`). A row that does not replay is
    `JournalCorrupt`."""
    model = Model(config.params, policy=config.policy, check=check)
    start = 0
    snapshot = journal.latest_snapshot(fingerprint)
    if snapshot is not None:
        start, (state, analytics) = snapshot
        model.state, model.analytics = state, analytics
    seq = start
    for seq, line in journal.lines(after=start):
        try:
            model.apply(step_from_json(json.loads(line), seq))
        except (ChoirError, ValueError, InvariantViolation) as error:
            raise JournalCorrupt(
                f"journal row {seq} of {journal.path} does not replay on the model ({error}): it was altered; {RESTORE}"
            ) from error
    threads_of: dict[str, set[str]] = {}
    for thread in model.state.threads.values():
        for name in thread.co_authors:
            threads_of.setdefault(name, set()).add(thread.thread_id)
    users = {name: UserRecord(name, key, premium) for name, key, premium in journal.users()}
    keys = {name: parse_public_key(record.public_key) for name, record in users.items()}
    return World(model, start, max(seq, journal.last_seq()), threads_of, users, keys)


class Writer:
    """Owns the model, the user table and the journal; see the module docstring. `open()` rebuilds the state from
    the journal, `start()` starts the thread."""

    def __init__(
        self,
        config: BackendConfig,
        clock: Clock,
        journal: Journal,
        index: IndexFeed,
        texts: TextCache,
        authorities: Collection[str],
    ) -> None:
        self.config = config
        self.clock = clock
        self.journal = journal
        self.index = index
        self.texts = texts
        self.authorities = authorities
        self.fingerprint = model_fingerprint(config)
        self.model = Model(config.params, policy=config.policy, check=config.check)
        self.users: dict[str, UserRecord] = {}
        self.user_keys: dict[str, Any] = {}
        self._publisher = Publisher()
        # Held by the writer while it applies, commits and publishes; the readers of the live model hold it for one
        # consistent cut (the chain's and the WebSocket hub's snapshots, the Chorus loop's reads).
        self.state_lock = threading.RLock()
        self.queue: queue.Queue[Any] = queue.Queue()
        self.generation = 0  # bumped by a world reset: caches and the chain drop what they hold
        self.journal_seq = 0
        self.opened_seq = 0  # the journal position this process started from (0 after a reset)
        self.failed: str | None = None
        self.degraded: str | None = None  # why the last journal commit failed, until one succeeds
        self.listeners: list[Listener] = []
        self.publish_hooks: list[PublishHook] = []
        self.witness: Witness | None = None
        self.chain: Any = None  # a `reference_backend.chain.Chain` in front of the model (`choir serve --chain`)
        self.batches = 0
        self._snapshot_seq = 0  # the snapshot the last rebuild started from
        self._thread: threading.Thread | None = None
        self.published = self._publisher.publish_all(self.model, 0, 0, {})

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def open(self) -> bool:
        """Check the journal was written under this configuration and is whole, and rebuild the state from it.
        True if the data directory is new (it had no journal configuration yet)."""
        stored = self.journal.meta("config")
        expected = journal_fingerprint(self.config)
        if stored is None:
            self.journal.set_meta("config", expected)
        elif stored != expected:
            raise JournalCorrupt(
                f"{self.journal.path} was written under {stored}, this server runs {expected}: "
                "start it with the same --params and --policy, or use a new --data directory"
            )
        self.journal.verify()
        self.rebuild()
        self.journal.verify_texts([h for thread in self.model.state.threads.values() for h in thread.messages])
        if self.journal_seq - self._snapshot_seq >= self.config.snapshot_every:
            self.store_snapshot()  # the next start replays less than this one
        self.opened_seq = self.journal_seq
        return stored is None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write_loop, name="choir-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after the queued commands are answered."""
        if self._thread is not None:
            self.queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def rebuild(self) -> None:
        """State from the newest usable snapshot plus the journal after it; users from their table."""
        world = load_world(self.journal, self.config, self.fingerprint, self.config.check)
        # Each table is replaced whole, never emptied and refilled: `key_of` and `is_premium` read them without the
        # state lock (every signed request does), and must never find a registered user missing.
        self.model, self.users, self.user_keys = world.model, world.users, world.keys
        self.journal_seq = world.seq
        self.published = self._publisher.publish_all(self.model, self.journal_seq, self.generation, world.threads_of)
        if self.chain is not None:
            self.chain.rewind(self)
        self._snapshot_seq = world.start
        log.info("state rebuilt: snapshot at %d, journal at %d", world.start, self.journal_seq)

    # -- what the facade asks --------------------------------------------------------------------------------------

    def submit(self, command: Command) -> concurrent.futures.Future[Any]:
        """Queue a command; the future resolves after the journal commit (or with the error)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self.failed:
            future.set_exception(StorageFailed(self.failed))
        else:
            self.queue.put((command, future))
        return future

    def head(self) -> int:
        """The last committed journal row readers see."""
        return self.published.seq

    # -- the thread ------------------------------------------------------------------------------------------------

    def _op_now(self) -> int:
        now = self.clock.now()
        if isinstance(self.clock, ManualClock):
            return now
        last = self.model.state.last_now
        return now if last is None or now >= last else last

    def _write_loop(self) -> None:
        while True:
            item = self.queue.get()
            items = [item]
            while len(items) < MAX_BATCH:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(i is _STOP for i in items)
            chunk: list[_Outcome] = []
            for entry in items:
                if entry is _STOP:
                    continue
                outcome = _Outcome(*entry)
                if isinstance(outcome.command, ResetCommand):
                    if chunk:
                        self._process(chunk)
                        chunk = []
                    self._reset(outcome)
                else:
                    chunk.append(outcome)
            if chunk:
                self._process(chunk)
            if stop:
                return

    def _process(self, outcomes: list[_Outcome]) -> None:
        batch = Batch()
        with self.state_lock:
            if self.failed:
                for outcome in outcomes:
                    outcome.error = StorageFailed(self.failed)
                self._resolve(outcomes)
                return
            pending_names: dict[str, str] = {}
            for position, outcome in enumerate(outcomes):
                try:
                    outcome.result = self._apply(outcome, batch, pending_names)
                except ChoirError as error:  # what the requester may learn of it (`reference_backend.disclosure`)
                    step = outcome.command.step  # type: ignore[union-attr]
                    record = self.users.get(step.actor)
                    outcome.error = disclosed(self.model, step, error, record is not None and record.premium)
                except ApiError as error:
                    outcome.error = error
                except Exception as bug:
                    # An invariant the model says this step broke, or any other bug: the state may be half-changed,
                    # so rebuild it from the journal and redo the rest of the batch without this command.
                    log.error("operation refused by an internal error: %r", bug, exc_info=True)
                    what = "invariant violated" if isinstance(bug, InvariantViolation) else "internal error"
                    outcome.error = ApiError("InternalError", f"{what}: {bug}; nothing was changed")
                    self.rebuild()
                    redo = [_Outcome(o.command, o.future) for o in outcomes[:position] + outcomes[position + 1 :]]
                    self._resolve([outcome])
                    self._process(redo)
                    return
                request = outcome.command.request
                if request is not None:
                    batch.requests.append((request.user, request.nonce, request.signed_at))
            try:
                last_seq = self.journal.commit(batch) if batch else self.journal_seq
            except Exception as error:
                log.exception("journal commit failed; rebuilding the state from the journal")
                self._commit_failed(outcomes, error)
                return
            first_seq = last_seq - len(batch.steps) + 1
            accepted: list[Accepted] = []
            records: list[UserRecord] = []
            for outcome in outcomes:
                if outcome.error is None and isinstance(outcome.command, (RegisterCommand, PremiumCommand)):
                    record = outcome.result
                    records.append(record)
                    self.users[record.name] = record
                    self.user_keys[record.name] = parse_public_key(record.public_key)
                if outcome.step_index is not None:
                    step, events, witnessed = outcome.result
                    outcome.result = Accepted(first_seq + outcome.step_index, step, events, witnessed)
                    accepted.append(outcome.result)
            self.journal_seq = last_seq
            if batch.steps:
                self.published = self._publisher.publish(self.model, last_seq, self.generation, self.published)
            if batch.steps or records:
                self._published(records)
            if batch:
                self.degraded = None
            self.batches += 1
            self._maintain(len(batch.steps))
        self._resolve(outcomes)
        if accepted:
            self.texts.add(batch.contents)
            updates = [o.index_update for o in outcomes if o.error is None and o.index_update is not None]
            self.index.follow(self.generation, last_seq, updates)
            for listener in self.listeners:
                try:
                    listener(accepted)
                except Exception:
                    log.exception("listener failed")

    def _apply(self, outcome: _Outcome, batch: Batch, pending_names: dict[str, str]) -> Any:
        command = outcome.command
        if isinstance(command, NonceCommand):
            return None  # its request row is all it writes
        if isinstance(command, StepCommand):
            return self._apply_step(command, outcome, batch)
        if isinstance(command, RegisterCommand):
            if command.name in self.authorities:
                raise ApiError("NameReserved", f"{command.name!r} is a treasury authority")
            known = pending_names.get(command.name) or (
                self.users[command.name].public_key if command.name in self.users else None
            )
            if known is not None and known != command.public_key:
                raise ApiError("NameTaken", f"{command.name!r} is registered with another key")
            current = self.users.get(command.name)
            record = UserRecord(command.name, command.public_key, current is not None and current.premium)
            if known is None:
                pending_names[command.name] = command.public_key
                batch.users.append((record.name, record.public_key, record.premium, self.clock.now()))
            return record
        if command.name not in self.users:  # a PremiumCommand
            raise ApiError("UnknownUser", f"{command.name!r} is not registered")
        current = self.users[command.name]
        record = UserRecord(current.name, current.public_key, command.premium)
        batch.users.append((record.name, record.public_key, record.premium, self.clock.now()))
        return record

    def _apply_step(self, command: StepCommand, outcome: _Outcome, batch: Batch) -> Any:
        step = dataclasses.replace(command.step, now=self._op_now())  # type: ignore[type-var]
        self._publisher.before(self.model, step)
        if self.chain is None:
            events = self.model.apply(step)
        else:  # the program first: what it refuses never reaches the model or the journal
            self.chain.before(self, step)
            try:
                events = self.model.apply(step)
            except ChoirError as error:
                self.chain.model_refused(self, step, error.name)
                raise
        request = command.request
        outcome.step_index = len(batch.steps)
        batch.steps.append(
            (
                trace_line(step.to_json()),
                request.user if request else None,
                request.nonce if request else None,
                step.now,
            )
        )
        if command.content is not None:
            batch.contents.append((step.hash, command.content))  # type: ignore[attr-defined]
        self._publisher.after(events)
        outcome.index_update = index_update(self.model.state, step, command.content)
        return step, events, None if self.witness is None else self.witness(self.model.state, events)

    def _reset(self, outcome: _Outcome) -> None:
        try:
            with self.state_lock:
                self.journal.clear_world()
                self.model = Model(self.config.params, policy=self.config.policy, check=self.config.check)
                self.journal_seq = 0
                self.opened_seq = 0
                self.generation += 1
                self.published = self._publisher.publish_all(self.model, 0, self.generation, {})
                self._published([])
            # Outside the state lock: the indexer's catch-up takes its own lock, then the state lock.
            self.index.reset(self.generation)
            outcome.result = 0
        except Exception as error:
            log.exception("reset failed")
            outcome.error = StorageFailed(f"reset failed: {error}")
        self._resolve([outcome])

    def _published(self, records: list[UserRecord]) -> None:
        for hook in self.publish_hooks:
            try:
                hook(self.published, records)
            except Exception:
                log.exception("publish hook failed")

    def _commit_failed(self, outcomes: list[_Outcome], error: Exception) -> None:
        self.degraded = f"the journal could not be written: {storage_cause(error)}"
        for outcome in outcomes:
            if outcome.error is None:
                outcome.error = StorageFailed(f"{self.degraded}; nothing was changed")
                outcome.step_index = None
        try:
            self.rebuild()
        except Exception as rebuild_error:
            self.failed = f"journal unavailable: {rebuild_error}"
            log.exception("cannot rebuild from the journal; refusing writes")
        self._resolve(outcomes)

    @staticmethod
    def _resolve(outcomes: list[_Outcome]) -> None:
        for outcome in outcomes:
            if outcome.future.done():
                continue
            if outcome.error is not None:
                outcome.future.set_exception(outcome.error)
            else:
                outcome.future.set_result(outcome.result)

    def _maintain(self, written: int) -> None:
        """Snapshots every `snapshot_every` journal rows; prune old request nonces now and then."""
        every = self.config.snapshot_every
        try:
            if written and self.journal_seq // every != (self.journal_seq - written) // every:
                self._save_snapshot()
            if self.batches % 1000 == 0:
                self.journal.prune_requests(self.clock.now() - 2 * self.config.max_skew)
        except Exception as error:  # both only save time later: the journal, already committed, is the truth
            log.warning("journal maintenance skipped: %s", storage_cause(error))

    def _save_snapshot(self) -> None:
        """The model's state and the embedded chain's accounts after the last committed row (state lock held)."""
        chain = self.chain.checkpoint() if self.chain is not None else None
        state = (self.model.state, self.model.analytics)
        if self.journal.save_snapshot(self.journal_seq, self.fingerprint, state, chain) and chain is not None:
            self.chain.saved(self.journal_seq)

    def store_snapshot(self) -> None:
        """Store a snapshot now (after a start that replayed many rows); a failure only costs time later."""
        with self.state_lock:
            try:
                self._save_snapshot()
            except Exception as error:
                log.warning("snapshot skipped: %s", storage_cause(error))
