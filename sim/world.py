"""The world as an agent sees it: the `AgentWorld` protocol, and the agent API written once (`AgentActions`).

Why: the same agent classes act on two worlds, the simulator's in-process `sim.engine.World` (the model applies
each step on a simulated clock) and the load test's `loadtest.remote.RemoteWorld` (a live backend over HTTP and
WebSocket on real time). An agent reads state and acts only through `AgentWorld`, so it never knows which world it
is in. What an action means (how a spec is staked and recorded for its voters, which threads a draw may pick, how
much a divestment may take) is decided once, here, over a few primitives each world supplies: the clock, how a
typed step is carried out (`act`), fresh content, and what a client can read before acting (is a thread open, a
co-author's divestment view). This module imports nothing of the simulator's, so agents, the engine and the
scenario loader depend on it and not on each other.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from choir_model import CreateThread, Divest, Params, RequestPublic, Step, SubmitMessage, SubmitSpec
from choir_model.ops import divest_bound

Process = Generator[Any, Any, None]
"""An agent's behaviour: a generator that yields `world.env.timeout(seconds)` between its actions."""


@dataclass(frozen=True, slots=True)
class Ballot:
    """What a voter sees of a Pending message: who wrote it, its latent quality in [0, 1] (what an honest
    reader would judge), whether it is a spec, its deadline, and for a spec its stake as a ratio to the stake the
    formula recommended when it was submitted (the model's StakeAnalytics; None for a public request)."""

    thread_id: str
    content_hash: str
    author: str
    quality: float
    is_spec: bool
    deadline: int
    stake_ratio: float | None = None


class Actor(Protocol):
    """What a world needs of an agent: the identities it controls and fresh content hashes for its messages."""

    @property
    def identities(self) -> tuple[str, ...]: ...

    def next_hash(self, identity: str) -> str: ...


class Clock(Protocol):
    """The part of `simpy.Environment` agents use: a pause (to yield) and starting another process."""

    def timeout(self, delay: float) -> Any: ...

    def process(self, generator: Process) -> Any: ...


@runtime_checkable
class AgentWorld(Protocol):
    """Everything an agent may read or do. Amounts are base units, times integer seconds (spec section 3); an
    action returns None when it was carried out, else the reason it was not (the model's error name)."""

    params: Params
    epoch: int
    env: Clock
    thread_ids: list[str]

    @property
    def now(self) -> int: ...

    def to_units(self, choir: float) -> int: ...

    def agent_of(self, identity: str) -> Actor | None: ...

    def wallet(self, identity: str) -> int: ...

    def coauthored(self, identity: str) -> list[str]: ...

    def recommended_stake(self, thread_id: str) -> int: ...

    def pick_open_thread(
        self, rng: random.Random, identity: str, candidates: list[str] | None = None, tries: int = 8
    ) -> str | None: ...

    def submit_spec(self, agent: Actor, identity: str, thread_id: str, stake: int, quality: float) -> str | None: ...

    def post_public(self, agent: Actor, identity: str, thread_id: str, quality: float) -> str | None: ...

    def create_thread(self, identity: str, deposit: int) -> str | None: ...

    def divest_max(self, identity: str, thread_id: str, fraction: float = 1.0) -> str | None: ...


class AgentActions(ABC):
    """The agent API over a world's primitives (see the module docstring). A world sets `params`, `unit` and
    `agents_by_identity`, and implements the abstract methods; `AgentWorld`'s reads it answers itself."""

    params: Params
    unit: int
    agents_by_identity: Mapping[str, Actor]

    # -- what each world supplies ------------------------------------------------------------------------------

    @property
    @abstractmethod
    def now(self) -> int:
        """Simulated seconds."""

    @abstractmethod
    def act(self, step: Step) -> str | None:
        """Carry out a typed step (its `now` is the world's clock when built); None or why it was refused."""

    @abstractmethod
    def open_for_spec(self, identity: str, thread_id: str) -> bool:
        """What a client sees before staking: `identity` may submit a spec to the thread now."""

    @abstractmethod
    def open_threads(self) -> Sequence[str]:
        """The threads a draw picks among when the agent names no candidates."""

    @abstractmethod
    def new_content(self, agent: Actor, identity: str, description: str) -> str:
        """The content hash of a fresh message by `identity` (`description` says what it is, for worlds that send
        a text)."""

    @abstractmethod
    def note_ballot(self, identity: str, thread_id: str, content_hash: str, quality: float, stake: int) -> None:
        """Remember what voters will be shown of a message about to be sent (its latent quality; for a spec its
        stake, 0 for a public request), before it is sent: its approval request may arrive first."""

    @abstractmethod
    def new_thread_id(self) -> str:
        """An id for a thread an agent creates."""

    @abstractmethod
    def divest_view(self, identity: str, thread_id: str) -> tuple[int, int] | None:
        """The thread's (balance, co-authors) as `identity` sees them, or None while its divest cooldown runs
        (spec section 6) or when it cannot see them."""

    # -- the agent API, once ---------------------------------------------------------------------------------

    def to_units(self, choir: float) -> int:
        """CHOIR (a scenario float) -> base units, rounded to the nearest unit."""
        return round(choir * self.unit)

    def agent_of(self, identity: str) -> Actor | None:
        return self.agents_by_identity.get(identity)

    def pick_open_thread(
        self, rng: random.Random, identity: str, candidates: list[str] | None = None, tries: int = 8
    ) -> str | None:
        """A random thread open for a spec by `identity`, or None after `tries` draws: among `candidates` if
        given, else among the world's open threads."""
        pool = candidates if candidates is not None else self.open_threads()
        if not pool:
            return None
        for _ in range(tries):
            thread_id = pool[rng.randrange(len(pool))]
            if self.open_for_spec(identity, thread_id):
                return thread_id
        return None

    def submit_spec(self, agent: Actor, identity: str, thread_id: str, stake: int, quality: float) -> str | None:
        content_hash = self.new_content(agent, identity, f"a spec by {identity} for {thread_id}")
        self.note_ballot(identity, thread_id, content_hash, quality, stake)
        return self.act(SubmitSpec(identity, self.now, thread_id, content_hash, stake))

    def post_public(self, agent: Actor, identity: str, thread_id: str, quality: float) -> str | None:
        """A co-author writes a message (Private until approved) and asks for it to be made public."""
        content_hash = self.new_content(agent, identity, f"a message by {identity} in {thread_id}")
        error = self.act(SubmitMessage(identity, self.now, thread_id, content_hash))
        if error is not None:
            return error
        self.note_ballot(identity, thread_id, content_hash, quality, 0)
        return self.act(RequestPublic(identity, self.now, thread_id, content_hash))

    def create_thread(self, identity: str, deposit: int) -> str | None:
        return self.act(CreateThread(identity, self.now, self.new_thread_id(), deposit))

    def divest_max(self, identity: str, thread_id: str, fraction: float = 1.0) -> str | None:
        """Divest `fraction` of the largest amount the client computes the divestment guard admits
        ((balance - minimum) // N, `divest_bound`), once the cooldown is over; the world's rules decide."""
        view = self.divest_view(identity, thread_id)
        if view is None or view[1] <= 0:
            return None
        amount = int(divest_bound(view[0], view[1], self.params) * fraction)
        if amount <= 0:
            return None
        return self.act(Divest(identity, self.now, thread_id, amount))
