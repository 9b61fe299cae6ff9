"""The Hypothesis stateful machine over the reference model (and, differentially, over any driver).

One rule per operation (drawing one byte string that decides the whole step, see `ByteSource`), each enabled by
the example's swarm (a random subset of operations chosen at initialisation, so some examples hammer a few
operations and reach deep states). Every rule asks the
`StepGenerator` for a step, drawing each choice from Hypothesis so failures shrink; `Lockstep` applies it to the
model (and the driver under test). One `@invariant` per SPEC invariant reports violations by name.

A failure carries its steps (`PropertyFailure.steps`); the campaign shrinks them and writes the trace that
`choir check replay FILE` replays on any target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from choir_model import CHOIR, INVARIANTS, Fund, Params
from choir_model.ops import Rules
from properties.attacks import accepts_attacks
from properties.coverage import Coverage
from properties.creation import PROPERTY as CREATION
from properties.driver import Driver
from properties.generate import GENESIS, OPS, THREAD_IDS, USERS, StepGenerator
from properties.lockstep import Lockstep, PropertyFailure

CHOICE_BYTES = 32
BOOTSTRAP = ("fund", "create_thread")


class ByteSource:
    """All choices of one step come from one drawn byte string, one byte per choice.

    One draw per step instead of one per choice makes the machine several times faster, and it still shrinks
    well: Hypothesis shrinks bytes towards 0, and choice 0 is always the simplest valid option. Choices past the
    end of the string are 0. Option lists are short (well under 256), so `byte % n` is close to uniform."""

    __slots__ = ("data", "position")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def index(self, n: int) -> int:
        if n <= 1:
            return 0
        position = self.position
        self.position = position + 1
        return self.data[position] % n if position < len(self.data) else 0


@dataclass
class MachineConfig:
    params: Params = field(default_factory=Params)
    policy: str = "seeds"
    driver_factory: Callable[[], Driver] | None = None
    coverage: Coverage = field(default_factory=Coverage)
    on_example: Callable[[], None] | None = None
    rules: type[Rules] = Rules
    formula: str = "quantum"


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
            rules=config.rules,
            formula=config.formula,
        )
        self.generator = StepGenerator(self.lockstep.model, _NO_SOURCE, attacks=accepts_attacks(self.lockstep.driver))
        self.enabled: frozenset[str] = frozenset(OPS)
        config.coverage.examples += 1
        if config.on_example is not None:
            config.on_example()

    @initialize(swarm=st.sets(st.sampled_from(OPS[2:]), min_size=1), funded=st.integers(0, len(USERS)))
    def genesis(self, swarm: set[str], funded: int) -> None:
        """Choose the swarm, and give the first `funded` users 1,000 CHOIR each (as recorded `fund` steps) so
        examples start where the economics happens; with `funded=0` the example starts from bare genesis."""
        self.enabled = frozenset({*BOOTSTRAP, *swarm})
        for user in USERS[:funded]:
            self.lockstep.step(Fund(user, GENESIS, 1000 * CHOIR, ("treasury1", "treasury2")))

    def _run(self, op: str, choices: bytes) -> None:
        self.generator.source = ByteSource(choices)
        step = self.generator.step(op)
        try:
            self.lockstep.step(step)
        except PropertyFailure as failure:
            if failure.kind in ("difference", "access_control", CREATION):
                raise
            # an invariant violation is reported by the @invariant named after it, right after this rule

    def teardown(self) -> None:
        try:
            self.lockstep.verify()  # the whole state, at the end of the example
        finally:
            self.lockstep.close()


class _Unset:
    def index(self, n: int) -> int:
        raise RuntimeError("the generator's source is set by each rule")


_NO_SOURCE = _Unset()


def _op_rule(op: str) -> Callable[[ChoirMachine, bytes], None]:
    def run(self: ChoirMachine, choices: bytes) -> None:
        self._run(op, choices)

    run.__name__ = op
    strategy = st.binary(min_size=CHOICE_BYTES, max_size=CHOICE_BYTES)
    if op == "fund":
        return precondition(lambda self: op in self.enabled)(rule(choices=strategy)(run))
    if op == "create_thread":  # a bounded number of threads per example (invalid ids and ThreadExists remain)
        return precondition(lambda self: len(self.lockstep.model.state.threads) < len(THREAD_IDS))(
            rule(choices=strategy)(run)
        )
    # Thread operations wait for a thread to exist: before that they could only fail with UnknownThread, which
    # the generator still produces on purpose once threads exist.
    return precondition(lambda self: op in self.enabled and self.lockstep.model.state.threads)(
        rule(choices=strategy)(run)
    )


def _named_invariant(name: str) -> Callable[[ChoirMachine], None]:
    def check(self: ChoirMachine) -> None:
        broken = [str(v) for v in self.lockstep.last_violations if v.invariant == name]
        if broken:
            raise PropertyFailure(name, broken, self.lockstep.steps)

    check.__name__ = f"invariant_{name}"
    return invariant()(check)


for _op in OPS:
    setattr(ChoirMachine, _op, _op_rule(_op))
for _name in INVARIANTS:
    setattr(ChoirMachine, f"invariant_{_name}", _named_invariant(_name))


def machine_for(config: MachineConfig) -> type[ChoirMachine]:
    """A machine class bound to one campaign's configuration."""
    return type("ChoirMachine", (ChoirMachine,), {"config": config})
