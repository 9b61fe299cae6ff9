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

The model runs ahead of the target (`ahead`, up to `WINDOW` steps), then the target catches up (`catch_up`): it
runs those steps in order, what each transaction wrote read right after it, then each step's reads are decoded and
held to the model's state after it. The model's states are persistent (each step forks what it changes,
`Model.refusal`), so the state after every step of the window is still there to compare with, and the driver keeps
the accounts' bytes (what building a transaction reads) apart from their model objects (what it answers the
comparison with), which follow a window behind. Why: in one process, LiteSVM's work and the Python checks evict
each other from the processor's caches; alternated step by step, building an instruction took half as long again
as alone, a send a fifth more, and decoding a thread account four times as long. Nothing else changes: a failure
is the first in step order whichever pass finds it (an invariant broken ahead makes the target catch up at once),
with the trace up to its step, and coverage is recorded step by step in that order. `step` is `ahead` and
`catch_up` of one step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from choir_model import Checker, ChoirState, Model, Params, Step, Violation
from choir_model.events import Event, StakeSettled
from choir_model.ops import Rules
from choir_model.resolve import resolve_formula
from choir_model.trace import SnapshotKey, snapshot
from properties.attacks import NEUTRAL, Attack, AttackResult, base_is_valid, prepare_neutral, record, run_attack
from properties.compare import diff_snapshots, diff_stored, diff_values, entry_values, same_values, stored_objects
from properties.coverage import Coverage
from properties.creation import CREATES, check_creation
from properties.driver import Driver, EntryDriver

FULL_EVERY = 1000
"""Steps between whole-snapshot comparisons when only touched entries are compared in between."""
WINDOW = 1000
"""Steps the model runs ahead of the target at most (`Lockstep.ahead`)."""


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


