"""`Backend`: the reference backend without HTTP, a facade over three parts with one job each.

* **The writer** (`reference_backend.writer`) is the only thread that changes the state: commands queue up, are
  applied to `choir_model.Model` and committed to the journal in groups, and their futures resolve only after the
  commit, so what a client can observe survives a crash.
* **The indexer** (`reference_backend.indexer`) keeps the search index behind the journal. Search is eventually
  consistent, like any search engine: a message is found once the indexer has reached its journal row, usually
  milliseconds later, and every answer says how far the index has got (`indexed_seq`). Only right after a start
  does search wait (up to `search_wait`) for the index to catch up with the journal.
* **The views** (`reference_backend.views`) decide what a viewer may see, as pure functions of the state. Readers
  run them on the state the writer published after its last commit (`reference_backend.readstate`), with no lock,
  so a read never waits for a commit's disk write; message texts come from `reference_backend.texts`.
  Privacy is filtered inside the search engine and checked again against the live model, so a lagging index can
  only miss a message, never show one it should not.

The facade also owns what a signed request needs before it reaches the writer: keys (`key_of`), the replay guard
and its floor across restarts (`reference_backend.auth`), and the rate limiter. Hooks for the real-time parts
(spec section 10): `add_listener` is called after every commit with the accepted steps and their events (the
WebSocket hub and cache invalidation subscribe there); `witness` reads per operation what listeners need; `chain`,
when set, sees every operation before the model does (`reference_backend.chain`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import threading
from collections.abc import Mapping
from typing import Any

from choir_model import Model
from choir_model.privacy import Role
from reference_backend import views
from reference_backend.auth import AuthFailure, Principal, ReplayGuard, dev_keypair, parse_public_key, verify_request
from reference_backend.clock import Clock, ManualClock, SystemClock
from reference_backend.commands import (
    Command,
    NonceCommand,
    PremiumCommand,
    RegisterCommand,
    Request,
    ResetCommand,
    StepCommand,
)
from reference_backend.config import BackendConfig
from reference_backend.content import StatisticsSummarizer, Summarizer
from reference_backend.embedding import make_embedder
from reference_backend.errors import ApiError, rate_limited
from reference_backend.indexer import Facts, Indexer
from reference_backend.journal import Journal
from reference_backend.ratelimit import RateLimiter
from reference_backend.readstate import ReadState
from reference_backend.schemas import SearchResults, StakeQuote, ThreadView
from reference_backend.search import Audience, TextVectors, open_index
from reference_backend.texts import TextCache
from reference_backend.writer import JournalCorrupt, Listener, Witness, Writer

# The commands callers submit, importable from here with the facade (tests, benchmarks).
__all__ = ["Backend", "JournalCorrupt", "PremiumCommand", "RegisterCommand", "StepCommand"]

log = logging.getLogger("reference_backend")

CLOCK_HIGH = "manual_clock_high"


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
        self.authorities: dict[str, str] = dict(config.authorities) or {
            name: str(dev_keypair(name).pubkey()) for name in config.params.treasury_authorities
        }
        self._authority_keys = {name: parse_public_key(key) for name, key in self.authorities.items()}
        self._texts = TextCache(self.journal)
        self.indexer = Indexer(self.index, self.journal, self._index_facts, self._texts.get)
        self.writer = Writer(config, clock, self.journal, self.indexer, self._texts, self.authorities)
        self.state_lock = self.writer.state_lock
        self._clock_lock = threading.Lock()

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
        fresh = self.writer.open()
        floor = None if fresh else self._replay_floor()
        if isinstance(self.clock, ManualClock):
            self._raise_clock_high(self.clock.now())
        self.replay.open(floor, self.journal.recent_requests(since=(floor or 0) + 1))
        self.writer.start()
        self.indexer.start(self.writer.head)
        # The rebuilt state lives as long as the server: keep it out of the cyclic collector's full passes, which
        # would otherwise walk every message of it now and then, in the middle of some request.
        gc.freeze()

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
        self.writer.stop()
        self.indexer.stop()
        self.index.close()
        self.journal.close()

    def add_listener(self, listener: Listener) -> None:
        """Register a callback for accepted operations (runs on the writer thread: keep it quick)."""
        self.writer.listeners.append(listener)

    # -- the writer's state, as readers see it ---------------------------------------------------------------------

    @property
    def model(self) -> Model:
        """The writer's live model (read it under `state_lock`; request handlers read `published` instead)."""
        return self.writer.model

    @property
    def published(self) -> ReadState:
        """The state as of the last commit (`reference_backend.readstate`): what every read answers from."""
        return self.writer.published

    @property
    def journal_seq(self) -> int:
        """The last committed journal row readers see."""
        return self.writer.published.seq

    @property
    def generation(self) -> int:
        return self.writer.published.generation

    @property
    def failed(self) -> str | None:
        return self.writer.failed

    @property
    def degraded(self) -> str | None:
        return self.writer.degraded

    @property
    def witness(self) -> Witness | None:
        return self.writer.witness

    @witness.setter
    def witness(self, witness: Witness | None) -> None:
        self.writer.witness = witness

    @property
    def chain(self) -> Any:
        """The `reference_backend.chain.Chain` in front of the model, if any (`choir serve --chain`)."""
        return self.writer.chain

    @chain.setter
    def chain(self, chain: Any) -> None:
        self.writer.chain = chain

    # White-box handles for the tests: the writer's queue and commit count, and a forced rebuild.
    @property
    def _queue(self) -> Any:
        return self.writer.queue

    @property
    def _batches(self) -> int:
        return self.writer.batches

    def _rebuild(self) -> None:
        self.writer.rebuild()

    def store_snapshot(self) -> None:
        """Store a snapshot now (`reference_backend.chain.attach`, after a chain was brought level with many rows)."""
        self.writer.store_snapshot()

    # -- what the HTTP layer asks ----------------------------------------------------------------------------------

    def now(self) -> int:
        return self.clock.now()

    @property
    def indexed_seq(self) -> int:
        """How far searches see the journal (`reference_backend.indexer`)."""
        return self.indexer.indexed_seq

    def wait_indexed(self, seq: int, timeout: float) -> bool:
        return self.indexer.wait(seq, timeout)

    @property
    def searches_inline(self) -> bool:
        """May a search run on the event loop? Yes on the embedded engine with BM25 or the hashing embedder (a query is
        about a millisecond of CPU that holds the GIL) once the index has caught up with the journal this process
        started from; no with a Qdrant server (network I/O), a model embedder (long CPU), or while a search would
        still wait for the catch-up."""
        light = not self.config.embedder.startswith("sentence-transformers")
        return self.index.in_process and light and self.indexed_seq >= self.writer.opened_seq

    def key_of(self, name: str) -> Any:
        """The public key that signs for `name`: a treasury authority's configured key, else a registered one."""
        key = self._authority_keys.get(name)
        return key if key is not None else self.writer.user_keys.get(name)

    def is_premium(self, name: str) -> bool:
        record = self.writer.users.get(name)
        return record is not None and record.premium

    def submit(self, command: Command) -> concurrent.futures.Future[Any]:
        """Queue a command for the writer; the future resolves after the journal commit (or with the error)."""
        return self.writer.submit(command)

    def execute(self, command: Command, timeout: float | None = 30.0) -> Any:
        """Submit and wait (for callers outside the event loop: tests, benchmarks, bulk loads)."""
        return self.submit(command).result(timeout)

    def reset(self, request: Request | None = None) -> concurrent.futures.Future[Any]:
        """Queue a reset of the world (the HTTP layer allows it on manual-clock test servers only)."""
        return self.submit(ResetCommand(request))

    async def verify(
        self,
        headers: Mapping[str, str],
        method: str,
        target: str,
        body: bytes,
        own_key: Any = None,
        route: str | None = None,
    ) -> Principal:
        """The signer of a request (`reference_backend.auth.verify_request`, `AuthFailure` otherwise), admitted and
        counted against the rate limit of `route` (`admit`; 429 `RateLimited` when it is reached). A user unknown
        here is looked up once more after `caught_up`: a worker's replica may not have applied a registration the
        writer has already answered."""
        now = self.now()
        try:
            principal = self._verify(headers, method, target, body, now, own_key)
        except AuthFailure as failure:
            if not (failure.unknown and await self.caught_up()):
                raise
            principal = self._verify(headers, method, target, body, now, own_key)
        wait = await self.admit(principal, now, route)
        if wait is not None and route is not None:
            raise rate_limited(route, wait)
        return principal

    def _verify(
        self, headers: Mapping[str, str], method: str, target: str, body: bytes, now: int, own_key: Any
    ) -> Principal:
        max_skew = self.config.max_skew
        return verify_request(headers, method, target, body, now, max_skew, self.key_of, self.replay, own_key=own_key)

    async def admit(self, principal: Principal, now: int, route: str | None) -> int | None:
        """After the signature verified at `now` (the nonce is in `replay`): a request signed ahead of the server
        clock has its nonce persisted before anything else happens, so no restart can accept it again; then the
        request is counted against the limit of `route`. None if it is admitted, else the seconds to wait
        (`RateLimiter`: a refused request is not counted; its nonce stays spent, as for any refused request)."""
        if principal.timestamp > now:
            await asyncio.wrap_future(self.persist_nonce(principal))
        return None if route is None else self.limiter.admit(principal.user, route, self.now())

    async def caught_up(self) -> bool:
        """Whether a user unknown a moment ago may be known now: never in the writer's process, whose user table is
        the truth; a worker's replica may lag a registration (`reference_backend.workers`)."""
        return False

    def persist_nonce(self, principal: Principal) -> concurrent.futures.Future[Any]:
        """Make a verified request's nonce durable (the future resolves after the commit)."""
        return self.submit(NonceCommand(Request(principal.user, principal.nonce, principal.timestamp)))

    def set_clock(self, now: int) -> int:
        if not isinstance(self.clock, ManualClock):
            raise ApiError("NotFound", "this server runs on the system clock")
        self._raise_clock_high(now)
        self.clock.set(now)
        return now

    # -- reads ------------------------------------------------------------------------------------------------------

    def texts(self, hashes: list[str]) -> dict[str, str]:
        """Message texts by hash (`reference_backend.texts`)."""
        return self._texts.get(hashes)

    def _index_facts(self, keys: list[tuple[str, str]]) -> list[Facts]:
        return views.message_facts(self.published.model.state, keys)

    def stake_quote(self, viewer: str, thread_id: str) -> StakeQuote:
        """The recommended stake and whether `viewer` could submit a spec to the thread now."""
        premium = self.is_premium(viewer)
        return views.stake_quote(self.published.model, viewer, thread_id, self.now(), premium)

    def thread_view(self, viewer: str, thread_id: str) -> ThreadView:
        """What `viewer` may see of a thread (`choir_model.privacy`); UnknownThread if it does not exist."""
        premium = self.is_premium(viewer)
        draft = views.thread_draft(self.published.model, viewer, premium, thread_id)
        return views.thread_view(draft, self.texts(draft.hashes), self.summarizer)

    async def search_async(self, viewer: str, query: str, limit: int, within: str | None = None) -> SearchResults:
        """`search` from the event loop: on it when `searches_inline`, else on a thread."""
        if self.searches_inline:
            return self.search(viewer, query, limit, within)
        return await asyncio.to_thread(self.search, viewer, query, limit, within)

    def search(self, viewer: str, query: str, limit: int, within: str | None = None) -> SearchResults:
        """Messages `viewer` may search (`choir_model.privacy.can_search`) ranked by relevance to `query`: the
        engine filters on the payload the indexer derived from `can_search`; each hit is checked again on the live
        model, which only drops hits the index has not caught up with yet."""
        if self.indexed_seq < self.writer.opened_seq:
            self.wait_indexed(self.writer.opened_seq, self.config.search_wait)
        indexed = self.indexed_seq
        premium = self.is_premium(viewer)
        outside = Role.PREMIUM if premium else Role.PUBLIC
        published = self.published
        threads = published.threads_of.get(viewer, frozenset())
        candidates = self.index.search(query, Audience(outside, threads, within), limit)
        admitted = views.searchable(published.model.state, viewer, premium, candidates)
        texts = self.texts([candidate.content_hash for candidate, _, _, _ in admitted])
        return views.search_results(query, indexed, admitted, texts)

    def wallet(self, user: str) -> int:
        return self.published.model.state.wallets.get(user, 0)

    def snapshot(self) -> dict[str, Any]:
        return self.published.model.snapshot()
