"""Agents: one behaviour per class, each with a documented, parameterised `Config`.

An agent owns one or more identities (user names in the model), a private `random.Random` and two behaviours:

* `process(world)`: a SimPy process (a plain generator yielding timeouts) that acts on its own initiative:
  submitting specs, creating threads, divesting. `None` for purely reactive agents.
* `vote(world, voter, ballot)`: called when one of its identities is in the voter snapshot of a new Pending
  message; returns `(delay_seconds, approve)` or `None` to never vote.

Agents never change state themselves: they see the world only as a `sim.world.AgentWorld` (the simulator's
engine, or the load test's world over a live backend), whose actions become typed steps that the model (or the
server) applies. Agents read state only as a client reads the chain (to pick a thread with a free seat, or to size
a divestment); the model alone decides what happens.

Scenario files name a kind (`AGENT_KINDS`) and set the fields of its `Config`; amounts are CHOIR (floats, turned
into base units when used), durations are hours or days as the field name says.
"""

from __future__ import annotations

import math
import random
from collections.abc import Generator
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from sim.rng import content_hash
from sim.world import AgentWorld, Ballot, Process

DAY = 86_400
HOUR = 3_600

Vote = tuple[int, bool]
"""A vote decision: (delay in seconds after the message entered its window, approve?)."""


def _check(condition: bool, name: str, message: str) -> None:
    if not condition:
        raise ValueError(f"{name}: {message}")


def _non_negative(config: object, *names: str) -> None:
    """Every named field of `config` is >= 0 (rates, amounts in CHOIR, delays, counts)."""
    for name in names:
        value = getattr(config, name)
        _check(value >= 0, name, f"must be >= 0, got {value}")


def _check_beta(config: object) -> None:
    """`quality_a` and `quality_b` parameterise a Beta distribution of message quality: both must be > 0."""
    _check(config.quality_a > 0 and config.quality_b > 0, "quality_a/quality_b", "Beta parameters must be > 0")  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Fields every kind has.

    count: agents in the group. wallet: CHOIR funded to each identity at the start (a `Fund` step signed by
    treasury1 and treasury2). seats: initial threads each identity joins as a co-author during bootstrap (a spec
    at the world's join stake, approved by the co-authors already there). respond: probability of voting at all
    on a message one must vote on. delay_hours: mean of the exponential response delay. threshold, sharpness:
    the approval curve, P(approve) = 1 / (1 + exp(-sharpness * (quality - threshold) - stake_weight * ln(r))),
    where r is the spec's stake over the recommended stake (staking above the recommendation signals confidence;
    stake_weight = 0 makes voters ignore the stake). start_day: when the agent's own process starts acting (votes
    are cast from day 0)."""

    count: int = 1
    wallet: float = 1_000.0
    seats: int = 0
    respond: float = 0.97
    delay_hours: float = 12.0
    threshold: float = 0.5
    sharpness: float = 10.0
    stake_weight: float = 1.0
    start_day: float = 0.0

    def __post_init__(self) -> None:
        _non_negative(self, "count", "wallet", "seats")
        _check(0.0 <= self.respond <= 1.0, "respond", f"must be a probability, got {self.respond}")
        _non_negative(self, "delay_hours", "sharpness", "start_day")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


class Agent:
    """Base agent: an honest co-author's vote (respond with probability `respond`, after an exponential delay,
    approving with the logistic probability of the message's quality) and no process of its own."""

    kind: ClassVar[str] = "agent"
    role: ClassVar[str] = "honest"
    Config: ClassVar[type[AgentConfig]] = AgentConfig
    rate: ClassVar[str | None] = None
    """The config field (actions per day) that must be above 0 for the agent's process to run at all; None: it
    always runs."""

    def __init__(self, name: str, group: str, config: AgentConfig, rng: random.Random) -> None:
        self.name = name
        self.group = group
        self.config = config
        self.rng = rng
        self._counter = 0
        self._vote_rate = 1.0 / (config.delay_hours * HOUR) if config.delay_hours > 0 else 0.0

    @property
    def identities(self) -> tuple[str, ...]:
        """The user names this agent controls (one, except for Sybil rings)."""
        return (self.name,)

    def next_hash(self, identity: str) -> str:
        """A fresh content hash for a message by `identity`."""
        self._counter += 1
        return content_hash(identity, self._counter)

    def process(self, world: AgentWorld) -> Process | None:
        """The agent's own behaviour as a SimPy process (`_run`), or None: it has none, or its `rate` is 0."""
        if self.rate is not None and getattr(self.config, self.rate) <= 0:
            return None
        return self._run(world, self.config)

    def _run(self, world: AgentWorld, c: Any) -> Process | None:
        """The process of a kind with one, given its config (`Config`); none for the base agent."""
        return None

    def vote(self, world: AgentWorld, voter: str, ballot: Ballot) -> Vote | None:
        return self.honest_vote(ballot)

    def honest_vote(self, ballot: Ballot) -> Vote | None:
        """Respond with probability `respond`, after an exponential delay, approving with the logistic
        probability of the quality."""
        c, rng = self.config, self.rng
        if rng.random() >= c.respond:
            return None
        delay = int(rng.expovariate(self._vote_rate)) if self._vote_rate else 0
        signal = c.stake_weight * math.log(ballot.stake_ratio) if c.stake_weight and ballot.stake_ratio else 0.0
        return delay, rng.random() < approval_probability(ballot.quality, c.threshold, c.sharpness, signal)

    def start_delay(self) -> int:
        return int(self.config.start_day * DAY)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name}>"


