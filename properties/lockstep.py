"""`Lockstep`: runs each step on the reference model, checks every invariant, and (when a driver under test is
given) runs the same step on it and compares outcome and state. It keeps the trace of every step so a failure
can be written out and replayed anywhere. The Hypothesis machines, the soak runner and replay all use it.

Comparing state: with a driver that says what it wrote (`EntryDriver`, the program's), each step compares only
the snapshot entries either side touched: the accounts the transaction wrote and the model objects the step
addresses or pays (its actor's wallet, its thread and message, the treasury, the wallets a settlement paid).
Rendering two whole snapshots per step was most of a lockstep step. The entries are compared as both sides hold
them (balances, every stored field of threads and messages: `same_values`), which is what their rendered snapshot
entries are made of, so nothing is rendered unless they differ (then the difference is described in the
snapshot's terms and field by field, `diff_values`). A write to an entry neither side names is still
caught: the whole snapshots, re-read from the implementation, are compared every `full_every` steps and at the
end of every run (`verify`). Other drivers are compared whole after every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from choir_model import Checker, ChoirError, Model, Params, Step, Violation
from choir_model.events import Event, StakeSettled
from choir_model.ops import Rules
from choir_model.resolve import resolve_formula
from choir_model.trace import SnapshotKey
from properties.attacks import Attack, step_attack
from properties.compare import diff_snapshots, diff_stored, diff_values, entry_values, same_values, stored_objects
from properties.coverage import Coverage
from properties.creation import CREATES, check_creation
from properties.driver import Driver, EntryDriver

FULL_EVERY = 1000
"""Steps between whole-snapshot comparisons when only touched entries are compared in between."""


class PropertyFailure(AssertionError):
    """A step broke an invariant or the implementation disagreed with the model. `kind` is the invariant name or
    "difference"; `steps` is the trace up to and including the failing step."""

    def __init__(self, kind: str, details: list[str], steps: Sequence[Step], params: Params | None = None) -> None:
        self.kind = kind
        self.details = details
        self.steps = list(steps)
        self.params = params
        """The parameters of the run that failed, when not the campaign's own (`properties.variation`)."""
        last = self.steps[-1] if self.steps else None
        body = "\n  ".join(details)
        super().__init__(f"{kind} at step {len(self.steps) - 1} ({last!r}):\n  {body}")

    def __reduce__(self) -> tuple[type, tuple[str, list[str], list[Step], Params | None]]:
        """Pickled by its parts (a failure found on a Dask worker travels back to the campaign)."""
        return (PropertyFailure, (self.kind, self.details, self.steps, self.params))


