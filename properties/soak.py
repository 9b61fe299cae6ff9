"""`--soak N`: N random steps without Hypothesis's overhead, seeded, every invariant checked on every step.

Each soak run draws a swarm (a random subset of operations, always with `fund` and `create_thread` so worlds can
grow) from its seed, then steps through the generator. The failing prefix is returned for the campaign's
delta-debugging shrinker.

Speed (the goal: a soak at least 80% of the rate of replaying its own steps through the checked model): with no
implementation under test a run steps the model and its checker as that replay does and keeps no trace; a run is
a pure function of its seed, so the trace of a failure is had by running the failing run again, recorded."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from choir_model import ChoirError, Params
from choir_model.events import Event
from choir_model.ops import Rules
from properties import variation
from properties.attacks import SHARES, accepts_attacks
from properties.coverage import Coverage
from properties.driver import Driver
from properties.generate import GENESIS, OPS, RandomSource, StepGenerator
from properties.lockstep import Lockstep, PropertyFailure

DriverFactory = Callable[[], Driver]
PROGRESS_EVERY = 500
"""Steps between progress reports and looks at the deadline."""


@dataclass
class SoakResult:
    steps: int
    coverage: Coverage
    failure: PropertyFailure | None = None
    stopped: bool = False
    """The deadline came before `total_steps` were run."""


def swarm(source: RandomSource, needed: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A random subset of operations for one run (swarm testing), bootstrap operations and `needed` always included
    (each optional operation's draw is made either way, so `needed` changes no other draw)."""
    optional = [op for op in OPS if op not in ("fund", "create_thread") and (source.index(4) != 0 or op in needed)]
    return ("fund", "create_thread", *optional) if optional else OPS


def soak(
    total_steps: int,
    seed: int,
    params: Params | None = None,
    policy: str = "seeds",
    driver_factory: DriverFactory | None = None,
    run_length: int = 2000,
    on_progress: Callable[[int], None] | None = None,
    coverage: Coverage | None = None,
    rules: type[Rules] = Rules,
    formula: str = "quantum",
    first_run: int = 0,
    deadline: float | None = None,
    factory_for: Callable[[Params], DriverFactory | None] | None = None,
) -> SoakResult:
    """Run `total_steps` steps in runs of `run_length` from fresh state, run `first_run` first; stop at the first
    failure, or at `deadline` (a `time.time()`, looked at every `PROGRESS_EVERY` steps). Run `r` draws everything from
    `seed * 1_000_003 + r`, so a soak split into pieces of whole runs (`first_run`) is the same soak. With
    `factory_for` (the driver factory for given parameters), runs vary the parameters (`properties.variation`);
    a failure then carries its run's parameters.

    A run with no implementation under test steps the model and its checker directly (`_ModelRun`), keeping no
    trace; when a step breaks an invariant the run is run again from its seed through the `Lockstep`, which keeps
    the trace and raises the failure (`_recorded_failure`)."""
    params = params or Params()
    coverage = coverage if coverage is not None else Coverage()
    world = _World(seed, params, policy, rules, formula, driver_factory, factory_for)
    done = 0
    run = first_run
    while done < total_steps:
        lockstep, generator, ops = world.start(run, coverage)
        run_params = lockstep.params
        coverage.examples += 1
        unrecorded = _ModelRun(lockstep, generator, ops) if lockstep.driver is None else None
        ahead, build, index, n_ops = lockstep.ahead, generator.step, generator.source.index, len(ops)
        left = min(run_length, total_steps - done)
        in_run = 0  # steps of this run before the current stretch
        try:
            while left:
                stretch = min(left, PROGRESS_EVERY - done % PROGRESS_EVERY)  # up to the next progress report
                if unrecorded is not None:
                    ran = unrecorded.steps(stretch)
                    if ran:
                        raise _recorded_failure(world, run, in_run + ran, coverage)
                else:
                    for _ in range(stretch):
                        ahead(build(ops[index(n_ops)]))
                done, left, in_run = done + stretch, left - stretch, in_run + stretch
                if done % PROGRESS_EVERY == 0:
                    if on_progress is not None:
                        on_progress(PROGRESS_EVERY)
                    if deadline is not None and time.time() >= deadline:
                        lockstep.verify()
                        return SoakResult(done, coverage, stopped=True)
            lockstep.verify()
        except PropertyFailure as failure:
            if run_params is not params:
                failure.params = run_params
            # A failure's trace starts with its run and ends with its step, which the target may have run a stretch
            # after the model (`Lockstep.ahead`): the steps run are those before the run and the trace.
            return SoakResult(done - in_run + max(len(failure.steps), 1), coverage, failure)
        finally:
            lockstep.close()
        run += 1
    return SoakResult(done, coverage)


