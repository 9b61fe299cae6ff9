"""Response caching with the seeds' TTLs and event-driven invalidation (seeds Impl_API "Caching Strategy").

Why it is safe: a cached answer must never be staler than the state it claims, and the backend's model changes on
the writer thread while reads run anywhere. So every entry records `as_of`, the journal position its computation
saw at least (read before computing), and the cache keeps, per invalidation tag, the last journal position that
touched it (fed by the writer's listener, from the model's own events). An entry is served only when

* its TTL has not run out on the injected clock (thread state 5 min, search 1 h, user data 24 h), and
* no tag of it was touched after its `as_of`, and
* the listener has processed every committed operation (`applied == backend.journal_seq`): the writer resolves a
  client's future before it calls listeners, so without this check a client could read a stale entry right after
  its own acknowledged write.

A computation that raced with a write touching its tags is not stored. A hit then claims the current journal
position (nothing it depends on changed since it was computed), a miss the position read before computing; both
go out in the `X-Choir-As-Of` header, with `X-Choir-Cache: hit|miss`.

Invalidation, by the seeds' three rules (`invalidate_cache`) with one correction: every operation on a thread clears
that thread's cached views (ThreadUpdate -> clear_thread_cache); a change of a message's state or of a thread's
co-authors clears every search result (StateChange -> full_invalidate); and a new message clears every search result
too. The seeds' NewMessage -> partial_invalidate keeps searches inside other threads, which is sound only if a hit's
score depends on its own thread; BM25's inverse document frequency is collection-wide, so any new message changes
the scores (and possibly the order) of every search's hits.
User data (wallets) is cleared for every user an operation or its events name.
Premium status is part of the key, so granting it needs no invalidation. A reset (test servers) clears everything.
Entries are bounded (LRU), so memory stays flat whatever the traffic.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from choir_model import Step
from choir_model import events as ev
from reference_backend.clock import Clock

if TYPE_CHECKING:
    from reference_backend.commands import Accepted
    from reference_backend.service import Backend

T = TypeVar("T")

THREAD_STATE, SEARCH, USER_DATA = "thread_state", "search", "user_data"
SEED_TTLS: dict[str, int] = {THREAD_STATE: 5 * 60, SEARCH: 60 * 60, USER_DATA: 24 * 60 * 60}
"""Impl_API CacheConfig: thread_state 5 minutes, search_results 1 hour, user_data 24 hours (seconds)."""

ALL_SEARCHES = "search:*"
"""The one tag of every cached search (scores are collection-wide, so nothing narrower is sound)."""
SEARCH_CHANGES = (
    ev.MessageCreated,
    ev.MessagePublic,
    ev.MessageRejected,
    ev.MessageExpired,
    ev.CoAuthorAdded,
    ev.PublicRequested,
)
_NAME_FIELDS = ("user", "creator", "author", "co_author")


def thread_tag(thread_id: str) -> str:
    return f"thread:{thread_id}"


def user_tag(name: str) -> str:
    return f"user:{name}"


def invalidations(step: Step, events: Iterable[ev.Event]) -> set[str]:
    """The tags one accepted operation touches (the seeds' invalidation rules; see the module docstring)."""
    tags = {user_tag(step.actor)}
    thread_id = step.thread_id
    if thread_id is not None:
        tags.add(thread_tag(thread_id))
    for event in events:
        for name in _NAME_FIELDS:
            value = getattr(event, name, None)
            if isinstance(value, str):
                tags.add(user_tag(value))
        if isinstance(event, ev.StakeSettled):
            tags.update(user_tag(name) for name, _ in event.to_wallets)
        if isinstance(event, SEARCH_CHANGES):  # a new message too: BM25's IDF moves every score (module docstring)
            tags.add(ALL_SEARCHES)
    return tags


@dataclass(slots=True)
class _Entry:
    value: Any
    as_of: int
    expires: int
    tags: tuple[str, ...]


@dataclass
class CacheStats:
    hits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEED_TTLS, 0))
    misses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEED_TTLS, 0))
    expired: int = 0
    invalidated: int = 0
    discarded: int = 0

    def ratio(self, kind: str | None = None) -> float:
        hits = sum(self.hits.values()) if kind is None else self.hits[kind]
        total = hits + (sum(self.misses.values()) if kind is None else self.misses[kind])
        return hits / total if total else 0.0


class CacheReport(BaseModel):
    """Cache counters since the server started (hit ratio overall and per kind)."""

    hits: dict[str, int]
    misses: dict[str, int]
    hit_ratio: float
    hit_ratio_by_kind: dict[str, float]
    expired: int
    invalidated: int
    discarded: int
    entries: int
    applied_seq: int


@dataclass(frozen=True, slots=True)
class Ticket:
    """Taken before a computation: the journal position and world generation it will see at least."""

    as_of: int
    generation: int


@dataclass(frozen=True, slots=True)
class Cached:
    value: Any
    as_of: int
    hit: bool


