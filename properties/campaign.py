"""A property campaign: seeded soak runs and the Hypothesis stateful machine against one target, with a coverage
report, a failure trace and the command that replays it.

The campaign is split by seed into units (`properties.units`) that run here, one after the other, or on a Dask
cluster (`properties.cluster`); either way the results are put together in unit order up to the first failure,
so the verdict, the coverage and the first failure do not depend on the number of workers. A time budget
(`seconds`) stops a campaign cleanly between steps and reports what ran.

Profiles: `ci` is the default campaign CI runs (it must reach every operation, error name and settlement outcome
and stay well under three minutes here); `thorough` runs twenty times as many examples. Hypothesis's example
database is on in local runs in one process (failures are retried first next time), off on a cluster and when the
`CI` variable is set.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import get_state_machine_test

from choir_dask import ClusterUnavailable
from choir_model import Params, Step
from choir_model.ops import Rules
from choir_model.trace import write_trace
from properties.coverage import Coverage
from properties.driver import ModelDriver
from properties.lockstep import PropertyFailure
from properties.machine import MachineConfig, machine_for
from properties.shrink import shrink_run
from properties.targets import driver_factory
from properties.units import Unit, UnitResult, assemble, plan, run_unit

# Hypothesis explores and shrinks well but its examples are short; the seeded soak phase that follows runs long
# worlds (2,000 steps each) that reach the far bounds (a full thread, ten co-authors) Hypothesis rarely gets to.
PROFILES: dict[str, dict[str, int]] = {
    "ci": {"examples": 300, "steps": 200, "soak": 20_000},
    "thorough": {"examples": 6000, "steps": 200, "soak": 400_000},
}
# A step over HTTP costs 10 to 15 ms (signing, journaling, indexing), a hundred times a model step: the backend's
# profiles keep the same shape at a size that ends in minutes.
TARGET_PROFILES: dict[str, dict[str, dict[str, int]]] = {
    "backend": {
        "ci": {"examples": 20, "steps": 100, "soak": 2_000},
        "thorough": {"examples": 400, "steps": 100, "soak": 40_000},
    },
}


def profile_settings(target: str, profile: str) -> dict[str, int]:
    """Examples, steps per example and soak steps of a profile for a target."""
    return TARGET_PROFILES.get(target, PROFILES).get(profile) or PROFILES[profile]


@dataclass
class Campaign:
    target: str = "model"
    profile: str = "ci"
    examples: int | None = None
    steps: int | None = None
    seed: int = 0
    policy: str = "seeds"
    params: Params = field(default_factory=Params)
    soak: int | None = None
    failure_dir: Path = Path("failures")
    database: bool = field(default_factory=lambda: not os.environ.get("CI"))
    driver_options: dict[str, Any] = field(default_factory=dict)
    hypothesis_shrink: bool = False
    rules: type[Rules] = Rules
    """Mutation testing: the reference runs these (broken) rules and is also compared with the true model."""
    replay_flags: tuple[str, ...] = ()
    """Options the replay command must repeat (`--params`, `--program`, `--idl` as given)."""
    formula: str = "quantum"
    """The stake formula of the reference model (`choir_model.resolve`): the step generator sizes stakes by it."""
    workers: int = 1
    """Dask LocalCluster worker processes; 1 runs in this process."""
    scheduler: str | None = None
    """An existing Dask scheduler's address (tcp://host:8786): the campaign runs on its workers."""
    seconds: float | None = None
    """A time budget: phases without an explicit size run until it is spent."""
    shrink: bool = True
    """Shrink a failure and write its trace; mutation testing only needs to know what failed, not a minimal trace."""

    @property
    def n_examples(self) -> int | None:
        """Hypothesis examples; None: as many as the time budget allows."""
        if self.examples is not None:
            return self.examples
        return None if self.seconds is not None else profile_settings(self.target, self.profile)["examples"]

    @property
    def n_steps(self) -> int:
        return self.steps if self.steps is not None else profile_settings(self.target, self.profile)["steps"]

    @property
    def n_soak(self) -> int | None:
        """Soak steps; None: as many as the time budget allows."""
        if self.soak is not None:
            return self.soak
        return None if self.seconds is not None else profile_settings(self.target, self.profile)["soak"]

    @property
    def distributed(self) -> bool:
        return self.workers > 1 or self.scheduler is not None

    @property
    def failure_path(self) -> Path:
        policy = self.policy.replace(":", "-").replace("/", "-")  # a module:Class policy makes a file name too
        return self.failure_dir / f"{self.target}-{policy}-seed{self.seed}.jsonl"

    def replay_command(self, path: Path, params: Params | None = None) -> str:
        """The command that replays a failure's trace; `params` are the failing run's when they varied."""
        from properties.variation import params_flag

        command = f"choir check replay {path} --target {self.target} --policy {self.policy}"
        flags = self.replay_flags if params is None else ("--params", params_flag(params), *self.replay_flags)
        return " ".join([command, *map(shlex.quote, flags)])