def approval_probability(quality: float, threshold: float, sharpness: float, signal: float = 0.0) -> float:
    """The logistic approval curve of an honest voter; `signal` shifts its log-odds (the stake's signal)."""
    x = sharpness * (quality - threshold) + signal
    if x < -700:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def poisson_waits(rng: random.Random, per_day: float) -> Generator[int, None, None]:
    """Inter-arrival times (integer seconds, at least 1) of a Poisson process with `per_day` events a day."""
    rate = per_day / DAY
    while True:
        yield max(1, int(rng.expovariate(rate)))


# --------------------------------------------------------------------------------------------- honest users


@dataclass(frozen=True, slots=True)
class CreatorConfig(AgentConfig):
    """threads_per_day: rate of new threads (Poisson). deposit: CHOIR put in each new thread (also the deposit of
    the initial threads this creator opens at bootstrap)."""

    wallet: float = 5_000.0
    threads_per_day: float = 0.2
    deposit: float = 100.0

    def __post_init__(self) -> None:
        AgentConfig.__post_init__(self)
        _non_negative(self, "threads_per_day", "deposit")


class ThreadCreator(Agent):
    """Opens the world's initial threads at bootstrap, then new threads at `threads_per_day` (skipping when the
    wallet cannot cover the deposit). Votes as an honest co-author in its threads."""

    kind = "creator"
    Config = CreatorConfig
    rate = "threads_per_day"

    def _run(self, world: AgentWorld, c: CreatorConfig) -> Process:
        yield world.env.timeout(self.start_delay())
        deposit = world.to_units(c.deposit)
        for wait in poisson_waits(self.rng, c.threads_per_day):
            yield world.env.timeout(wait)
            if world.wallet(self.name) >= deposit:
                world.create_thread(self.name, deposit)


