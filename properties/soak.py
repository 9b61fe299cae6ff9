"""`--soak N`: N random steps without Hypothesis's overhead, seeded, every invariant checked on every step.

Each soak run draws a swarm (a random subset of operations, always with `fund` and `create_thread` so worlds can
grow) from its seed, then steps through the generator. The failing prefix is returned for the campaign's
delta-debugging shrinker."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from choir_model import Params
from choir_model.ops import Rules
from properties import variation
from properties.attacks import accepts_attacks
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


def swarm(source: RandomSource) -> tuple[str, ...]:
    """A random subset of operations for one run (swarm testing), bootstrap operations always included."""
    optional = [op for op in OPS if op not in ("fund", "create_thread") and source.index(4) != 0]
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
    a failure then carries its run's parameters."""
    params = params or Params()
    coverage = coverage if coverage is not None else Coverage()
    done = 0
    run = first_run
    while done < total_steps:
        source = RandomSource(seed * 1_000_003 + run)
        ops = swarm(source)
        run_params = params if factory_for is None else variation.run_params(params, seed, run)
        start = GENESIS if factory_for is None else variation.run_start(params, seed, run)
        factory = driver_factory if run_params is params else factory_for(run_params)  # type: ignore[misc]
        driver = factory() if factory else None
        lockstep = Lockstep(run_params, policy, driver, coverage=coverage, rules=rules, formula=formula)
        generator = StepGenerator(lockstep.model, source, attacks=accepts_attacks(driver), genesis=start)
        coverage.examples += 1
        step, build, index, n_ops = lockstep.step, generator.step, source.index, len(ops)
        left = min(run_length, total_steps - done)
        ran = 0  # steps of the current stretch that ran or are running
        try:
            while left:
                stretch = min(left, PROGRESS_EVERY - done % PROGRESS_EVERY)  # up to the next progress report
                for ran in range(1, stretch + 1):  # noqa: B007 - read after a failure
                    step(build(ops[index(n_ops)]))
                done, left, ran = done + stretch, left - stretch, 0
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
            return SoakResult(done + max(ran, 1), coverage, failure)
        finally:
            lockstep.close()
        run += 1
    return SoakResult(done, coverage)