@dataclass
class _World:
    """How a soak's run `r` starts: its source, swarm, parameters, start time and driver are functions of the
    soak's seed and `r` alone, so a run can be started again and steps through the same world."""

    seed: int
    params: Params
    policy: str
    rules: type[Rules]
    formula: str
    driver_factory: DriverFactory | None
    factory_for: Callable[[Params], DriverFactory | None] | None

    def start(self, run: int, coverage: Coverage) -> tuple[Lockstep, StepGenerator, tuple[str, ...]]:
        """Run `run`'s lockstep (recording into `coverage`), its generator and its swarm (the operations each step
        is drawn from, with the generator's source)."""
        seed, params, factory_for = self.seed, self.params, self.factory_for
        source = RandomSource(seed * 1_000_003 + run)
        ops = swarm(source, () if factory_for is None else variation.run_ops(params, seed, run))
        run_params = params if factory_for is None else variation.run_params(params, seed, run)
        start = GENESIS if factory_for is None else variation.run_start(params, seed, run)
        factory = self.driver_factory if run_params is params else factory_for(run_params)  # type: ignore[misc]
        driver = factory() if factory else None
        lockstep = Lockstep(run_params, self.policy, driver, coverage=coverage, rules=self.rules, formula=self.formula)
        generator = StepGenerator(
            lockstep.model, source, attacks=accepts_attacks(driver), genesis=start, share=run % SHARES
        )
        return lockstep, generator, ops


class _ModelRun:
    """A run with no implementation under test, stepped as the checked replay steps a trace: capture, apply,
    record coverage, check every invariant, the `Lockstep`'s own order and calls, without its trace or its
    per-step bookkeeping (with only the model to step, those were a fifth of what the soak spent on top of the
    checked model)."""

    __slots__ = ("_after", "_apply", "_before", "_build", "_index", "_ops", "_record", "_state")

    def __init__(self, lockstep: Lockstep, generator: StepGenerator, ops: tuple[str, ...]) -> None:
        model, checker = lockstep.model, lockstep.checker
        self._state, self._apply = model.state, model.rules.apply
        self._before, self._after = checker.before, checker.after
        self._record, self._build, self._index, self._ops = (
            lockstep.coverage.record,
            generator.step,
            generator.source.index,
            ops,
        )

    def steps(self, count: int) -> int:
        """Run `count` steps: 0 when every invariant held, else the number (from 1) of the step that broke one."""
        state, apply, before, after = self._state, self._apply, self._before, self._after
        record, build, index, ops = self._record, self._build, self._index, self._ops
        n_ops = len(ops)
        for number in range(1, count + 1):
            step = build(ops[index(n_ops)])
            captured = before(state, step)
            try:
                events = apply(state, step)
            except ChoirError as refused:
                record(step.op, refused.name, NO_EVENTS)
                if after(state, step, captured, refused, NO_EVENTS):
                    return number
                continue
            record(step.op, None, events)
            if after(state, step, captured, None, events):
                return number
        return 0


NO_EVENTS: list[Event] = []
"""A refused step's events (it has none; never appended to)."""


def _recorded_failure(world: _World, run: int, steps: int, coverage: Coverage) -> PropertyFailure:
    """The failure of run `run`, whose step `steps` (from 1) broke an invariant while no trace was kept: the run is a
    pure function of the soak's seed, so it is run again from the start through the `Lockstep`, which keeps every
    step and raises the same failure with them (as a fuzzer replays a corpus entry to report it). The steps were
    already counted in `coverage`; only the violations are added."""
    scratch = Coverage()
    lockstep, generator, ops = world.start(run, scratch)
    step, build, index, n_ops = lockstep.step, generator.step, generator.source.index, len(ops)
    try:
        for _ in range(steps):
            step(build(ops[index(n_ops)]))
    except PropertyFailure as failure:
        coverage.violations.update(scratch.violations)
        return failure
    finally:
        lockstep.close()
    raise RuntimeError(f"soak run {run} of seed {world.seed} broke an invariant at step {steps} but held when run "
                       "again from its seed: its rules (policy, formula) are not deterministic")  # fmt: skip