@dataclass(frozen=True, slots=True)
class AuthorConfig(AgentConfig):
    """specs_per_day: rate of spec submissions (Poisson). quality_a, quality_b: the Beta distribution of the
    latent quality of each spec. stake_factor: stake as a multiple of the recommended stake; stake_noise: sigma of
    a log-normal factor on it. max_wallet_share: never stake more than this share of the wallet. The stake is at
    least MIN_STAKE, and a thread is chosen among those with a free seat."""

    specs_per_day: float = 0.3
    quality_a: float = 5.0
    quality_b: float = 2.0
    stake_factor: float = 1.0
    stake_noise: float = 0.3
    max_wallet_share: float = 0.5

    def __post_init__(self) -> None:
        AgentConfig.__post_init__(self)
        _non_negative(self, "specs_per_day")
        _check_beta(self)
        _non_negative(self, "stake_factor", "stake_noise")
        _check(0 < self.max_wallet_share <= 1, "max_wallet_share", f"must be in (0, 1], got {self.max_wallet_share}")


class HonestAuthor(Agent):
    """Submits specs of latent quality q ~ Beta(quality_a, quality_b) to threads with a free seat, staking
    `stake_factor` times the model's recommended stake (times log-normal noise), bounded by MIN_STAKE below and
    `max_wallet_share` of the wallet above. Once a co-author, votes honestly."""

    kind = "honest_author"
    Config = AuthorConfig
    rate = "specs_per_day"

    def choose_stake(self, world: AgentWorld, thread_id: str, c: AuthorConfig) -> int:
        recommended = world.recommended_stake(thread_id)
        noise = self.rng.lognormvariate(0.0, c.stake_noise) if c.stake_noise > 0 else 1.0
        stake = int(recommended * c.stake_factor * noise)
        ceiling = int(world.wallet(self.name) * c.max_wallet_share)
        return max(world.params.min_stake, min(stake, ceiling))

    def _run(self, world: AgentWorld, c: AuthorConfig) -> Process:
        yield world.env.timeout(self.start_delay())
        min_stake = world.params.min_stake
        for wait in poisson_waits(self.rng, c.specs_per_day):
            yield world.env.timeout(wait)
            quality = self.rng.betavariate(c.quality_a, c.quality_b)
            if world.wallet(self.name) < min_stake:
                continue
            thread_id = world.pick_open_thread(self.rng, self.name)
            if thread_id is None:
                continue
            world.submit_spec(self, self.name, thread_id, self.choose_stake(world, thread_id, c), quality)


@dataclass(frozen=True, slots=True)
class CoAuthorConfig(AgentConfig):
    """requests_per_day: rate at which the co-author writes a message in one of its threads and asks for it to
    be made public (a stakeless approval); quality_a, quality_b: Beta distribution of those messages' quality."""

    seats: int = 2
    requests_per_day: float = 0.1
    quality_a: float = 6.0
    quality_b: float = 2.0

    def __post_init__(self) -> None:
        AgentConfig.__post_init__(self)
        _non_negative(self, "requests_per_day")
        _check_beta(self)


class CoAuthor(Agent):
    """An established co-author: joins `seats` threads at bootstrap, votes honestly (quality-dependent approval,
    exponential response delays, sometimes no response), and now and then writes a private message and requests
    that it be made public."""

    kind = "co_author"
    Config = CoAuthorConfig
    rate = "requests_per_day"

    def _run(self, world: AgentWorld, c: CoAuthorConfig) -> Process:
        yield world.env.timeout(self.start_delay())
        for wait in poisson_waits(self.rng, c.requests_per_day):
            yield world.env.timeout(wait)
            threads = world.coauthored(self.name)
            quality = self.rng.betavariate(c.quality_a, c.quality_b)
            if threads:
                world.post_public(self, self.name, self.rng.choice(threads), quality)


# --------------------------------------------------------------------------------------------------- attackers


def attacker_stake(world: AgentWorld, identity: str, thread_id: str, stake_factor: float) -> int:
    """An attacker's stake: `stake_factor` times the recommended stake, at least MIN_STAKE (0: always MIN_STAKE)
    and at most the wallet."""
    min_stake = world.params.min_stake
    if stake_factor <= 0:
        return min_stake
    wanted = int(world.recommended_stake(thread_id) * stake_factor)
    return max(min_stake, min(wanted, world.wallet(identity)))