@dataclass(slots=True)
class _Ahead:
    """A step the model has taken and the target not yet: what the target is held to (`Lockstep.catch_up`)."""

    index: int  # its place in the trace
    step: Step  # the trace's record: the step, or an attack
    applied: Step | None  # what the model applied: the step, a neutral attack's valid step; None for an attack
    name: str | None  # the model's error name for it
    events: list[Event]
    state: ChoirState  # the model's state after it
    violations: list[Violation]
    valid: bool = True  # an attack's base step is valid in the model's state (`base_is_valid`)
    # What the target's run of it left for `Lockstep._settle`:
    result: AttackResult | None = None  # an attack's
    prepared: bool = False  # a neutral attack was prepared on the target (else it is counted as skipped)
    written: dict[Any, bytes | None] | None = None  # the accounts its transaction wrote, read right after it
    compared: bool = False  # those are compared now (not after a whole comparison: with the next step's)
    failure: PropertyFailure | None = None  # the first failure the target's run found
    checked: bool = False  # that failure is a neutral attack's own check (after its step's comparison)


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
        self.driven = 0  # the steps of the trace the target has run (or been held to)
        self.failed = False
        self._ahead: list[_Ahead] = []
        self._carried: set[SnapshotKey] = set()  # entries written at a step compared whole, for the next step

    def step(self, step: Step) -> str | None:
        """Apply `step` everywhere; raise PropertyFailure on a violation or a difference. Returns the error name
        (of an attack, the target's refusal)."""
        self.ahead(step)
        return self.catch_up()

    def ahead(self, step: Step) -> None:
        """Apply `step` to the model and check every invariant; the target runs it at the next `catch_up` (at the
        latest `WINDOW` steps on), which this calls at once when an invariant broke. An attack does not step the
        model; whether its base step is valid now is kept for its oracle."""
        model = self.model
        self.steps.append(step)
        index = len(self.steps) - 1
        if isinstance(step, Attack) and step.kind not in NEUTRAL:
            self._ahead.append(_Ahead(index, step, None, None, [], model.state, [], base_is_valid(model, step)))
        else:
            applied = step.base if isinstance(step, Attack) else step
            before = self.checker.before(model.state, applied)
            # The step runs on a fork of the state (`Model.refusal`), never in place, so that the state after each
            # step of the window stays as it was. A campaign's generator has run it there already (to know whether
            # it may attack it): that run is taken as the step.
            attempt = model.take_attempt(applied)
            if attempt is None:
                model.refusal(applied)
                attempt = model.take_attempt(applied)
                assert attempt is not None
            model.state, events, error = attempt.after, attempt.events, attempt.error
            name = error.name if error is not None else None
            violations = self.checker.after(model.state, applied, before, error, events)
            self.last_violations = violations
            self._ahead.append(_Ahead(index, step, applied, name, events, model.state, violations))
            if violations:
                self.catch_up()
        if len(self._ahead) >= WINDOW:
            self.catch_up()

    def catch_up(self) -> str | None:
        """Run the steps the model took ahead on the target, in order, each held to the model's state after it;
        raise the first failure. Returns the error name of the last one (of an attack, the target's refusal).

        Two passes, again so that the target's work and the checks' do not alternate: the target runs the steps,
        what each transaction wrote read right after it (and what must be read then: an attack's accounts, a
        creation's system calls, the whole snapshot every `full_every` steps), up to the first failure found
        there; then each step's reads are decoded and compared and its coverage recorded, in step order, and the
        first failure in step order is raised, whichever pass found it."""
        queued, self._ahead = self._ahead, []
        ran = []
        for entry in queued:
            ran.append(entry)
            if entry.violations:
                break  # the target does not run a step that broke an invariant on the model
            self.driven = entry.index + 1
            try:
                self._run(entry)
            except PropertyFailure as failure:
                entry.failure = failure
                break
        name = None
        for entry in ran:
            self.driven = entry.index + 1
            try:
                name = self._settle(entry)
            except PropertyFailure as failure:
                self.coverage.violations[failure.kind] += 1
                raise
        return name

    def _run(self, entry: _Ahead) -> None:
        """The target's part of one step: an attack's transaction and its oracle; a neutral attack's preparation,
        its valid step (`_compare`), then its own check; a step (`_compare`)."""
        step = entry.step
        if entry.applied is None:
            runner = getattr(self.driver, "attack", None)  # a replay's witness records what the target did
            result = runner(step, entry.valid) if runner is not None else run_attack(self.driver, step, entry.valid)
            entry.result = result
            if result is not None and result.problems:
                self.fail("access_control", result.problems)
            return
        neutral = step if isinstance(step, Attack) else None
        target = getattr(self.driver, "driver", self.driver)  # a replay's witness wraps the target's driver
        check = prepare_neutral(target, neutral) if neutral is not None and target is not None else None
        entry.prepared = check is not None
        try:
            if self.driver is not None:
                self._compare(entry)
        finally:
            if neutral is not None and hasattr(target, "amend"):
                target.amend = None  # a change the step did not use (it stopped before building: `_repeated_account`)
        problems = check() if check is not None and entry.name is None else []
        if problems:
            entry.checked = True
            self.fail("access_control", problems)

    def _settle(self, entry: _Ahead) -> str | None:
        """One step's verdicts, in the order a step alone meets them: its coverage, the model's invariants, what the
        target's run found before its accounts were compared, their comparison, then a neutral attack's count and
        its own check."""
        step = entry.step
        if entry.applied is None:
            record(self.coverage.attacks, step, entry.result)  # type: ignore[arg-type]
            if entry.failure is not None:
                raise entry.failure
            return None if entry.result is None else entry.result.error
        self.coverage.record(entry.applied.op, entry.name, entry.events)
        if entry.violations:
            for violation in entry.violations[1:]:
                self.coverage.violations[violation.invariant] += 1
            self.fail(entry.violations[0].invariant, [str(v) for v in entry.violations])
        if entry.failure is not None and not entry.checked:
            raise entry.failure
        if entry.written is not None:
            self._compare_written(entry)
        if isinstance(step, Attack):
            self.coverage.attacks[(step.kind, entry.name or "ok" if entry.prepared else "skipped")] += 1
        if entry.failure is not None:
            raise entry.failure
        return entry.name

    def _compare(self, entry: _Ahead) -> None:
        """Run the step on the target and compare its outcome; read what it wrote (`_compare_written` compares it),
        or compare the whole snapshot (every `full_every` steps, and after every step of a driver that cannot say
        what it wrote)."""
        driver = self.driver
        assert driver is not None
        step, expected, state = entry.applied, entry.name, entry.state
        assert step is not None
        actual = driver.apply(step)
        if actual != expected:
            self._differ([f"outcome: model {expected or 'ok'} vs {driver.name} {actual or 'ok'}"])
        if actual is None and step.op in CREATES:
            check_creation(self)  # the system calls that created its accounts (docs/spec.md section 9)
        if not self.by_entry:
            model = self.model
            self._differ_if(diff_snapshots(snapshot(state, model.params, model.economics), driver.snapshot()))
            self._compare_stored(state, model_entries(step, entry.events))
            return
        entry.written = driver.written()  # type: ignore[union-attr]
        self.since_full += 1
        if self.since_full >= self.full_every:
            self._verify(state)
            return
        entry.compared = True

    def _compare_written(self, entry: _Ahead) -> None:
        """The entries the step's transaction wrote (and those written at a step compared whole, which the next
        step compares), against the model's state after the step."""
        driver = self.driver
        written = self._carried | driver.advance(entry.written)  # type: ignore[union-attr,arg-type]
        if not entry.compared:
            self._carried = written
            return
        self._carried = set()
        if entry.name is not None and not written:
            return  # refused on both sides: the model changed nothing (invariant 9) and neither did the target
        step, state, model = entry.applied, entry.state, self.model
        keys = written | model_entries(step, entry.events)  # type: ignore[arg-type]
        values, held = entry_values(state, keys), driver.held(keys)  # type: ignore[union-attr]
        if not same_values(values, held):
            self._differ_if(diff_values(values, held, model.params, model.economics))

    def _compare_stored(self, state: ChoirState, keys: set[SnapshotKey]) -> None:
        """Every stored field of the touched threads and messages, for drivers that expose them (`stored`)."""
        stored = getattr(self.driver, "stored", None)
        if stored is not None:
            self._differ_if(diff_stored(stored_objects(state, keys), stored(keys)))

    def verify(self) -> None:
        """Run the steps taken ahead, then compare the whole snapshots, the implementation's re-read from its own
        storage; raise PropertyFailure on a difference. Runs every `full_every` steps and at the end of a run;
        nothing to do after a failure, or when no step (nor attack) was run since the last one (a run whose last
        step made the every-K comparison)."""
        self.catch_up()
        try:
            self._verify(self.model.state)
        except PropertyFailure as failure:
            self.coverage.violations[failure.kind] += 1
            raise

    def _verify(self, state: ChoirState) -> None:
        """`verify` with the target caught up to `state`, the model's state after the last step it ran."""
        if self.driver is None or self.failed or self.compared_at == self.driven:
            return
        self.since_full = 0
        self.compared_at = self.driven
        actual = self.driver.snapshot(full=True) if self.by_entry else self.driver.snapshot()  # type: ignore[call-arg]
        model = self.model
        self._differ_if(diff_snapshots(snapshot(state, model.params, model.economics), actual))
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
        """Raise property `prop`'s PropertyFailure over the steps up to the one the target ran last, whichever
        check found it (an invariant, a difference, an attack's oracle, `account_creation`); the lockstep is then
        done (`verify` compares nothing more). It is counted violated where it leaves the lockstep (`catch_up`,
        `verify`): the target's run may find one that an earlier step's comparison then comes before."""
        self.failed = True
        raise PropertyFailure(prop, details, self.steps[: self.driven])

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
            lockstep.ahead(step)
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
