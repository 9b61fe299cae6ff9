"""Replaying a trace on any target: the same output as `choir model run --json`, and optionally the first point
where the target and the model part ways. An attack record's line also names the attack (`"attack": kind`), and
says `"skipped": true` on a target that cannot run attacks.

Why one pass: a deployed program keeps what it is sent, so the results and the comparison come from the same
single application of each step to one driver (a second pass would act on the first one's state). On a cluster
the program stamps the cluster's time, at or after each step's: there each step goes to the target first, and the
model applies it at the time its transaction ran (`ProgramDriver.ran_at`), so both stamp the same times and are
compared exactly; the failure's trace holds those times, so it replays anywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from choir_model import Params, Step
from choir_model.trace import step_result
from properties.attacks import NEUTRAL, Attack, AttackResult, attack_line, prepare_neutral, run_attack
from properties.driver import Driver
from properties.lockstep import Lockstep, PropertyFailure
from properties.shrink import shrink_run
from properties.targets import driver_factory, replay_driver


@dataclass
class Replay:
    results: list[dict[str, Any]]
    final: dict[str, Any]
    failure: PropertyFailure | None = None


class _Witness:
    """The target's driver within one replay: every outcome recorded. The replay, not the lockstep, closes the
    driver."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.name = driver.name
        self.outcomes: list[str | dict[str, Any] | None] = []  # an attack's whole result line
        self._sent: tuple[Step, str | None] | None = None  # the step `ahead` sent, as it returned it, and its outcome

    def ahead(self, step: Step) -> Step:
        """On a cluster: send `step` before the model sees it and return it at the time its transaction ran (the
        lockstep's `apply` of that step then answers this outcome, sending nothing again)."""
        outcome = self.apply(step)
        ran_at = self.driver.ran_at()  # type: ignore[attr-defined]
        timed = step if ran_at is None else dataclasses.replace(step, now=ran_at)
        self._sent = (timed, outcome)
        return timed

    def attack(self, attack: Attack, base_valid: bool = True) -> AttackResult | None:
        """Run an attack on the target (`properties.attacks`) and record its line."""
        result = run_attack(self.driver, attack, base_valid)
        self.outcomes.append(attack_line(len(self.outcomes), attack, result))
        return result

    def apply(self, step: Step) -> str | None:
        sent, self._sent = self._sent, None
        if sent is not None and sent[0] is step:
            return sent[1]
        if isinstance(step, Attack) and step.kind in NEUTRAL:  # the valid step, after what the attacker did
            prepare_neutral(self.driver, step)
            step = step.base
        elif isinstance(step, Attack):
            result = self.attack(step)
            return None if result is None else result.error
        outcome = self.driver.apply(step)
        self.outcomes.append(outcome)
        return outcome

    def snapshot(self) -> dict[str, Any]:
        return self.driver.snapshot()

    def close(self) -> None:
        return None


def replay(
    steps: Sequence[Step],
    target: str,
    params: Params,
    policy: str,
    compare: bool = False,
    formula: str = "quantum",
    **options: Any,
) -> Replay:
    """Apply every step to the target once: one result per step and its final snapshot; with `compare`, also the
    first failure of the lockstep run (model invariants, plus agreement with the target) under `formula`."""
    driver = replay_driver(target, params, policy, **options)
    witness = _Witness(driver)
    try:
        failure = None
        if compare:
            differential = driver_factory(target, params, policy, **options) is not None
            lockstep = Lockstep(params, policy, witness if differential else None, formula=formula)
            cluster = not getattr(driver, "exact_times", True)
            try:
                for step in steps:
                    if cluster and not isinstance(step, Attack):
                        step = witness.ahead(step)
                    lockstep.step(step)
                    if not differential:
                        witness.apply(step)
                lockstep.verify()
            except PropertyFailure as found:
                failure = found
        for step in steps[len(witness.outcomes) :]:
            witness.apply(step)
        results = [outcome if isinstance(outcome, dict) else step_result(index, outcome)
                   for index, outcome in enumerate(witness.outcomes)]  # fmt: skip
        return Replay(results, driver.snapshot(), failure)
    finally:
        driver.close()


def shrink_failure(
    failure: PropertyFailure, target: str, params: Params, policy: str, formula: str = "quantum", **options: Any
) -> list[Step]:
    """The smallest trace found that still fails the same way on the target, under the rules it was replayed with
    (delta debugging, `shrink_run`)."""
    steps, _ = shrink_run(failure.steps, params, policy, driver_factory(target, params, policy, **options),
                          formula=formula)  # fmt: skip
    return steps