@dataclass(frozen=True, slots=True)
class SpammerConfig(AgentConfig):
    """specs_per_day: rate of spam specs (Poisson); quality_a, quality_b: Beta distribution of their quality (low
    by default). stake_factor: stake as a multiple of the recommended stake (0, the default: MIN_STAKE)."""

    wallet: float = 500.0
    specs_per_day: float = 6.0
    quality_a: float = 1.0
    quality_b: float = 9.0
    stake_factor: float = 0.0

    def __post_init__(self) -> None:
        AgentConfig.__post_init__(self)
        _non_negative(self, "specs_per_day", "stake_factor")
        _check_beta(self)


class Spammer(Agent):
    """Floods threads with low-quality specs at the minimum stake (or `stake_factor` times the recommendation)
    until the wallet runs dry. Should a spam spec
    get through, the spammer approves every spec at once as a co-author."""

    kind = "spammer"
    role = "attacker"
    Config = SpammerConfig
    rate = "specs_per_day"

    def _run(self, world: AgentWorld, c: SpammerConfig) -> Process:
        yield world.env.timeout(self.start_delay())
        min_stake = world.params.min_stake
        for wait in poisson_waits(self.rng, c.specs_per_day):
            yield world.env.timeout(wait)
            quality = self.rng.betavariate(c.quality_a, c.quality_b)
            if world.wallet(self.name) < min_stake:
                continue
            thread_id = world.pick_open_thread(self.rng, self.name)
            if thread_id is not None:
                stake = attacker_stake(world, self.name, thread_id, c.stake_factor)
                world.submit_spec(self, self.name, thread_id, stake, quality)

    def vote(self, world: AgentWorld, voter: str, ballot: Ballot) -> Vote | None:
        return 60, True


@dataclass(frozen=True, slots=True)
class SybilConfig(AgentConfig):
    """count: number of rings. identities: user names per ring, each funded with `wallet`. specs_per_day: rate
    of specs per identity, each at MIN_STAKE; quality_a, quality_b: Beta distribution of their quality
    (plausible by default: the ring poses as honest authors). targets: threads the ring concentrates on, chosen at
    start (0: any thread). deny_outsiders: once inside, deny every spec not from the ring. divest: once inside,
    each identity divests the largest allowed amount every cooldown. stake_factor: stake as a multiple of the
    recommended stake (0, the default: MIN_STAKE)."""

    wallet: float = 50.0
    identities: int = 10
    specs_per_day: float = 1.0
    quality_a: float = 6.0
    quality_b: float = 3.0
    targets: int = 3
    deny_outsiders: bool = True
    divest: bool = True
    stake_factor: float = 0.0

    def __post_init__(self) -> None:
        AgentConfig.__post_init__(self)
        _check(self.identities >= 1, "identities", f"must be >= 1, got {self.identities}")
        _non_negative(self, "specs_per_day", "stake_factor")
        _check_beta(self)
        _non_negative(self, "targets")


