"""A property campaign: the Hypothesis stateful machine (or a soak run) against one target, with a coverage
report, a failure trace and the command that replays it.

Profiles: `ci` is the default campaign CI runs (it must reach every operation, error name and settlement outcome
and stay well under three minutes here); `thorough` runs twenty times as many examples. Hypothesis's example
database is on in local runs (failures are retried first next time) and off when the `CI` variable is set.
"""

from __future__ import annotations

import os
import shlex
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import get_state_machine_test

from choir_model import Params, Step
from choir_model.ops import Rules
from choir_model.trace import write_trace
from properties.coverage import Coverage
from properties.driver import ModelDriver
from properties.lockstep import PropertyFailure, run_steps
from properties.machine import MachineConfig, machine_for
from properties.shrink import shrink
from properties.soak import soak
from properties.targets import driver_factory

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
    params_option: str | None = None
    """`--params` as given (a file or inline JSON), repeated in the replay command."""
    formula: str = "quantum"
    """The stake formula of the reference model (`choir_model.resolve`): the step generator sizes stakes by it."""

    @property
    def n_examples(self) -> int:
        return self.examples if self.examples is not None else profile_settings(self.target, self.profile)["examples"]

    @property
    def n_steps(self) -> int:
        return self.steps if self.steps is not None else profile_settings(self.target, self.profile)["steps"]

    @property
    def n_soak(self) -> int:
        return self.soak if self.soak is not None else profile_settings(self.target, self.profile)["soak"]

    @property
    def failure_path(self) -> Path:
        policy = self.policy.replace(":", "-").replace("/", "-")  # a module:Class policy makes a file name too
        return self.failure_dir / f"{self.target}-{policy}-seed{self.seed}.jsonl"

    def replay_command(self, path: Path) -> str:
        command = f"choir check replay {path} --target {self.target} --policy {self.policy}"
        return command + (f" --params {shlex.quote(self.params_option)}" if self.params_option else "")


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

    @property
    def steps_per_second(self) -> float:
        return self.coverage.steps / self.elapsed if self.elapsed else 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None and self.error is None


Progress = Callable[[str, int], None]
"""`on_progress(phase, amount)`: phase "examples" advances by examples, "soak" by steps."""


def run_campaign(campaign: Campaign, on_progress: Progress | None = None) -> CampaignResult:
    """Run the soak phase (unless `soak` is 0), then the Hypothesis phase (unless `examples` is 0). Never raises
    for a property failure: it is in the result, shrunk, with its trace written to `campaign.failure_path`. An
    exception from the suite or a driver (not a property) ends the campaign with `error` set.

    The soak goes first because it is cheap and reaches far states quickly; Hypothesis then explores the space of
    short programs. Failures from either phase are shrunk by the same bounded delta-debugging shrinker (Hypothesis's
    own shrinker is on with `hypothesis_shrink`: it can spend minutes on long stateful examples)."""
    factory = driver_factory(campaign.target, campaign.params, campaign.policy, **campaign.driver_options)
    if campaign.rules is not Rules and factory is None:
        factory = lambda: ModelDriver(campaign.params, campaign.policy)  # noqa: E731 - the true model as the judge
    coverage = Coverage()
    started = time.perf_counter()
    campaign.failure_path.unlink(missing_ok=True)
    result = CampaignResult(campaign, coverage, 0.0)
    failure: AssertionError | None = None
    try:
        if campaign.n_soak:
            soak_progress = (lambda n: on_progress("soak", n)) if on_progress else None
            phase = time.perf_counter()
            failure = soak(campaign.n_soak, campaign.seed, campaign.params, campaign.policy, factory,
                           on_progress=soak_progress, coverage=coverage, rules=campaign.rules,
                           formula=campaign.formula).failure  # fmt: skip
            result.phase_times["soak"] = time.perf_counter() - phase
        if failure is None and campaign.n_examples:
            phase = time.perf_counter()
            failure = _hypothesis_phase(campaign, factory, coverage, on_progress)
            result.phase_times["hypothesis"] = time.perf_counter() - phase
        if isinstance(failure, PropertyFailure):
            steps, failure = shrink(failure.steps, lambda candidate: run_steps(candidate, campaign.params,
                                                                               campaign.policy, factory,
                                                                               campaign.rules))  # fmt: skip
            path = campaign.failure_path
            path.parent.mkdir(parents=True, exist_ok=True)
            write_trace(steps, path)
            result.failure, result.trace, result.shrunk = failure, path, steps
        elif failure is not None:  # an assertion inside the suite itself, not a property
            raise failure
    except Exception as error:  # the toolkit failed: reported (exit 3), never a traceback
        result.error = f"{type(error).__name__}: {error}"
        result.error_detail = "".join(traceback.format_exception(error))
    result.elapsed = time.perf_counter() - started
    return result


def _hypothesis_phase(
    campaign: Campaign,
    factory: Callable[[], Any] | None,
    coverage: Coverage,
    on_progress: Progress | None,
) -> AssertionError | None:
    config = MachineConfig(
        campaign.params,
        campaign.policy,
        factory,
        coverage,
        (lambda: on_progress("examples", 1)) if on_progress else None,
        campaign.rules,
        campaign.formula,
    )
    database = DirectoryBasedExampleDatabase(".hypothesis/choir") if campaign.database else None
    test = get_state_machine_test(
        machine_for(config),
        settings=settings(
            max_examples=campaign.n_examples,
            stateful_step_count=campaign.n_steps,
            deadline=None,
            database=database,
            suppress_health_check=list(HealthCheck),
            phases=tuple(Phase) if campaign.hypothesis_shrink else tuple(p for p in Phase if p is not Phase.shrink),
            print_blob=False,
            report_multiple_bugs=False,
        ),
    )
    try:
        hypothesis_seed(campaign.seed)(test)()
    except AssertionError as failure:  # PropertyFailure is an AssertionError too
        return failure
    return None