class ResponseCache:
    """The backend's read cache. Register it once per backend (it subscribes to the writer's listener)."""

    def __init__(
        self,
        backend: Backend,
        clock: Clock | None = None,
        ttls: dict[str, int] | None = None,
        max_entries: int = 50_000,
    ) -> None:
        self.backend = backend
        self.clock = clock or backend.clock
        self.ttls = dict(SEED_TTLS if ttls is None else ttls)
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._touched: dict[str, int] = {}
        self._lock = threading.Lock()
        self._applied_changed = threading.Condition(self._lock)
        self._generation = backend.generation
        self.applied = backend.journal_seq
        backend.add_listener(self._on_accepted)

    # -- invalidation (the writer thread) --------------------------------------------------------------------------

    def _on_accepted(self, accepted: list[Accepted]) -> None:
        with self._lock:
            self._check_generation()
            for a in accepted:
                for tag in invalidations(a.step, a.events):
                    self._touched[tag] = a.seq
                self.applied = max(self.applied, a.seq)
            self._applied_changed.notify_all()

    def _check_generation(self) -> None:
        """A reset started a new world: forget everything (the caller holds the lock)."""
        generation = self.backend.generation
        if generation != self._generation:
            self._generation = generation
            self._entries.clear()
            self._touched.clear()
            self.applied = self.backend.journal_seq

    def wait_applied(self, seq: int, timeout: float = 10.0) -> bool:
        """Block until the listener has processed journal position `seq` (tests and benchmarks)."""
        with self._applied_changed:
            return self._applied_changed.wait_for(lambda: self.applied >= seq, timeout)

    # -- lookups ------------------------------------------------------------------------------------------------------

    def ticket(self) -> Ticket:
        return Ticket(self.backend.journal_seq, self.backend.generation)

    def lookup(self, kind: str, key: Hashable) -> Cached | None:
        now = self.clock.now()
        with self._lock:
            self._check_generation()
            current = self.backend.journal_seq
            entry = self._entries.get((kind, key))
            if entry is None or self.applied != current:
                return None
            if now >= entry.expires:
                del self._entries[(kind, key)]
                self.stats.expired += 1
                return None
            if any(self._touched.get(tag, -1) > entry.as_of for tag in entry.tags):
                del self._entries[(kind, key)]
                self.stats.invalidated += 1
                return None
            self._entries.move_to_end((kind, key))
            self.stats.hits[kind] += 1
            return Cached(entry.value, current, True)

    def store(self, kind: str, key: Hashable, tags: Iterable[str], ticket: Ticket, value: Any) -> Cached:
        """Keep a computed value (unless a write touching it raced with the computation) and count the miss."""
        tags = tuple(tags)
        now = self.clock.now()
        with self._lock:
            self.stats.misses[kind] += 1
            self._check_generation()
            raced = ticket.generation != self._generation or any(
                self._touched.get(tag, -1) > ticket.as_of for tag in tags
            )
            if raced:
                self.stats.discarded += 1
            else:
                self._entries[(kind, key)] = _Entry(value, ticket.as_of, now + self.ttls[kind], tags)
                self._entries.move_to_end((kind, key))
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return Cached(value, ticket.as_of, False)

    def get(self, kind: str, key: Hashable, tags: Iterable[str], compute: Callable[[], T]) -> Cached:
        """A cached value, or compute, store and return it."""
        found = self.lookup(kind, key)
        if found is not None:
            return found
        ticket = self.ticket()
        return self.store(kind, key, tags, ticket, compute())

    # -- the backend's cached reads -----------------------------------------------------------------------------------

    def thread_key(self, viewer: str, thread_id: str) -> tuple[Hashable, tuple[str, ...]]:
        return (viewer, self.backend.is_premium(viewer), thread_id), (thread_tag(thread_id),)

    def search_key(self, viewer: str, query: str, limit: int, within: str | None) -> tuple[Hashable, tuple[str, ...]]:
        key = (viewer, self.backend.is_premium(viewer), query, limit, within)
        return key, (ALL_SEARCHES,)

    @staticmethod
    def wallet_key(user: str) -> tuple[Hashable, tuple[str, ...]]:
        return user, (user_tag(user),)

    async def search(self, viewer: str, query: str, limit: int, within: str | None = None) -> Cached:
        """Search results are valid as of the index position they report (`indexed_seq`), not the journal's."""
        key, tags = self.search_key(viewer, query, limit, within)
        found = self.lookup(SEARCH, key)
        if found is not None:
            return found
        generation = self.backend.generation
        result = await self.backend.search_async(viewer, query, limit, within)
        return self.store(SEARCH, key, tags, Ticket(result.indexed_seq, generation), result)

    def report(self) -> CacheReport:
        with self._lock:
            stats = self.stats
            return CacheReport(
                hits=dict(stats.hits),
                misses=dict(stats.misses),
                hit_ratio=round(stats.ratio(), 4),
                hit_ratio_by_kind={kind: round(stats.ratio(kind), 4) for kind in SEED_TTLS},
                expired=stats.expired,
                invalidated=stats.invalidated,
                discarded=stats.discarded,
                entries=len(self._entries),
                applied_seq=self.applied,
            )
