"""`Lockstep`: runs each step on the reference model, checks every invariant, and (when a driver under test is
given) runs the same step on it and compares outcome and snapshot. It keeps the trace of every step so a failure
can be written out and replayed anywhere. The Hypothesis machines, the soak runner and replay all use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from choir_model import Checker, ChoirError, Model, Params, Step, Violation
from choir_model.ops import Rules
from properties.compare import diff_snapshots
from properties.coverage import Coverage
from properties.driver import Driver


class PropertyFailure(AssertionError):
    """A step broke an invariant or the implementation disagreed with the model. `kind` is the invariant name or
    "difference"; `steps` is the trace up to and including the failing step."""

    def __init__(self, kind: str, details: list[str], steps: Sequence[Step]) -> None:
        self.kind = kind
        self.details = details
        self.steps = list(steps)
        last = self.steps[-1] if self.steps else None
        body = "\n  ".join(details)
        super().__init__(f"{kind} at step {len(self.steps) - 1} ({last!r}):\n  {body}")


@dataclass
class Lockstep:
    """The reference model plus an optional implementation under test, stepped together."""

    params: Params = field(default_factory=Params)
    policy: str = "seeds"
    driver: Driver | None = None
    invariants: Sequence[str] | None = None
    coverage: Coverage = field(default_factory=Coverage)
    rules: type[Rules] = Rules

    def __post_init__(self) -> None:
        self.model = Model(self.params, policy=self.policy, rules=self.rules)
        self.checker = Checker(self.params, self.model.policy, self.model.economics, self.invariants)
        self.steps: list[Step] = []
        self.last_violations: list[Violation] = []

    def step(self, step: Step) -> str | None:
        """Apply `step` everywhere; raise PropertyFailure on a violation or a difference. Returns the error name."""
        model = self.model
        self.steps.append(step)
        before = self.checker.before(model.state, step)
        error: ChoirError | None = None
        events = []
        try:
            events = model.rules.apply(model.state, step)
        except ChoirError as caught:
            error = caught
        name = error.name if error is not None else None
        self.coverage.record(step.op, name, events)
        violations = self.checker.after(model.state, step, before, error, events)
        self.last_violations = violations
        if violations:
            for violation in violations:
                self.coverage.violations[violation.invariant] += 1
            raise PropertyFailure(violations[0].invariant, [str(v) for v in violations], self.steps)
        if self.driver is not None:
            self._compare(step, name)
        return name

    def _compare(self, step: Step, expected: str | None) -> None:
        assert self.driver is not None
        actual = self.driver.apply(step)
        if actual != expected:
            self.coverage.violations["difference"] += 1
            raise PropertyFailure(
                "difference",
                [f"outcome: model {expected or 'ok'} vs {self.driver.name} {actual or 'ok'}"],
                self.steps,
            )
        differences = diff_snapshots(self.model.snapshot(), self.driver.snapshot())
        if differences:
            self.coverage.violations["difference"] += 1
            raise PropertyFailure(
                "difference", [f"snapshot ({self.driver.name}): {d}" for d in differences], self.steps
            )

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()


def run_steps(
    steps: Sequence[Step],
    params: Params,
    policy: str,
    driver_factory: Callable[[], Driver] | None = None,
    rules: type[Rules] = Rules,
) -> PropertyFailure | None:
    """Run steps in lockstep on fresh state (and a fresh driver); the first failure, or None."""
    lockstep = Lockstep(params, policy, driver_factory() if driver_factory else None, rules=rules)
    try:
        for step in steps:
            lockstep.step(step)
    except PropertyFailure as failure:
        return failure
    finally:
        lockstep.close()
    return None