class SybilRing(Agent):
    """One operator behind many identities, all at the minimum stake. The identities submit plausible specs to
    the ring's target threads; a ring member who is already a co-author approves ring specs within a minute and,
    with `deny_outsiders`, denies everyone else's, so a captured thread admits only the ring. With `divest`, every
    ring co-author drains its share of the thread balance once per cooldown."""

    kind = "sybil"
    role = "attacker"
    Config = SybilConfig

    def __init__(self, name: str, group: str, config: AgentConfig, rng: random.Random) -> None:
        super().__init__(name, group, config, rng)
        c: SybilConfig = config  # type: ignore[assignment]
        self._identities = tuple(f"{name}.{i:02d}" for i in range(c.identities))
        self.targets: list[str] = []

    @property
    def identities(self) -> tuple[str, ...]:
        return self._identities

    def _run(self, world: AgentWorld, c: SybilConfig) -> Process:
        yield world.env.timeout(self.start_delay())
        threads = list(world.thread_ids)
        if c.targets and threads:
            self.targets = self.rng.sample(threads, min(c.targets, len(threads)))
        for identity in self._identities if c.specs_per_day > 0 else ():
            world.env.process(self._submitter(world, c, identity))
        if c.divest:
            world.env.process(drain(world, self.rng, self._identities, 1.0))

    def _submitter(self, world: AgentWorld, c: SybilConfig, identity: str) -> Process:
        min_stake = world.params.min_stake
        for wait in poisson_waits(self.rng, c.specs_per_day):
            yield world.env.timeout(wait)
            quality = self.rng.betavariate(c.quality_a, c.quality_b)
            if world.wallet(identity) < min_stake:
                continue
            thread_id = world.pick_open_thread(self.rng, identity, self.targets or None)
            if thread_id is not None:
                stake = attacker_stake(world, identity, thread_id, c.stake_factor)
                world.submit_spec(self, identity, thread_id, stake, quality)

    def vote(self, world: AgentWorld, voter: str, ballot: Ballot) -> Vote | None:
        c: SybilConfig = self.config  # type: ignore[assignment]
        if world.agent_of(ballot.author) is self:
            return 60, True
        if c.deny_outsiders:
            return 60, False
        return self.honest_vote(ballot)


@dataclass(frozen=True, slots=True)
class GrieferConfig(AgentConfig):
    """seats: threads joined at bootstrap (where the griefer then sits on every vote)."""

    seats: int = 1


class Griefer(Agent):
    """A co-author who never votes from `start_day` on (before it, votes honestly), so every approval in its
    threads times out and the keeper expires it: stakes go to the treasury and nobody new joins."""

    kind = "griefer"
    role = "attacker"
    Config = GrieferConfig

    def vote(self, world: AgentWorld, voter: str, ballot: Ballot) -> Vote | None:
        if world.now >= world.epoch + self.start_delay():
            return None
        return self.honest_vote(ballot)


@dataclass(frozen=True, slots=True)
class DrainerConfig(AgentConfig):
    """seats: threads joined at bootstrap. fraction: share of the largest allowed divestment taken each time
    (1.0: all of it). The drainer divests in every thread it co-authors as soon as each cooldown ends."""

    seats: int = 1
    fraction: float = 1.0

    def __post_init__(self) -> None:
        AgentConfig.__post_init__(self)
        _check(0 < self.fraction <= 1, "fraction", f"must be in (0, 1], got {self.fraction}")


class Drainer(Agent):
    """Divests as much and as often as allowed: in each of its threads, `fraction` of the largest amount the
    divestment guard admits, once per cooldown. Votes honestly, so the thread stays alive to be drained."""

    kind = "drainer"
    role = "attacker"
    Config = DrainerConfig

    def _run(self, world: AgentWorld, c: DrainerConfig) -> Process:
        yield world.env.timeout(self.start_delay())
        yield from drain(world, self.rng, (self.name,), c.fraction)


def drain(world: AgentWorld, rng: random.Random, identities: tuple[str, ...], fraction: float) -> Process:
    """Every cooldown (plus up to a minute of jitter), each identity divests `fraction` of its allowed share in
    every thread it co-authors."""
    cooldown = world.params.divest_cooldown
    while True:
        for identity in identities:
            for thread_id in world.coauthored(identity):
                world.divest_max(identity, thread_id, fraction)
        yield world.env.timeout(max(1, cooldown) + rng.randrange(60))


AGENT_KINDS: dict[str, type[Agent]] = {
    cls.kind: cls for cls in (ThreadCreator, HonestAuthor, CoAuthor, Spammer, SybilRing, Griefer, Drainer)
}
"""Kind name (as written in scenario files) -> agent class."""