@dataclass
class Lockstep:
    """The reference model plus an optional implementation under test, stepped together."""

    params: Params = field(default_factory=Params)
    policy: str = "seeds"
    driver: Driver | None = None
    invariants: Sequence[str] | None = None
    coverage: Coverage = field(default_factory=Coverage)
    rules: type[Rules] = Rules
    full_every: int = FULL_EVERY
    formula: str = "quantum"

    def __post_init__(self) -> None:
        self.model = Model(self.params, policy=self.policy, formula=resolve_formula(self.formula), rules=self.rules)
        self.checker = Checker(self.params, self.model.policy, self.model.economics, self.invariants)
        self.steps: list[Step] = []
        self.last_violations: list[Violation] = []
        self.by_entry = isinstance(self.driver, EntryDriver)
        self.since_full = 0
        self.compared_at = -1  # the number of steps (attacks included) at the last whole comparison
        self.failed = False

    def step(self, step: Step) -> str | None:
        """Apply `step` everywhere; raise PropertyFailure on a violation or a difference. Returns the error name."""
        if isinstance(step, Attack):
            return step_attack(self, step)
        model = self.model
        self.steps.append(step)
        before = self.checker.before(model.state, step)
        error: ChoirError | None = None
        events = []
        attempt = model.take_attempt(step)  # the generator asked `Model.refusal` whether to attack this step
        if attempt is not None:
            model.state, events, error = attempt.after, attempt.events, attempt.error
        else:
            try:
                events = model.rules.apply(model.state, step)
            except ChoirError as caught:
                # Kept without its traceback (only its type is read): with it, this frame, the traceback and the
                # error make a cycle per refused step that only the garbage collector frees, about 1 us a step.
                error = caught.with_traceback(None)
        name = error.name if error is not None else None
        self.coverage.record(step.op, name, events)
        violations = self.checker.after(model.state, step, before, error, events)
        self.last_violations = violations
        if violations:
            for violation in violations[1:]:
                self.coverage.violations[violation.invariant] += 1
            self.fail(violations[0].invariant, [str(v) for v in violations])
        if self.driver is not None:
            self._compare(step, name, events)
        return name

    def _compare(self, step: Step, expected: str | None, events: list[Event]) -> None:
        driver = self.driver
        assert driver is not None
        actual = driver.apply(step)
        if actual != expected:
            self._differ([f"outcome: model {expected or 'ok'} vs {driver.name} {actual or 'ok'}"])
        if actual is None and step.op in CREATES:
            check_creation(self)  # the system calls that created its accounts (docs/spec.md section 9)
        if not self.by_entry:
            self._differ_if(diff_snapshots(self.model.snapshot(), driver.snapshot()))
            self._compare_stored(model_entries(step, events))
            return
        self.since_full += 1
        if self.since_full >= self.full_every:
            self.verify()
            return
        written = driver.touched()  # type: ignore[union-attr]
        if expected is not None and not written:
            return  # refused on both sides: the model changed nothing (invariant 9) and neither did the target
        keys = written | model_entries(step, events)
        model = self.model
        expected, actual = entry_values(model.state, keys), driver.held(keys)  # type: ignore[union-attr]
        if not same_values(expected, actual):
            self._differ_if(diff_values(expected, actual, model.params, model.economics))

    def _compare_stored(self, keys: set[SnapshotKey]) -> None:
        """Every stored field of the touched threads and messages, for drivers that expose them (`stored`)."""
        stored = getattr(self.driver, "stored", None)
        if stored is not None:
            self._differ_if(diff_stored(stored_objects(self.model.state, keys), stored(keys)))

    def verify(self) -> None:
        """Compare the whole snapshots, the implementation's re-read from its own storage; raise PropertyFailure
        on a difference. Runs every `full_every` steps and at the end of a run; nothing to do after a failure, or
        when no step (nor attack) was sent since the last one (a run whose last step made the every-K comparison)."""
        if self.driver is None or self.failed or self.compared_at == len(self.steps):
            return
        self.since_full = 0
        self.compared_at = len(self.steps)
        actual = self.driver.snapshot(full=True) if self.by_entry else self.driver.snapshot()  # type: ignore[call-arg]
        self._differ_if(diff_snapshots(self.model.snapshot(), actual))
        # What the program stores beyond the snapshot: its config's parameters, and every account's bump and empty
        # slots.
        for check, prefix in (("config_differences", "config."), ("layout_differences", "")):
            stored = getattr(self.driver, check, None)
            if stored is not None:
                self._differ_if([f"{prefix}{k}: model {want!r} vs {held!r}" for k, (held, want) in stored().items()])

    def _differ_if(self, differences: list[str]) -> None:
        if differences:
            self._differ([f"snapshot ({self.driver.name}): {d}" for d in differences])  # type: ignore[union-attr]

    def _differ(self, details: list[str]) -> NoReturn:
        self.fail("difference", details)

    def fail(self, prop: str, details: list[str]) -> NoReturn:
        """Count property `prop` violated and raise its PropertyFailure over the steps so far; the lockstep is
        then done (`verify` compares nothing more), whichever check found it (an invariant, a difference, an
        attack's oracle, `account_creation`)."""
        self.failed = True
        self.coverage.violations[prop] += 1
        raise PropertyFailure(prop, details, self.steps)

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()


def run_steps(
    steps: Sequence[Step],
    params: Params,
    policy: str,
    driver_factory: Callable[[], Driver] | None = None,
    rules: type[Rules] = Rules,
    formula: str = "quantum",
) -> PropertyFailure | None:
    """Run steps in lockstep on fresh state (and a fresh driver); the first failure, or None."""
    lockstep = Lockstep(params, policy, driver_factory() if driver_factory else None, rules=rules, formula=formula)
    try:
        for step in steps:
            lockstep.step(step)
        lockstep.verify()
    except PropertyFailure as failure:
        return failure
    finally:
        lockstep.close()
    return None


_ADDRESSES: dict[type, tuple[bool, bool]] = {}


def model_entries(step: Step, events: list[Event]) -> set[SnapshotKey]:
    """The snapshot entries a step can change on the model: the treasury, its actor's wallet, the thread and
    message it addresses, and the wallets a settlement paid."""
    addresses = _ADDRESSES.get(type(step))
    if addresses is None:
        fields = getattr(type(step), "__dataclass_fields__", {})
        addresses = _ADDRESSES[type(step)] = ("thread" in fields, "hash" in fields)
    keys = {("treasury", ""), ("wallets", step.actor)}
    if addresses[0]:
        thread = step.thread  # type: ignore[attr-defined]
        keys.add(("threads", thread))
        if addresses[1]:
            keys.add(("messages", f"{thread}/{step.hash}"))  # type: ignore[attr-defined]
    for event in events:
        if type(event) is StakeSettled:
            keys.update(("wallets", name) for name, _ in event.to_wallets)
    return keys
