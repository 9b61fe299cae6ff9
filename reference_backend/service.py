"""`Backend`: the reference backend without HTTP. Every state change goes through `choir_model.Model`.

Threads and who owns what:

* **The writer thread** owns every change. Commands (an operation, a registration, a premium flag) queue up; the
  writer takes all that are waiting, applies them one by one to the model (which either changes the state or raises
  the SPEC error and changes nothing), writes the accepted ones to the journal in one transaction (group commit),
  and only then resolves the callers' futures. It holds the state lock from the first apply to the commit, so no
  reader ever sees a state the journal does not hold: what a client can observe survives a crash. If the commit
  fails, the model is rebuilt from the journal and the batch is answered 503.
* **Readers** (thread views, search, wallet, snapshot) take the state lock briefly to copy what they need, then
  do their I/O (content lookups) outside it.
* **The indexer thread** (`reference_backend.indexer`) keeps the search index behind the journal. Search is
  eventually consistent, like any search engine: a message is found once the indexer has reached its journal
  row, usually milliseconds later, and every answer says how far the index has got (`indexed_seq`). Only right
  after a start does search wait (up to `search_wait`) for the index to catch up with the journal. Privacy is
  filtered inside the engine and checked again against the live model, so a lagging index can only miss a
  message, never show one it should not.

`now` for an operation is read by the writer when it applies it, so operations are applied in time order. With
the system clock it never goes backwards (max of clock and the last step's time); a `ManualClock` is passed
through unchanged, so the model's own `InvalidTime` guard answers exactly as it does for a trace.

Hooks for the real-time parts (spec section 10): `add_listener` is called after every commit with the accepted steps and
their events (the WebSocket hub and cache invalidation subscribe there); `chain`, when set, sees every operation
before the model does (`reference_backend.chain`).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import choir_model
from choir_model import ChoirError, Model, Step
from choir_model import events as ev
from choir_model.model import InvariantViolation
from choir_model.privacy import Role, View, can_cite, can_search, role_of, view_of, visible_metadata
from choir_model.state import ChoirState, Privacy
from choir_model.trace import step_from_json
from reference_backend.auth import Principal, ReplayGuard, dev_keypair, parse_public_key
from reference_backend.clock import Clock, ManualClock, SystemClock
from reference_backend.config import BackendConfig
from reference_backend.content import StatisticsSummarizer, Summarizer, snippet
from reference_backend.embedding import make_embedder
from reference_backend.errors import ApiError, StorageFailed, unknown_thread
from reference_backend.indexer import Facts, Indexer, Update, index_update
from reference_backend.journal import RESTORE, Batch, DataDirDamaged, Journal, storage_cause, trace_line
from reference_backend.ratelimit import RateLimiter
from reference_backend.schemas import MessageView, SearchHit, SearchResults, StakeQuote, ThreadView
from reference_backend.search import Audience, TextVectors, open_index

log = logging.getLogger("reference_backend")

T = TypeVar("T")
Listener = Callable[[list["Accepted"]], None]
"""Called by the writer after each commit with every accepted operation of the commit, in journal order."""
Witness = Callable[[ChoirState, list[ev.Event]], Any]
"""Reads, right after one operation applied (writer thread, state lock held), what a listener needs to know of the
state as that operation left it: a later operation of the same group commit may change it again."""


class JournalCorrupt(DataDirDamaged):
    """The journal does not replay on the model (edited by hand, or written under other parameters)."""


# -- commands ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Request:
    """The signed request a command came from (its nonce is persisted for replay protection)."""

    user: str
    nonce: str
    signed_at: int


@dataclass(slots=True)
class StepCommand:
    """One model operation; `step.now` is replaced by the writer's clock. `content` is the text of a submitted
    message (its sha256 is already `step.hash`)."""

    step: Step
    content: str | None = None
    request: Request | None = None


@dataclass(slots=True)
class RegisterCommand:
    name: str
    public_key: str
    request: Request | None = None


@dataclass(slots=True)
class PremiumCommand:
    name: str
    premium: bool
    request: Request | None = None


@dataclass(slots=True)
class NonceCommand:
    """Persist the nonce of a request signed ahead of the server clock (`reference_backend.auth`: such a request
    could pass a restarted server's replay floor, so its nonce must outlive the process)."""

    request: Request


@dataclass(slots=True)
class ResetCommand:
    """Forget the whole Choir world (test servers only: the differential driver runs many worlds on one server).
    Registered users stay."""

    request: Request | None = None


Command = StepCommand | RegisterCommand | PremiumCommand | NonceCommand | ResetCommand


@dataclass(frozen=True, slots=True)
class Accepted:
    """The result of an accepted operation; `witnessed` is what `Backend.witness` read right after it applied."""

    seq: int
    step: Step
    events: list[ev.Event]
    witnessed: Any = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    public_key: str
    premium: bool


@dataclass(slots=True)
class _Outcome:
    command: Command
    future: concurrent.futures.Future[Any]
    result: Any = None
    error: BaseException | None = None
    step_index: int | None = None
    index_update: Update | None = None


_STOP = object()
TEXT_CACHE_BYTES = 64 * 1024 * 1024
CLOCK_HIGH = "manual_clock_high"


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


class Backend:
    """The service. `start()` rebuilds the state from the journal and starts the writer and indexer threads."""

    def __init__(self, config: BackendConfig, clock: Clock | None = None, summarizer: Summarizer | None = None) -> None:
        self.config = config
        if clock is None:
            clock = ManualClock(config.manual_clock) if config.manual_clock is not None else SystemClock()
        self.clock = clock
        self.summarizer = summarizer or StatisticsSummarizer()
        self.replay = ReplayGuard(config.max_skew)
        self.limiter = RateLimiter(config.rate_limits)
        self.journal = Journal(config.data_dir, config.sync)
        self.index = open_index(
            TextVectors(make_embedder(config.embedder)),
            path=None if config.qdrant_url else config.data_dir / "qdrant",
            url=config.qdrant_url,
        )
        self.model = Model(config.params, policy=config.policy, check=config.check)
        self.fingerprint = model_fingerprint(config)
        self.authorities: dict[str, str] = dict(config.authorities) or {
            name: str(dev_keypair(name).pubkey()) for name in config.params.treasury_authorities
        }
        self._authority_keys = {name: parse_public_key(key) for name, key in self.authorities.items()}
        self.users: dict[str, UserRecord] = {}
        self._user_keys: dict[str, Any] = {}
        self._threads_of: dict[str, set[str]] = {}
        # Held by the writer while it applies and commits; readers hold it for one consistent cut (the chain's and
        # the WebSocket hub's snapshots, the Chorus loop's reads).
        self.state_lock = threading.RLock()
        self._queue: queue.Queue[Any] = queue.Queue()
        self.indexer = Indexer(self.index, self.journal, self._index_facts, self.texts)
        self.generation = 0  # bumped by a world reset: caches and the chain drop what they hold
        self.journal_seq = 0
        self.failed: str | None = None
        self.degraded: str | None = None  # why the last journal commit failed, until one succeeds
        self._listeners: list[Listener] = []
        self.witness: Witness | None = None
        self._startup_seq = 0
        self._text_cache: OrderedDict[str, str] = OrderedDict()
        self._text_bytes = 0
        self._text_lock = threading.Lock()
        self._clock_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._batches = 0
        self.chain: Any = None  # a `reference_backend.chain.Chain` in front of the model (`choir serve --chain`)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> Backend:
        try:
            self._start()
        except BaseException:
            self.index.close()
            self.journal.close()
            raise
        return self

    def _start(self) -> None:
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
        self._rebuild()
        self._startup_seq = self.journal_seq  # searches wait (briefly) for the index to catch up to here
        floor = None if stored is None else self._replay_floor()
        if isinstance(self.clock, ManualClock):
            self._raise_clock_high(self.clock.now())
        self.replay.open(floor, self.journal.recent_requests(since=(floor or 0) + 1))
        self._writer = threading.Thread(target=self._write_loop, name="choir-writer", daemon=True)
        self._writer.start()
        self.indexer.start(self._head)

    def _replay_floor(self) -> int:
        """The last second a previous run of this data directory could have accepted a request at
        (`reference_backend.auth`, replay across restarts)."""
        last = self.model.state.last_now
        if isinstance(self.clock, ManualClock):
            high = self.journal.meta(CLOCK_HIGH)
            candidates = [int(high)] if high is not None else []
        else:
            candidates = [self.clock.now()]
        if last is not None:
            candidates.append(last)
        return max(candidates) if candidates else 0

    def _raise_clock_high(self, now: int) -> None:
        """Persist the highest time a manual clock was set to, before anything is accepted at that time."""
        with self._clock_lock:
            high = self.journal.meta(CLOCK_HIGH)
            if high is None or now > int(high):
                self.journal.set_meta(CLOCK_HIGH, str(now))

    def close(self) -> None:
        """Stop the threads (after the queued commands are answered) and close the stores."""
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join()
            self._writer = None
        self.indexer.stop()
        self.index.close()
        self.journal.close()

    def add_listener(self, listener: Listener) -> None:
        """Register a callback for accepted operations (runs on the writer thread: keep it quick)."""
        self._listeners.append(listener)

    def _rebuild(self) -> None:
        """State from the newest usable snapshot plus the journal after it; users from their table."""
        model = Model(self.config.params, policy=self.config.policy, check=self.config.check)
        start = 0
        snapshot = self.journal.latest_snapshot(self.fingerprint)
        if snapshot is not None:
            start, (state, analytics) = snapshot
            model.state, model.analytics = state, analytics
        seq = start
        for seq, line in self.journal.lines(after=start):
            try:
                model.apply(step_from_json(json.loads(line), seq))
            except (ChoirError, ValueError, InvariantViolation) as error:
                raise JournalCorrupt(
                    f"journal row {seq} of {self.journal.path} does not replay on the model ({error}): it was "
                    f"altered; {RESTORE}"
                ) from error
        threads_of: dict[str, set[str]] = {}
        for thread in model.state.threads.values():
            for name in thread.co_authors:
                threads_of.setdefault(name, set()).add(thread.thread_id)
        users = {name: UserRecord(name, key, premium) for name, key, premium in self.journal.users()}
        user_keys = {name: parse_public_key(record.public_key) for name, record in users.items()}
        # Each table is replaced whole, never emptied and refilled: `key_of` and `is_premium` read them without the
        # state lock (every signed request does), and must never find a registered user missing.
        self.model, self._threads_of, self.users, self._user_keys = model, threads_of, users, user_keys
        self.journal_seq = max(seq, self.journal.last_seq())
        if self.chain is not None:
            self.chain.rewind(self)
        log.info("state rebuilt: snapshot at %d, journal at %d", start, self.journal_seq)

    # -- what the HTTP layer asks ----------------------------------------------------------------------------------

    def now(self) -> int:
        return self.clock.now()

    @property
    def indexed_seq(self) -> int:
        """How far searches see the journal (`reference_backend.indexer`)."""
        return self.indexer.indexed_seq

    def wait_indexed(self, seq: int, timeout: float) -> bool:
        return self.indexer.wait(seq, timeout)

    def key_of(self, name: str) -> Any:
        """The public key that signs for `name`: a treasury authority's configured key, else a registered one."""
        key = self._authority_keys.get(name)
        return key if key is not None else self._user_keys.get(name)

    def is_premium(self, name: str) -> bool:
        record = self.users.get(name)
        return record is not None and record.premium

    def submit(self, command: Command) -> concurrent.futures.Future[Any]:
        """Queue a command for the writer; the future resolves after the journal commit (or with the error)."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self.failed:
            future.set_exception(StorageFailed(self.failed))
        else:
            self._queue.put((command, future))
        return future

    def execute(self, command: Command, timeout: float | None = 30.0) -> Any:
        """Submit and wait (for callers outside the event loop: tests, benchmarks, bulk loads)."""
        return self.submit(command).result(timeout)

    # -- the writer -------------------------------------------------------------------------------------------------

    def _op_now(self) -> int:
        now = self.clock.now()
        if isinstance(self.clock, ManualClock):
            return now
        last = self.model.state.last_now
        return now if last is None or now >= last else last

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            items = [item]
            while len(items) < 512:
                try:
                    items.append(self._queue.get_nowait())
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
                except (ChoirError, ApiError) as error:
                    outcome.error = error
                except Exception as bug:
                    # An invariant the model says this step broke, or any other bug: the state may be half-changed,
                    # so rebuild it from the journal and redo the rest of the batch without this command.
                    log.error("operation refused by an internal error: %r", bug, exc_info=True)
                    what = "invariant violated" if isinstance(bug, InvariantViolation) else "internal error"
                    outcome.error = ApiError("InternalError", f"{what}: {bug}; nothing was changed")
                    self._rebuild()
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
            for outcome in outcomes:
                if outcome.error is None and isinstance(outcome.command, (RegisterCommand, PremiumCommand)):
                    record = outcome.result
                    self.users[record.name] = record
                    self._user_keys[record.name] = parse_public_key(record.public_key)
                if outcome.step_index is not None:
                    step, events, witnessed = outcome.result
                    outcome.result = Accepted(first_seq + outcome.step_index, step, events, witnessed)
                    accepted.append(outcome.result)
            self.journal_seq = last_seq
            if batch:
                self.degraded = None
            self._batches += 1
            self._maintain(len(batch.steps))
        self._resolve(outcomes)
        if accepted:
            self._cache_texts(batch.contents)
            self._queue_index(outcomes, last_seq)
            for listener in self._listeners:
                try:
                    listener(accepted)
                except Exception:
                    log.exception("listener failed")

    def _apply(self, outcome: _Outcome, batch: Batch, pending_names: dict[str, str]) -> Any:
        command = outcome.command
        if isinstance(command, NonceCommand):
            return None  # its request row is all it writes
        if isinstance(command, StepCommand):
            now = self._op_now()
            step = dataclasses.replace(command.step, now=now)  # type: ignore[type-var]
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
                (trace_line(step.to_json()), request.user if request else None, request.nonce if request else None, now)
            )
            if command.content is not None:
                batch.contents.append((step.hash, command.content))  # type: ignore[attr-defined]
            for event in events:
                if isinstance(event, ev.ThreadCreated):
                    self._threads_of.setdefault(event.creator, set()).add(event.thread_id)
                elif isinstance(event, ev.CoAuthorAdded):
                    self._threads_of.setdefault(event.co_author, set()).add(event.thread_id)
            outcome.index_update = index_update(self.model.state, step, command.content)
            return step, events, None if self.witness is None else self.witness(self.model.state, events)
        if isinstance(command, RegisterCommand):
            if command.name in self.authorities:
                raise ApiError("NameReserved", f"{command.name!r} is a treasury authority")
            known = pending_names.get(command.name) or (
                self.users[command.name].public_key if command.name in self.users else None
            )
            if known is not None and known != command.public_key:
                raise ApiError("NameTaken", f"{command.name!r} is registered with another key")
            record = UserRecord(command.name, command.public_key, self.is_premium(command.name))
            if known is None:
                pending_names[command.name] = command.public_key
                batch.users.append((record.name, record.public_key, record.premium, self.clock.now()))
            return record
        if command.name not in self.users:
            raise ApiError("UnknownUser", f"{command.name!r} is not registered")
        current = self.users[command.name]
        record = UserRecord(current.name, current.public_key, command.premium)
        batch.users.append((record.name, record.public_key, record.premium, self.clock.now()))
        return record

    def _reset(self, outcome: _Outcome) -> None:
        try:
            with self.state_lock:
                self.journal.clear_world()
                self.model = Model(self.config.params, policy=self.config.policy, check=self.config.check)
                self.journal_seq = 0
                self._threads_of = {}
                self._startup_seq = 0
                self.generation += 1
            # Outside the state lock: the indexer's catch-up takes its own lock, then the state lock.
            self.indexer.reset(self.generation)
            outcome.result = 0
        except Exception as error:
            log.exception("reset failed")
            outcome.error = StorageFailed(f"reset failed: {error}")
        self._resolve([outcome])

    def _commit_failed(self, outcomes: list[_Outcome], error: Exception) -> None:
        self.degraded = f"the journal could not be written: {storage_cause(error)}"
        for outcome in outcomes:
            if outcome.error is None:
                outcome.error = StorageFailed(f"{self.degraded}; nothing was changed")
                outcome.step_index = None
        try:
            self._rebuild()
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
                state = (self.model.state, self.model.analytics)
                self.journal.save_snapshot(self.journal_seq, self.fingerprint, state)
            if self._batches % 1000 == 0:
                self.journal.prune_requests(self.clock.now() - 2 * self.config.max_skew)
        except Exception as error:  # both only save time later: the journal, already committed, is the truth
            log.warning("journal maintenance skipped: %s", storage_cause(error))

    # -- the index --------------------------------------------------------------------------------------------------

    def _queue_index(self, outcomes: list[_Outcome], seq: int) -> None:
        updates = [o.index_update for o in outcomes if o.error is None and o.index_update is not None]
        self.indexer.follow(self.generation, seq, updates)

    def _head(self) -> int:
        with self.state_lock:
            return self.journal_seq

    def _index_facts(self, keys: list[tuple[str, str]]) -> list[Facts]:
        """The indexer's catch-up reads messages from the live model (`reference_backend.indexer.Lookup`)."""
        facts: list[Facts] = []
        with self.state_lock:
            for thread_id, content_hash in keys:
                thread = self.model.state.threads.get(thread_id)
                message = thread.messages.get(content_hash) if thread else None
                if message is not None:
                    facts.append((thread_id, message.content_hash, message.author, message.privacy.value,
                                  message.state.value, message.created_at))  # fmt: skip
        return facts

    # -- reads ------------------------------------------------------------------------------------------------------

    def read(self, function: Callable[..., T], *args: Any) -> T | None:
        """Run a short read now if the state lock is free (None if the writer holds it: the caller then runs it on
        a worker thread instead of blocking the event loop behind a journal commit)."""
        if not self.state_lock.acquire(blocking=False):
            return None
        try:
            return function(*args)
        finally:
            self.state_lock.release()

    def texts(self, hashes: list[str]) -> dict[str, str]:
        """Message texts by hash: from a bounded LRU cache (texts never change), else from the content table."""
        out: dict[str, str] = {}
        missing: list[str] = []
        with self._text_lock:
            for content_hash in hashes:
                text = self._text_cache.get(content_hash)
                if text is None:
                    missing.append(content_hash)
                else:
                    self._text_cache.move_to_end(content_hash)
                    out[content_hash] = text
        if missing:
            found = self.journal.contents(missing)
            self._cache_texts(found.items())
            out.update(found)
        return out

    def _cache_texts(self, items: Iterable[tuple[str, str]]) -> None:
        with self._text_lock:
            for content_hash, text in items:
                if content_hash not in self._text_cache:
                    self._text_cache[content_hash] = text
                    self._text_bytes += len(text)
            while self._text_bytes > TEXT_CACHE_BYTES and self._text_cache:
                _, dropped = self._text_cache.popitem(last=False)
                self._text_bytes -= len(dropped)

    def stake_quote(self, viewer: str, thread_id: str) -> StakeQuote:
        """The recommended stake and whether `viewer` could submit a spec to the thread now."""
        params = self.model.params
        with self.state_lock:
            thread = self.model.state.threads.get(thread_id)
            if thread is None:
                raise unknown_thread(thread_id)
            is_open = (
                viewer not in thread.co_authors
                and viewer not in thread.pending_spec_authors
                and len(thread.co_authors) + len(thread.pending_spec_authors) < params.max_coauthors
                and thread.pending < params.max_pending
            )
            recommended = self.model.recommended_stake(thread_id, self.now())
        return StakeQuote(thread_id=thread_id, recommended_stake=recommended, min_stake=params.min_stake, open=is_open)

    def thread_view(self, viewer: str, thread_id: str) -> ThreadView:
        """What `viewer` may see of a thread (`choir_model.privacy`); UnknownThread if it does not exist."""
        premium = self.is_premium(viewer)
        with self.state_lock:
            thread = self.model.state.threads.get(thread_id)
            if thread is None:
                raise unknown_thread(thread_id)
            role = role_of(viewer, thread.co_authors, premium)
            shown = visible_metadata(role)
            out: dict[str, Any] = {
                "thread_id": thread.thread_id,
                "role": role.value,
                "created_at": thread.created_at,
                "updated_at": thread.updated_at,
                "message_count": thread.message_count,
            }
            if "co_authors" in shown:
                out["co_authors"] = list(thread.co_authors)
            if "balance" in shown:
                n = len(thread.co_authors)
                unit = self.model.params.unit
                out["balance"] = thread.balance
                out["temperature"] = self.model.economics.temperature(thread.balance, n, unit)
                out["frequency"] = self.model.economics.frequency(n)
            if "content_hashes" in shown:
                out["content_hashes"] = sorted(thread.messages)
            rows = []
            for message in sorted(thread.messages.values(), key=lambda m: (m.created_at, m.content_hash)):
                is_author = message.author == viewer
                view = view_of(role, message.privacy, message.state, is_author)
                if view is View.NONE:
                    continue
                row: dict[str, Any] = {
                    "view": view.value,
                    "state": message.state.value,
                    "privacy": message.privacy.value,
                    "created_at": message.created_at,
                    "can_cite": can_cite(role, message.privacy, message.state, is_author),
                    "content_hash": message.content_hash,
                }
                if view is View.FULL:
                    row["author"] = message.author
                    row["is_spec"] = message.is_spec
                    if role is Role.CO_AUTHOR or is_author:
                        row["stake"] = message.stake
                        row["deadline"] = message.deadline
                    if role is Role.CO_AUTHOR:
                        row["votes"] = {v: message.votes[v] for v in message.voters if v in message.votes}
                rows.append((row, message.privacy, view))
        texts = self.texts([row["content_hash"] for row, _, _ in rows])
        messages = []
        for row, privacy, view in rows:
            text = texts.get(row["content_hash"], "")
            if view is View.FULL:
                row["content"] = text
            else:
                del row["content_hash"]
                row["summary"] = self.summarizer.summarize(text, privacy, view)
            messages.append(MessageView(**row))
        return ThreadView(**out, messages=messages)

    def search(self, viewer: str, query: str, limit: int, within: str | None = None) -> SearchResults:
        """Messages `viewer` may search (`choir_model.privacy.can_search`) ranked by relevance to `query`: the
        engine filters on the payload the indexer derived from `can_search`; each hit is checked again on the live
        model, which only drops hits the index has not caught up with yet."""
        if self.indexed_seq < self._startup_seq:
            self.wait_indexed(self._startup_seq, self.config.search_wait)
        indexed = self.indexed_seq
        premium = self.is_premium(viewer)
        with self.state_lock:
            threads = frozenset(self._threads_of.get(viewer, ()))
        outside = Role.PREMIUM if premium else Role.PUBLIC
        candidates = self.index.search(query, Audience(outside, threads, within), limit)
        allowed = []
        with self.state_lock:
            for candidate in candidates:
                thread = self.model.state.threads.get(candidate.thread_id)
                message = thread.messages.get(candidate.content_hash) if thread is not None else None
                if message is not None and can_search(
                    role_of(viewer, thread.co_authors, premium),  # type: ignore[union-attr]
                    message.privacy,
                    message.state,
                    message.author == viewer,
                ):
                    allowed.append((candidate, message.author, message.state.value, message.privacy))
        texts = self.texts([c.content_hash for c, _, _, _ in allowed])
        hits = [
            SearchHit(
                thread_id=c.thread_id,
                content_hash=c.content_hash,
                author=author,
                state=state,
                privacy=Privacy(privacy).value,
                score=round(c.score, 6),
                snippet=snippet(texts.get(c.content_hash, "")),
            )
            for c, author, state, privacy in allowed
        ]
        return SearchResults(query=query, count=len(hits), indexed_seq=indexed, results=hits)

    def wallet(self, user: str) -> int:
        with self.state_lock:
            return self.model.state.wallets.get(user, 0)

    def snapshot(self) -> dict[str, Any]:
        with self.state_lock:
            return self.model.snapshot()

    def reset(self, request: Request | None = None) -> concurrent.futures.Future[Any]:
        """Queue a reset of the world (the HTTP layer allows it on manual-clock test servers only)."""
        return self.submit(ResetCommand(request))

    def set_clock(self, now: int) -> int:
        if not isinstance(self.clock, ManualClock):
            raise ApiError("NotFound", "this server runs on the system clock")
        self._raise_clock_high(now)
        self.clock.set(now)
        return now

    def persist_nonce(self, principal: Principal) -> concurrent.futures.Future[Any]:
        """Make a verified request's nonce durable (the future resolves after the commit)."""
        return self.submit(NonceCommand(Request(principal.user, principal.nonce, principal.timestamp)))
