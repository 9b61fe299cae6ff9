"""The SimPy engine: one `World` per run, the only place where the simulator touches the model.

Every state change is a typed step (`choir_model.steps`) applied by `choir_model.Model.apply`, with every
invariant checked after every step unless the scenario says `check = "off"`. The world keeps the list of steps it
applied (successful or not): when a step breaks an invariant the run stops with `SimulationFailed`, and that list
is written as a SPEC section 8 trace (`choir_model.trace.write_trace`) that any driver replays.

Time is integer simulated seconds from the scenario's epoch. Agents are SimPy processes (plain generators); a vote
is a SimPy timeout scheduled when a message enters its approval window, one per voter that decides to vote, whose
callback casts the vote (a process per vote would double the scheduling cost of the commonest step); the keeper
is the crank that expires due approvals every `keeper_interval`; the sampler records the per-thread and per-group
time series every `sample_interval`. The engine reacts to the model's events (never to its own guesses) to keep
its indexes: who co-authors what, what is pending, what was paid to whom.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import tempfile
import time
from collections import defaultdict
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import simpy

from choir_model import (
    ChoirError,
    CreateThread,
    Expire,
    Fund,
    MessageState,
    Model,
    ProcessApproval,
    RequestPublic,
    Step,
    SubmitSpec,
)
from choir_model import events as ev
from choir_model.model import InvariantViolation
from choir_model.trace import write_trace
from sim.agents import AGENT_KINDS, Agent
from sim.rng import make_rng
from sim.scenario import Scenario
from sim.world import Actor, AgentActions, Ballot

PENDING = MessageState.PENDING
TREASURY_SIGNERS = ("treasury1", "treasury2")
KEEPER = "keeper"
# Steps that can change whether a thread has a free seat (co-authors, pending specs, pending messages); a vote
# changes it only when it settles the message.
_SEAT_STEPS = frozenset({CreateThread, SubmitSpec, RequestPublic, Expire})


class SimulationFailed(RuntimeError):
    """A step broke an invariant. `trace_path` holds every step up to and including the breaking one."""

    def __init__(self, scenario: Scenario, violation: InvariantViolation, trace_path: Path, step_index: int) -> None:
        # All four in args: SimPy re-raises a failed process's exception as type(e)(*e.args).
        super().__init__(scenario, violation, trace_path, step_index)
        self.scenario = scenario
        self.violation = violation
        self.trace_path = trace_path
        self.step_index = step_index

    def __str__(self) -> str:
        return (
            f"scenario {self.scenario.name!r} (seed {self.scenario.seed}): step {self.step_index} broke an invariant: "
            f"{self.violation}; trace written to {self.trace_path}"
        )


class World(AgentActions):
    """A running simulation: the model, the SimPy environment, the agents and what the run records.

    Agents see it as a `sim.world.AgentWorld` (the agent API is `AgentActions`', over the primitives below);
    everything that changes state goes through `act`."""

    def __init__(self, scenario: Scenario, check: str | None = None, trace_dir: str | Path | None = None) -> None:
        self.scenario = scenario
        self.params = scenario.model_params()
        self.model = Model(self.params, scenario.build_policy(), scenario.build_formula(), check or scenario.check)
        self._apply = self.model.apply
        self.unit = self.params.unit
        self.epoch = scenario.world.epoch
        self.end = self.epoch + scenario.horizon
        self.env = simpy.Environment(initial_time=self.epoch)
        self.trace_dir = Path(trace_dir) if trace_dir is not None else None

        # What the run records (turned into tables by sim.metrics).
        self.steps: list[Step] = []
        self.step_errors: dict[int, str] = {}
        self.events: list[tuple[int, int, ev.Event]] = []  # (step index, now, event)
        self.thread_samples: list[tuple] = []
        self.group_samples: list[tuple] = []
        self.memberships: list[tuple[str, str, int]] = []  # (user, thread, joined at)
        self.quality: dict[tuple[str, str], float] = {}
        self.funded: dict[str, int] = defaultdict(int)

        # Indexes kept from the model's events.
        self.thread_ids: list[str] = []
        self._coauthored: dict[str, list[str]] = defaultdict(list)
        self._due: list[tuple[int, int, str, str]] = []
        self._stake_window: dict[str, list[int]] = defaultdict(list)
        self._open: list[str] = []
        self._open_at: dict[str, int] = {}
        # The sampler recomputes a thread's T, omega and recommended stake only when its balance or N changed, if
        # the formula says it does not read the thread's age (`uses_age`; one that does not say is called every
        # sample).
        self._age_free = not getattr(self.model.economics.formula, "uses_age", True)
        self._derived: dict[str, tuple[int, int, float, float, int]] = {}
        self._bootstrapping = False
        self.bootstrap_steps = 0  # steps[:bootstrap_steps] built the world at the epoch (funding, threads, seats)

        self.agents: list[Agent] = []
        self.agents_by_identity: dict[str, Agent] = {}
        for group in scenario.groups:
            cls = AGENT_KINDS[group.kind]
            for index in range(group.config.count):
                name = f"{group.name}-{index:03d}"
                agent = cls(name, group.name, group.config, make_rng(scenario.seed, "agent", name))
                self.agents.append(agent)
                for identity in agent.identities:
                    if identity in self.agents_by_identity or identity in (KEEPER, *self.params.treasury_authorities):
                        raise ValueError(f"identity {identity!r} is used twice; rename agent group {group.name!r}")
                    self.agents_by_identity[identity] = agent
        self.rng = make_rng(scenario.seed, "world")
        self._group_of = {identity: agent.group for identity, agent in self.agents_by_identity.items()}
        self._group_ids: dict[str, list[str]] = {g.name: [] for g in scenario.groups}
        for identity, group in self._group_of.items():
            self._group_ids[group].append(identity)
        self._group_funded: dict[str, int] = dict.fromkeys(self._group_ids, 0)
        self._group_seats: dict[str, int] = dict.fromkeys(self._group_ids, 0)
        self._handlers = {
            ev.WalletFunded: self._on_funded,
            ev.ThreadCreated: self._on_thread_created,
            ev.SpecSubmitted: self._on_window_opened,
            ev.PublicRequested: self._on_window_opened,
            ev.CoAuthorAdded: self._on_coauthor_added,
        }
        self.wall_seconds = 0.0

    # -- the one door to the model -----------------------------------------------------------------------------

    @property
    def now(self) -> int:
        return int(self.env.now)

    def act(self, step: Step) -> str | None:
        """Apply a step with the model; return None or the error name. An invariant violation ends the run."""
        steps = self.steps
        index = len(steps)
        steps.append(step)
        try:
            events = self._apply(step)
        except ChoirError as error:
            self.step_errors[index] = error.name
            return error.name
        except InvariantViolation as violation:
            raise self._failed(violation, index) from violation
        now = step.now
        record = self.events.append
        handlers = self._handlers
        for event in events:
            record((index, now, event))
            handler = handlers.get(type(event))
            if handler is not None:
                handler(step, event)
        kind = type(step)
        if kind in _SEAT_STEPS or (kind is ProcessApproval and len(events) > 1):  # a vote that settled
            self._refresh_open(step.thread)  # type: ignore[attr-defined]
        return None

    def _refresh_open(self, thread_id: str) -> None:
        """Keep `_open` = the threads with a free seat and room for one more pending message (what a client's
        thread list shows as open), in O(1) per step."""
        thread = self.model.state.threads[thread_id]
        params = self.params
        is_open = (
            len(thread.co_authors) + len(thread.pending_spec_authors) < params.max_coauthors
            and thread.pending < params.max_pending
        )
        position = self._open_at.get(thread_id)
        if is_open and position is None:
            self._open_at[thread_id] = len(self._open)
            self._open.append(thread_id)
        elif not is_open and position is not None:
            last = self._open.pop()
            if last != thread_id:
                self._open[position] = last
                self._open_at[last] = position
            del self._open_at[thread_id]

    def _failed(self, violation: InvariantViolation, index: int) -> SimulationFailed:
        scenario = self.scenario
        directory = self.trace_dir or Path(tempfile.gettempdir()) / "choir-sim"
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{scenario.name}-seed{scenario.seed}-violation.jsonl"
        write_trace(self.steps, path)
        return SimulationFailed(scenario, violation, path, index)

    # -- reactions to the model's events -------------------------------------------------------------------------

    def _on_funded(self, step: Step, event: ev.WalletFunded) -> None:
        self.funded[event.user] += event.amount
        group = self._group_of.get(event.user)
        if group is not None:
            self._group_funded[group] += event.amount

    def _on_thread_created(self, step: Step, event: ev.ThreadCreated) -> None:
        self.thread_ids.append(event.thread_id)
        self._joined(event.creator, event.thread_id, step.now)

    def _on_coauthor_added(self, step: Step, event: ev.CoAuthorAdded) -> None:
        self._joined(event.co_author, event.thread_id, step.now)

    def _joined(self, user: str, thread_id: str, now: int) -> None:
        self._coauthored[user].append(thread_id)
        self.memberships.append((user, thread_id, now))
        group = self._group_of.get(user)
        if group is not None:
            self._group_seats[group] += 1

    def _on_window_opened(self, step: Step, event: ev.SpecSubmitted | ev.PublicRequested) -> None:
        """A message entered its approval window: the keeper will expire it when due, and each voter who decides
        to vote gets a process that casts the vote after its delay."""
        if self._bootstrapping:
            return
        if isinstance(event, ev.SpecSubmitted):
            self._stake_window[event.thread_id].append(event.stake)
        message = self.model.state.threads[event.thread_id].messages[event.content_hash]
        if message.state is not PENDING:
            return  # a public request with no other co-author is Public at once
        heapq.heappush(self._due, (event.deadline, len(self.steps), event.thread_id, event.content_hash))
        key = (event.thread_id, event.content_hash)
        analytics = self.model.analytics.get(key) if message.is_spec else None
        ratio = analytics.ratio if analytics is not None and analytics.ratio and analytics.ratio > 0 else None
        ballot = Ballot(
            event.thread_id,
            event.content_hash,
            message.author,
            self.quality.get(key, 0.5),
            message.is_spec,
            event.deadline,
            ratio,
        )
        timeout, agent_of, cast = self.env.timeout, self.agents_by_identity, self._cast
        for voter in message.voters:
            agent = agent_of.get(voter)
            decision = agent.vote(self, voter, ballot) if agent is not None else None
            if decision is not None:
                delay, approve = decision
                timeout(delay if delay > 0 else 0).callbacks.append(partial(cast, voter, ballot, approve))

    # -- processes -----------------------------------------------------------------------------------------------

    def _cast(self, voter: str, ballot: Ballot, approve: bool, _: simpy.Event) -> None:
        """A co-author's vote, when its delay is over (a SimPy timeout's callback: as light as an event gets),
        unless the message was closed meanwhile (a client reads the chain before sending). A vote at or after
        the deadline is sent and fails with ApprovalTimeout."""
        message = self.model.state.threads[ballot.thread_id].messages[ballot.content_hash]
        if message.state is PENDING and voter not in message.votes:
            self.act(ProcessApproval(voter, int(self.env.now), ballot.thread_id, ballot.content_hash, approve))

    def _keeper(self) -> Generator[Any, Any, None]:
        """The crank: every `keeper_interval` seconds, expire every Pending message whose deadline has passed."""
        interval = self.scenario.world.keeper_interval
        due = self._due
        threads = self.model.state.threads
        while True:
            yield self.env.timeout(interval)
            now = self.now
            while due and due[0][0] <= now:
                _, _, thread_id, content_hash = heapq.heappop(due)
                if threads[thread_id].messages[content_hash].state is PENDING:
                    self.act(Expire(KEEPER, now, thread_id, content_hash))

    def _sampler(self) -> Generator[Any, Any, None]:
        interval = self.scenario.world.sample_interval
        while True:
            self.sample()
            yield self.env.timeout(interval)

    def sample(self) -> None:
        """Record one row per thread (balance, N, T, omega, recommended and mean actual stake since the last
        sample, pending) and one row per agent group (wallets, funding, co-author seats). Temperature, frequency
        and the recommended stake are the model's own `Economics`."""
        now = self.now
        economics = self.model.economics
        temperature, frequency, recommended = economics.temperature, economics.frequency, economics.recommended_stake
        unit = self.unit
        windows = self._stake_window
        threads = self.model.state.threads
        append = self.thread_samples.append
        cache = self._derived if self._age_free else None
        for thread_id in self.thread_ids:
            thread = threads[thread_id]
            n = len(thread.co_authors)
            balance = thread.balance
            derived = cache.get(thread_id) if cache is not None else None
            if derived is None or derived[0] != balance or derived[1] != n:
                derived = (
                    balance,
                    n,
                    temperature(balance, n, unit),
                    frequency(n),
                    recommended(balance, n, unit, now - thread.created_at),
                )
                if cache is not None:
                    cache[thread_id] = derived
            stakes = windows.pop(thread_id, None)
            append(
                (
                    now,
                    thread_id,
                    *derived,
                    sum(stakes) // len(stakes) if stakes else None,
                    len(stakes) if stakes else 0,
                    thread.pending,
                    thread.message_count,
                )
            )
        wallets = self.model.state.wallets
        zeros = itertools.repeat(0)
        for group in self.scenario.groups:
            identities = self._group_ids[group.name]
            if identities:
                wallet = sum(map(wallets.get, identities, zeros))
                funded = self._group_funded[group.name]
                seats = self._group_seats[group.name]
                self.group_samples.append((now, group.name, group.kind, wallet, funded, wallet - funded, seats))

    # -- the primitives of the agent API (sim.world.AgentActions) ----------------------------------------------

    def wallet(self, identity: str) -> int:
        return self.model.state.wallets.get(identity, 0)

    def coauthored(self, identity: str) -> list[str]:
        """Threads `identity` co-authors (in the order it joined them)."""
        return self._coauthored.get(identity, [])

    def recommended_stake(self, thread_id: str) -> int:
        """The model's recommended stake for the thread now (the scenario's formula), in base units."""
        return self.model.recommended_stake(thread_id, self.now)

    def open_for_spec(self, identity: str, thread_id: str) -> bool:
        """What a client sees before staking: not yet a co-author, no pending spec here, a free seat, room."""
        thread = self.model.state.threads[thread_id]
        params = self.params
        return (
            identity not in thread.co_authors
            and identity not in thread.pending_spec_authors
            and len(thread.co_authors) + len(thread.pending_spec_authors) < params.max_coauthors
            and thread.pending < params.max_pending
        )

    def open_threads(self) -> list[str]:
        """The threads with a free seat and room for a pending message, kept per step (`_refresh_open`)."""
        return self._open

    def new_content(self, agent: Actor, identity: str, description: str) -> str:
        return agent.next_hash(identity)

    def note_ballot(self, identity: str, thread_id: str, content_hash: str, quality: float, stake: int) -> None:
        """The latent quality voters judge; the stake's ratio to the recommendation is the model's analytics."""
        self.quality[(thread_id, content_hash)] = quality

    def new_thread_id(self) -> str:
        return f"t{len(self.thread_ids):05d}"

    def divest_view(self, identity: str, thread_id: str) -> tuple[int, int] | None:
        """The thread's balance and co-authors from the model's state, once `identity`'s cooldown is over."""
        thread = self.model.state.threads[thread_id]
        last = thread.last_divest.get(identity)
        if last is not None and self.now < last + self.params.divest_cooldown:
            return None
        return thread.balance, len(thread.co_authors)

    # -- running -------------------------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """The world at the epoch: fund every identity (`Fund` signed by treasury1 and treasury2), let the
        creators open the initial threads in turn, then seat each identity in `seats` random threads with fewer
        than `bootstrap_max_coauthors` co-authors (in rounds, in random order): a spec at the join stake, approved
        at once by the co-authors already there (scripted votes: the world as it stands when the simulation
        starts, before any griefer stops voting)."""
        now = self.epoch
        world = self.scenario.world
        for agent in self.agents:
            amount = self.to_units(agent.config.wallet)
            for identity in agent.identities if amount > 0 else ():
                self.act(Fund(identity, now, amount, TREASURY_SIGNERS))
        creators = [a for a in self.agents if a.kind == "creator"]
        for index in range(world.threads if creators else 0):
            creator = creators[index % len(creators)]
            self.create_thread(creator.name, self.to_units(creator.config.deposit))  # type: ignore[attr-defined]
        join_stake = self.to_units(world.join_stake)
        threads = self.model.state.threads
        seated = [(agent, identity) for agent in self.agents for identity in agent.identities if agent.config.seats]
        self._bootstrapping = True
        try:
            for seat in range(max((agent.config.seats for agent, _ in seated), default=0)):
                order = [pair for pair in seated if pair[0].config.seats > seat]
                self.rng.shuffle(order)  # seat in rounds, in random order, so no group takes every free seat
                for agent, identity in order:
                    free = [
                        t
                        for t in self.thread_ids
                        if len(threads[t].co_authors) < world.bootstrap_max_coauthors
                        and identity not in threads[t].co_authors
                    ]
                    if not free:
                        continue
                    thread_id = free[self.rng.randrange(len(free))]
                    content_hash = agent.next_hash(identity)
                    if self.act(SubmitSpec(identity, now, thread_id, content_hash, join_stake)) is not None:
                        continue
                    for voter in threads[thread_id].messages[content_hash].voters:
                        self.act(ProcessApproval(voter, now, thread_id, content_hash, True))
        finally:
            self._bootstrapping = False
        self.bootstrap_steps = len(self.steps)

    def run(self) -> World:
        """Bootstrap, start every process and run to the horizon; then take the final sample.

        Python's cyclic garbage collector is paused for the run (and restored after): a run allocates millions
        of short-lived, acyclic objects (events, steps, tuples) over a large live heap, which reference counting
        frees at once, while the collector's repeated scans of that heap took more than half of the run's time
        and found nothing to collect."""
        started = time.perf_counter()
        with paused_gc():
            self.bootstrap()
            env = self.env
            for agent in self.agents:
                process = agent.process(self)
                if process is not None:
                    env.process(process)
            env.process(self._keeper())
            env.process(self._sampler())
            env.run(until=self.end)
            self.sample()
        self.wall_seconds = time.perf_counter() - started
        return self


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a block (reference counting still frees everything acyclic),
    restoring its previous state after."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def simulate(scenario: Scenario, check: str | None = None, trace_dir: str | Path | None = None) -> World:
    """Run a scenario and return the finished world (see `sim.metrics.collect` for its tables)."""
    return World(scenario, check, trace_dir).run()
