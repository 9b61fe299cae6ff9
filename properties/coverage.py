"""What a campaign reached: how often each operation, error name and settlement outcome occurred, each attack kind
with its refusals, and the verdict per invariant. The default CI campaign must reach every one of them
(`missing()` is empty)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from choir_model.errors import ERROR_NAMES
from choir_model.events import Event, MessageExpired, MessagePublic, MessageRejected, StakeSettled
from choir_model.invariants import INVARIANTS
from choir_model.settlement import Outcome
from choir_model.steps import STEP_TYPES
from properties.attacks import KINDS, NEUTRAL

# ContentTooLarge belongs to the backend and TemperatureError is unreachable through the operations (SPEC 7).
MODEL_ERRORS = tuple(name for name in ERROR_NAMES if name not in ("ContentTooLarge", "TemperatureError"))
# The events that settle a message (SPEC section 4); events are final classes, so their exact type is their kind.
SETTLING = frozenset((StakeSettled, MessagePublic, MessageRejected, MessageExpired))


@dataclass
class Coverage:
    """Counts per step are only the successes per operation and the refusals per (operation, error name); the
    totals per operation, per error and overall are sums of those, made when read (one count a step instead of
    four: recording is part of every soak step's cost)."""

    ok: Counter[str] = field(default_factory=Counter)
    op_errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: Counter[str] = field(default_factory=Counter)
    attacks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, refusal name), properties.attacks
    examples: int = 0

    @property
    def ops(self) -> Counter[str]:
        """Steps per operation, refused ones included."""
        ops = Counter(self.ok)
        for (op, _), count in self.op_errors.items():
            ops[op] += count
        return ops

    @property
    def errors(self) -> Counter[str]:
        """Refusals per error name."""
        errors: Counter[str] = Counter()
        for (_, name), count in self.op_errors.items():
            errors[name] += count
        return errors

    @property
    def steps(self) -> int:
        """Steps run: the operations (a neutral attack's valid step among them) and the other attacks, which
        never reach the model."""
        attacks = sum(count for (kind, _), count in self.attacks.items() if kind not in NEUTRAL)
        return self.ok.total() + self.op_errors.total() + attacks

    def record(self, op: str, error: str | None, events: list[Event] | tuple[Event, ...]) -> None:
        if error is not None:
            self.op_errors[(op, error)] += 1
            return
        self.ok[op] += 1
        if SETTLING.isdisjoint(map(type, events)):  # most steps settle nothing: one pass in C, once per step
            return
        settled = next((e for e in events if type(e) is StakeSettled), None)
        if settled is not None:
            self.outcomes[f"spec {settled.outcome}"] += 1
            return
        for event in events:  # a public request settles without a stake
            kind = type(event)
            if kind is MessagePublic:
                self.outcomes["request approved"] += 1
            elif kind is MessageRejected:
                self.outcomes[f"request {event.outcome}"] += 1  # type: ignore[attr-defined]
            elif kind is MessageExpired:
                self.outcomes["request expired"] += 1

    def merge(self, other: Coverage) -> None:
        """Add what another part of the campaign reached (a unit run elsewhere)."""
        for name in ("ok", "op_errors", "outcomes", "violations", "attacks"):
            getattr(self, name).update(getattr(other, name))
        self.examples += other.examples

    def missing(self) -> list[str]:
        """Every operation (succeeded), error name and spec settlement outcome not yet reached."""
        gaps = [f"op {op}" for op in STEP_TYPES if not self.ok[op]]
        errors = self.errors
        gaps += [f"error {name}" for name in MODEL_ERRORS if not errors[name]]
        gaps += [f"outcome spec {o.value}" for o in Outcome if not self.outcomes[f"spec {o.value}"]]
        if self.attacks:  # a target that runs attacks must meet every kind
            tried = {kind for kind, _ in self.attacks}
            gaps += [f"attack {kind}" for kind in KINDS if kind not in tried]
        return gaps

    def invariant_verdicts(self) -> dict[str, str]:
        return {name: ("VIOLATED" if self.violations[name] else "held") for name in INVARIANTS}
