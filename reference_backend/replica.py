"""A worker's replica of the writer's state (`choir serve --workers N`, `reference_backend.workers`): the same
model, users and published read states, rebuilt from the journal and then following it row by row.

Why it follows the journal and not a stream of states: the journal is already the truth every start rebuilds from,
so a replica is exactly a start that never stops: the newest snapshot the writer verified, the rows after it,
then, each time the writer says its published state reached row `seq` (`follow`), the rows up to `seq` read from
the journal (SQLite WAL: readers never block the writer) and applied to the replica's own model. Replaying a
journal row is deterministic (SPEC section 8: a trace replays to the same snapshot), so the replica goes through
the writer's states in order, one committed row at a time, and never past what the journal holds. The model's
invariants were checked by the writer on every row (`BackendConfig.check`); the replica replays without them.

It offers what the facade (`reference_backend.service.Backend`) reads of a writer (`published`, `users`,
`user_keys`, `listeners`, `witness`, `state_lock`, ...), so views, the response cache and the WebSocket hub run on
it unchanged: listeners receive every replayed row as an `Accepted`, with what the witness read right after it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from typing import Any

from choir_model import Model
from choir_model.trace import step_from_json
from reference_backend.auth import parse_public_key
from reference_backend.commands import Accepted, UserRecord
from reference_backend.config import BackendConfig
from reference_backend.journal import Journal
from reference_backend.readstate import Publisher, ReadState
from reference_backend.writer import Listener, Witness, load_world, model_fingerprint

log = logging.getLogger("reference_backend")


class Replica:
    """The writer's state as a worker sees it; `load` rebuilds it, `follow` moves it on (one thread at a time: the
    worker's event loop)."""

    def __init__(self, config: BackendConfig, journal: Journal) -> None:
        self.config = config
        self.journal = journal
        self.fingerprint = model_fingerprint(config)
        self.model = Model(config.params, policy=config.policy)
        self.users: dict[str, UserRecord] = {}
        self.user_keys: dict[str, Any] = {}
        self.listeners: list[Listener] = []
        self.witness: Witness | None = None
        self.state_lock = threading.RLock()  # held while rows apply; the hub's snapshots take it for one cut
        self.generation = 0
        self.failed: str | None = None  # the facade's health reads these; the writer's process answers writes
        self.degraded: str | None = None
        self._publisher = Publisher()
        self.published: ReadState = self._publisher.publish_all(self.model, 0, 0, {})

    def load(self, generation: int) -> None:
        """Rebuild from the newest snapshot the writer verified (`Journal.trust`) and every row after it."""
        world = load_world(self.journal, self.config, self.fingerprint, "off")
        with self.state_lock:
            self.model, self.users, self.user_keys = world.model, world.users, world.keys
            self.generation = generation
            self.published = self._publisher.publish_all(self.model, world.seq, generation, world.threads_of)
        log.info("replica loaded: snapshot at %d, journal at %d", world.start, world.seq)

    def follow(self, generation: int, seq: int, users: Iterable[UserRecord] = ()) -> None:
        """The writer published journal row `seq` of world `generation` and wrote `users`: apply the rows up to
        `seq` (a new generation, a reset world, is loaded afresh), publish, then tell the listeners."""
        for record in users:  # replaced one at a time, as the writer does: readers never miss a registered user
            self.user_keys[record.name] = parse_public_key(record.public_key)
            self.users[record.name] = record
        if generation != self.generation:
            self.load(generation)
            return
        accepted: list[Accepted] = []
        with self.state_lock:
            model = self.model
            for row, line in self.journal.lines(after=self.published.seq):
                if row > seq:
                    break
                step = step_from_json(json.loads(line), row)
                self._publisher.before(model, step)
                events = model.apply(step)
                self._publisher.after(events)
                witnessed = None if self.witness is None else self.witness(model.state, events)
                accepted.append(Accepted(row, step, events, witnessed))
            if accepted:
                self.published = self._publisher.publish(model, accepted[-1].seq, generation, self.published)
        if accepted:
            for listener in self.listeners:
                try:
                    listener(accepted)
                except Exception:
                    log.exception("listener failed")