@dataclass
class CampaignResult:
    """What a campaign ran and found. `failure` is a property failure (exit 1); `error` says the toolkit itself
    failed (a crash, a driver error: exit 3), with its traceback in `error_detail`."""

    campaign: Campaign
    coverage: Coverage
    elapsed: float
    failure: PropertyFailure | None = None
    trace: Path | None = None
    shrunk: list[Step] | None = None
    error: str | None = None
    error_detail: str = ""
    phase_times: dict[str, float] = field(default_factory=dict)
    """Seconds spent in each phase, summed over the units (on several workers: more than the wall time)."""
    stopped: bool = False
    """The time budget ran out before every unit ran."""
    interrupted: bool = False
    """Ctrl-C or a signal to stop (SIGINT, SIGTERM: what a CI sends a cancelled job) ended the campaign early: the
    units that had finished are what it reports, and a failure found is kept (not shrunk when the signal came
    before or while shrinking it: written as found, so it still replays)."""
    startup: float = 0.0
    """Seconds spent starting (or connecting to) the Dask cluster and warming its workers up, not counted in
    `steps_per_second`."""
    warm_up: float = 0.0
    """The part of `startup` spent warming the workers up (`properties.cluster.warm_up`)."""

    @property
    def steps_per_second(self) -> float:
        running = self.elapsed - self.startup
        return self.coverage.steps / running if running > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None and self.error is None


Progress = Callable[[str, int], None]
"""`on_progress(phase, amount)`: phase "examples" advances by examples, "soak" by steps."""


def driver_factory_of(campaign: Campaign) -> Callable[[], Any] | None:
    """The factory of the campaign's implementation under test (the true model when mutated rules are checked)."""
    factory = driver_factory(campaign.target, campaign.params, campaign.policy, **campaign.driver_options)
    if campaign.rules is not Rules and factory is None:
        return lambda: ModelDriver(campaign.params, campaign.policy)  # the true model as the judge
    return factory


def driver_factory_for(campaign: Campaign) -> Callable[[Params], Callable[[], Any] | None] | None:
    """The driver factory for other parameters, so soak runs may vary them (`properties.variation`); None for a
    deployed program, whose parameters were fixed when it was initialized."""
    if "transport" in campaign.driver_options:
        return None
    return lambda params: driver_factory_of(dataclasses.replace(campaign, params=params))


def run_campaign(campaign: Campaign, on_progress: Progress | None = None) -> CampaignResult:
    """Run the campaign's units (`properties.units`), here or on a Dask cluster, put their results together in
    unit order up to the first failure, shrink that failure once and write its trace to `campaign.failure_path`.
    Never raises for a property failure or a toolkit error: both are in the result.

    Failures from either phase are shrunk by the same bounded delta-debugging shrinker (Hypothesis's own shrinker
    is on with `hypothesis_shrink`: it can spend minutes on long stateful examples)."""
    started = time.perf_counter()
    campaign.failure_path.unlink(missing_ok=True)
    deadline = time.time() + campaign.seconds if campaign.seconds is not None else None
    units = plan(campaign.n_soak, campaign.n_examples)
    startup: list[tuple[float, float]] = []
    if campaign.distributed:
        from properties.cluster import run_distributed

        try:
            results, interrupted = run_distributed(campaign, units, deadline, on_progress,
                                                   lambda *times: startup.append(times))  # fmt: skip
        except Exception as error:  # no cluster to run on (an unreachable scheduler, workers that cannot start)
            where = campaign.scheduler or f"a LocalCluster of {campaign.workers} workers"
            failed = CampaignResult(campaign, Coverage(), time.perf_counter() - started)
            failed.error = str(error) if isinstance(error, ClusterUnavailable) else (
                f"cannot run on {where}: {type(error).__name__}: {error}")  # fmt: skip
            failed.error_detail = "".join(traceback.format_exception(error))
            return failed
    else:
        results, interrupted = _run_here(campaign, units, deadline, on_progress)
    assembled = assemble(results)
    result = CampaignResult(campaign, assembled.coverage, 0.0, phase_times=assembled.phase_times)
    result.startup = sum(start + warm for start, warm in startup)
    result.warm_up = sum(warm for _, warm in startup)
    result.stopped = assembled.stopped or (deadline is not None and time.time() >= deadline)
    result.interrupted = interrupted
    first = assembled.first
    if first is not None and first.error is not None:
        result.error, result.error_detail = first.error, first.error_detail
    elif first is not None and first.failure is not None and not campaign.shrink:
        result.failure = first.failure
    elif first is not None and first.failure is not None and interrupted:  # whoever stopped it wants out now
        _record_failure(result, first.failure, shrunk=None)
    elif first is not None and first.failure is not None:
        try:
            params = first.failure.params or campaign.params  # the failing run's, when they varied
            factory = driver_factory_of(dataclasses.replace(campaign, params=params))
            steps, failure = shrink_run(first.failure.steps, params, campaign.policy, factory, campaign.rules,
                                        campaign.formula)  # fmt: skip
            failure.params = first.failure.params
            _record_failure(result, failure, shrunk=steps)
        except KeyboardInterrupt:
            result.interrupted = True
            _record_failure(result, first.failure, shrunk=None)
        except Exception as error:  # the toolkit failed while shrinking: reported (exit 3)
            result.failure = first.failure
            result.error = f"{type(error).__name__}: {error}"
            result.error_detail = "".join(traceback.format_exception(error))
    result.elapsed = time.perf_counter() - started
    return result


