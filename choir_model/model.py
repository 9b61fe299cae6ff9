"""`Model`: one Choir world with its rules, the facade most users want.

It owns a `ChoirState`, applies steps through `ops.Rules`, records the StakeAnalytics of every spec and, when
asked, checks every invariant after every step (`check="step"`) or audits the whole state (`check="audit"`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from typing import Any, Literal, TypeVar

from choir_model import events as ev
from choir_model.analytics import StakeAnalytics
from choir_model.economics import Economics, StakeFormula
from choir_model.errors import ChoirError
from choir_model.invariants import Checker, Violation, audit
from choir_model.ops import Rules
from choir_model.params import Params
from choir_model.resolve import resolve_policy
from choir_model.settlement import DEFAULT_POLICY, SettlementPolicy
from choir_model.state import ChoirState, Thread
from choir_model.steps import Step, SubmitSpec
from choir_model.trace import snapshot

CheckMode = Literal["off", "step", "audit"]
T = TypeVar("T")


class InvariantViolation(AssertionError):
    """Raised by a checked model when a step breaks an invariant; carries the violations and the step."""

    def __init__(self, violations: list[Violation], step: Step | None) -> None:
        self.violations = violations
        self.step = step
        listed = "; ".join(str(v) for v in violations)
        super().__init__(f"after {step!r}: {listed}")


@dataclasses.dataclass(slots=True)
class Attempt:
    """What `Model.refusal` found by running `step` on a fork of `state`: the fork after it (`after`), its events
    and its error. Whoever applies that very step to that very state next may take `after` as the state after it
    (`Model.take_attempt`) instead of running the rules a second time: the fork is that state with the step's
    thread, message, wallets and totals its own, and everything else shared with it. Not frozen: one is made for
    every step a campaign generates, and a frozen dataclass sets each field through `object.__setattr__`."""

    step: Step
    state: ChoirState
    after: ChoirState
    events: list[ev.Event]
    error: ChoirError | None


class Model:
    """A Choir world. `apply` returns the step's events or raises `ChoirError` (state unchanged).

    `rules` swaps the transition function; the property suite's mutation tests pass deliberately broken
    subclasses of `Rules` to prove the invariants and the differential check catch them."""

    def __init__(
        self,
        params: Params | None = None,
        policy: str | SettlementPolicy = DEFAULT_POLICY,
        formula: StakeFormula | None = None,
        check: CheckMode = "off",
        rules: type[Rules] = Rules,
    ) -> None:
        self.params = params or Params()
        self.policy = resolve_policy(policy) if isinstance(policy, str) else policy
        self.economics = Economics(formula=formula) if formula is not None else Economics()
        self.rules = rules(self.params, self.policy, self.economics)
        self.state = ChoirState.genesis(self.params.total_supply)
        self.attempt: Attempt | None = None  # the last `refusal`'s work (`take_attempt`)
        self.analytics: dict[tuple[str, str], StakeAnalytics] = {}
        self.check: CheckMode = check
        self._checker = Checker(self.params, self.policy, self.economics) if check != "off" else None

    def apply(self, step: Step) -> list[ev.Event]:
        """Apply one step; with checks on, raise `InvariantViolation` if the step broke an invariant."""
        self.attempt = None  # the state changes in place: a refusal's fork is of the state before
        if self._checker is None:
            events = self.rules.apply(self.state, step)
            self._record(step, events)
            return events
        before = self._checker.before(self.state, step)
        try:
            events = self.rules.apply(self.state, step)
        except ChoirError as error:
            violations = self._checker.after(self.state, step, before, error, ())
            if self.check == "audit":
                violations += audit(self.state, self.params)
            if violations:
                raise InvariantViolation(violations, step) from error
            raise
        violations = self._checker.after(self.state, step, before, None, events)
        if self.check == "audit":
            violations += audit(self.state, self.params)
        if violations:
            raise InvariantViolation(violations, step)
        self._record(step, events)
        return events

    def try_apply(self, step: Step) -> str | None:
        """Apply a step and return None or the error name: the shape drivers and traces use."""
        try:
            self.apply(step)
        except ChoirError as error:
            return error.name
        return None

    def refusal(self, step: Step) -> ChoirError | None:
        """The error `step` would get now, or None if it would be accepted; changes nothing, checks nothing.

        Why not `copy.deepcopy(model).try_apply(step)`: that copies the whole world, and the backend asks this for
        every operation its chain refuses. A step changes only the wallets, the treasury, the running totals,
        `last_now` and its own thread (or adds one) and the one message it names (SPEC section 3: every operation
        addresses at most one message), so it runs on a fork that shares every other thread and message: copying a
        whole thread with its hundreds of messages was most of the cost of an attack step in a campaign. The fork
        is kept as `attempt` until the next refusal (see `take_attempt`)."""
        state = self.state
        fork = _copy(state)
        fork.wallets, fork.threads = dict(state.wallets), dict(state.threads)
        thread = state.threads.get(getattr(step, "thread", None))  # type: ignore[arg-type]
        if thread is not None:
            fork.threads[thread.thread_id] = _fork_thread(thread, getattr(step, "hash", None))
        events: list[ev.Event] = []
        error = None
        try:
            events = self.rules.apply(fork, step)
        except ChoirError as caught:
            error = caught.with_traceback(None)  # kept: without the traceback, no cycle through these frames
        self.attempt = Attempt(step, state, fork, events, error)
        return error

    def take_attempt(self, step: Step) -> Attempt | None:
        """The last `refusal`'s work when it was `step` (the same object) on the current state (the same object),
        and forget it: the caller then makes `attempt.after` the state (its step applied, or refused: exactly what
        running the rules on the state would leave, since the fork shares everything the step does not own;
        a broken rule that writes before it refuses leaves its writes there too, for the checker to see). A
        campaign asks `refusal` for every step it generates, then applies most of them: this runs the rules once
        instead of twice. None (and the caller runs the rules) when the state was replaced since, or the step is
        another; a caller that changes the state in place between the two must not ask."""
        attempt, self.attempt = self.attempt, None
        if attempt is None or attempt.step is not step or attempt.state is not self.state:
            return None
        return attempt

    def snapshot(self) -> dict[str, Any]:
        """The SPEC section 8 snapshot."""
        return snapshot(self.state, self.params, self.economics)

    def recommended_stake(self, thread_id: str, now: int | None = None) -> int:
        """The formula's recommended stake for a thread now, in base units."""
        thread = self.state.threads[thread_id]
        age = 0 if now is None else now - thread.created_at
        return self.economics.recommended_stake(thread.balance, len(thread.co_authors), self.params.unit, age)

    def _record(self, step: Step, events: list[ev.Event]) -> None:
        """Keep the StakeAnalytics of specs (submitted, then settled or expired)."""
        for event in events:
            if isinstance(event, ev.SpecSubmitted) and isinstance(step, SubmitSpec):
                thread = self.state.threads[step.thread]
                n = len(thread.co_authors)
                unit = self.params.unit
                recommended = self.economics.recommended_stake(thread.balance, n, unit, step.now - thread.created_at)
                history = thread.specs_settled
                self.analytics[(step.thread, step.hash)] = StakeAnalytics(
                    step.thread,
                    step.hash,
                    step.actor,
                    step.now,
                    recommended,
                    step.stake,
                    step.stake / recommended if recommended else None,
                    thread.specs_approved / history if history else None,
                )
            elif isinstance(event, ev.StakeSettled):
                record = self.analytics.get((event.thread_id, event.content_hash))
                if record is not None:
                    record.outcome = event.outcome
                    record.settled_at = step.now


def _fork_thread(thread: Thread, content_hash: str | None) -> Thread:
    """A copy of `thread` whose containers and message `content_hash` are its own; other messages are shared."""
    messages = dict(thread.messages)
    message = messages.get(content_hash)  # type: ignore[arg-type]
    if message is not None:
        message = messages[message.content_hash] = _copy(message)
        message.votes = dict(message.votes)
    fork = _copy(thread)
    fork.co_authors, fork.last_divest = list(thread.co_authors), dict(thread.last_divest)
    fork.messages, fork.pending_spec_authors = messages, set(thread.pending_spec_authors)
    return fork


_FIELDS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _copy(obj: T) -> T:
    """A shallow copy of a state dataclass (`ChoirState`, `Thread`, `Message`): its fields passed to its class
    positionally. `dataclasses.replace` does the same but works out the fields on every call, which was half of
    what `refusal` cost."""
    cls = type(obj)
    fields = _FIELDS.get(cls)
    if fields is None:
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        fields = _FIELDS[cls] = attrgetter(*names)  # every state class has several fields: a tuple
    return cls(*fields(obj))
