"""Replaying a trace on any target: the same output as `choir model run --json`, and optionally the first point
where the target and the model part ways."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from choir_model import Params, Step
from choir_model.trace import step_result
from properties.lockstep import PropertyFailure, run_steps
from properties.shrink import shrink
from properties.targets import driver_factory, replay_driver


@dataclass
class Replay:
    results: list[dict[str, Any]]
    final: dict[str, Any]


def replay(steps: Sequence[Step], target: str, params: Params, policy: str, **options: Any) -> Replay:
    """Apply every step to the target; one result per step and its final snapshot."""
    driver = replay_driver(target, params, policy, **options)
    try:
        results = [step_result(index, driver.apply(step)) for index, step in enumerate(steps)]
        return Replay(results, driver.snapshot())
    finally:
        driver.close()


def first_failure(
    steps: Sequence[Step], target: str, params: Params, policy: str, **options: Any
) -> PropertyFailure | None:
    """Run the steps in lockstep (model invariants, plus the target when it is not the model); the first failure."""
    return run_steps(steps, params, policy, driver_factory(target, params, policy, **options))


def shrink_failure(failure: PropertyFailure, target: str, params: Params, policy: str, **options: Any) -> list[Step]:
    """The smallest trace found that still fails the same way on the target (delta debugging, `shrink`)."""
    factory = driver_factory(target, params, policy, **options)
    steps, _ = shrink(failure.steps, lambda candidate: run_steps(candidate, params, policy, factory))
    return steps