def _record_failure(result: CampaignResult, failure: PropertyFailure, shrunk: list[Step] | None) -> None:
    """The campaign's failure with its trace written to `failure_path`: its `shrunk` steps, or (None: a signal kept
    it from being shrunk) its steps as found, which still replay."""
    steps = failure.steps if shrunk is None else shrunk
    path = result.campaign.failure_path
    path.parent.mkdir(parents=True, exist_ok=True)
    write_trace(steps, path)
    result.failure, result.trace, result.shrunk = failure, path, shrunk


def _run_here(
    campaign: Campaign, units: Iterator[Unit], deadline: float | None, on_progress: Progress | None
) -> tuple[dict[int, UnitResult], bool]:
    """Every unit in this process, in order, until one fails, the deadline passes or the campaign is interrupted
    (Ctrl-C: the unit under way is dropped); the results, and whether it was interrupted."""
    results: dict[int, UnitResult] = {}
    try:
        for unit in units:
            if deadline is not None and time.time() >= deadline:
                break
            result = results[unit.index] = run_unit(campaign, unit, deadline, on_progress, campaign.database)
            if result.failed or result.stopped:
                break
    except KeyboardInterrupt:
        return results, True
    return results, False


def hypothesis_examples(
    campaign: Campaign,
    factory: Callable[[], Any] | None,
    coverage: Coverage,
    examples: int,
    seed: Any,
    on_example: Callable[[], None] | None,
    database: bool,
) -> AssertionError | None:
    """`examples` examples of the stateful machine, seeded by `seed`; the failure (an AssertionError) or None.
    Hypothesis's example database (failures retried first next time) only where asked: never on a cluster."""
    config = MachineConfig(campaign.params, campaign.policy, factory, coverage, on_example, campaign.rules,
                           campaign.formula)  # fmt: skip
    test = get_state_machine_test(
        machine_for(config),
        settings=settings(
            max_examples=examples,
            stateful_step_count=campaign.n_steps,
            deadline=None,
            database=DirectoryBasedExampleDatabase(".hypothesis/choir") if database else None,
            suppress_health_check=list(HealthCheck),
            phases=tuple(Phase) if campaign.hypothesis_shrink else tuple(p for p in Phase if p is not Phase.shrink),
            print_blob=False,
            report_multiple_bugs=False,
        ),
    )
    try:
        with seed_only_draws():
            hypothesis_seed(seed)(test)()
    except AssertionError as failure:  # PropertyFailure is an AssertionError too
        return failure
    return None


@contextmanager
def seed_only_draws() -> Iterator[None]:
    """Hypothesis's draws from the seed alone. Hypothesis mixes literals found in every local module the process
    has loaded into its draws (and caches them process-wide), so the same batch drew differently in `choir check`,
    which loads the whole CLI, and on a Dask worker, which loads only the suite: the verdict would depend on the
    number of workers. Inside this block no local literal is offered, and the cache is this block's own."""
    from hypothesis.internal.cache import LRUCache
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.constants_ast import Constants

    saved = providers._get_local_constants, providers.CONSTANTS_CACHE
    providers._get_local_constants = Constants
    providers.CONSTANTS_CACHE = LRUCache(1024)
    try:
        yield
    finally:
        providers._get_local_constants, providers.CONSTANTS_CACHE = saved
