"""The Hypothesis stateful machine over the reference model (and, differentially, over any driver).

One rule per operation (drawing one integer that decides the whole step, see `WordSource`), each enabled by
the example's swarm (a random subset of operations chosen at initialisation, so some examples hammer a few
operations and reach deep states). Every rule asks the
`StepGenerator` for a step, drawing each choice from Hypothesis so failures shrink; `Lockstep` applies it to the
model (and the driver under test). One `@invariant` per SPEC invariant reports violations by name.

On failure the current (eventually the shrunk) trace is written to `MachineConfig.failure_path`, so
`choir check replay FILE` can replay it on any target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from choir_model import INVARIANTS, Params
from properties.coverage import Coverage
from properties.driver import Driver
from properties.generate import OPS, StepGenerator
from properties.lockstep import Lockstep, PropertyFailure

WORD_BITS = 64


class WordSource:
    """All choices of one step come from one drawn integer, read as mixed-radix digits (first choice lowest).

    One draw per step instead of one per choice makes the machine several times faster, and it still shrinks
    well: Hypothesis shrinks the word towards 0, and digit 0 is always the simplest valid option. Once the word's
    digits run out every further choice is 0."""

    __slots__ = ("word",)

    def __init__(self, word: int) -> None:
        self.word = word

    def index(self, n: int) -> int:
        if n <= 1:
            return 0
        self.word, digit = divmod(self.word, n)
        return digit


@dataclass
class MachineConfig:
    params: Params = field(default_factory=Params)
    policy: str = "seeds"
    driver_factory: Callable[[], Driver] | None = None
    failure_path: Path = Path("failures/choir-failure.jsonl")
    coverage: Coverage = field(default_factory=Coverage)
    on_example: Callable[[], None] | None = None


class ChoirMachine(RuleBasedStateMachine):
    """Subclass per campaign with `config` set (see `machine_for`)."""

    config: MachineConfig = MachineConfig()

    def __init__(self) -> None:
        super().__init__()
        config = self.config
        self.lockstep = Lockstep(
            config.params,
            config.policy,
            config.driver_factory() if config.driver_factory else None,
            coverage=config.coverage,
        )
        self.generator = StepGenerator(self.lockstep.model, _NO_SOURCE)
        self.enabled: frozenset[str] = frozenset(OPS)
        config.coverage.examples += 1
        if config.on_example is not None:
            config.on_example()

    @initialize(swarm=st.sets(st.sampled_from(OPS[2:]), min_size=1))
    def choose_swarm(self, swarm: set[str]) -> None:
        self.enabled = frozenset({"fund", "create_thread", *swarm})

    def _run(self, op: str, word: int) -> None:
        self.generator.source = WordSource(word)
        step = self.generator.step(op)
        try:
            self.lockstep.step(step)
        except PropertyFailure as failure:
            self.lockstep.write(self.config.failure_path)
            if failure.kind == "difference":
                raise
            # invariant violations are reported by the @invariant named after them, right after this rule

    def teardown(self) -> None:
        self.lockstep.close()


class _Unset:
    def index(self, n: int) -> int:
        raise RuntimeError("the generator's source is set by each rule")


_NO_SOURCE = _Unset()


def _op_rule(op: str) -> Callable[[ChoirMachine, int], None]:
    def run(self: ChoirMachine, word: int) -> None:
        self._run(op, word)

    run.__name__ = op
    return precondition(lambda self: op in self.enabled)(rule(word=st.integers(0, 2**WORD_BITS - 1))(run))


def _named_invariant(name: str) -> Callable[[ChoirMachine], None]:
    def check(self: ChoirMachine) -> None:
        broken = [str(v) for v in self.lockstep.last_violations if v.invariant == name]
        assert not broken, f"invariant {name} violated: " + "; ".join(broken)

    check.__name__ = f"invariant_{name}"
    return invariant()(check)


for _op in OPS:
    setattr(ChoirMachine, _op, _op_rule(_op))
for _name in INVARIANTS:
    setattr(ChoirMachine, f"invariant_{_name}", _named_invariant(_name))


def machine_for(config: MachineConfig) -> type[ChoirMachine]:
    """A machine class bound to one campaign's configuration."""
    return type("ChoirMachine", (ChoirMachine,), {"config": config})
