"""Temperature, frequency and the recommended stake (SPEC section 5), as pluggable objects.

These are derived analytics: they are floats, never move tokens, and only `MIN_STAKE` is enforced. Economists
compare formulas by name (`FORMULAS`) or by passing their own object that satisfies `StakeFormula`.

The quantum formula's temperature scale `k` is its calibration parameter (SPEC section 5). Its default,
`CALIBRATED_K = 0.023`, was chosen by measurement on the simulator's shipped scenarios: T is CHOIR per co-author
and realistic threads hold tens to hundreds of CHOIR per co-author, so with `k = 1` every recommendation of the
baseline scenario sat at the cap. Over 6 seeds of the baseline, k = 0.023 puts 1.7% of recommendations at the cap
and 8.0% within 1% of S0/2 (the zero-temperature floor), median 60 CHOIR; `bench/bench_calibration.py` repeats the
measurement and `docs/BENCHMARKS.md` holds its table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from choir_model.errors import TemperatureError

_EXP_LIMIT = 700.0  # exp() overflows a float just above 709; beyond this 1/(e^x - 1) is 0 to double precision


@dataclass(frozen=True, slots=True)
class Temperature:
    """T = E / N with E the thread balance in CHOIR and N the co-author count (spec section 5)."""

    def __call__(self, balance: int, coauthors: int, unit: int) -> float:
        if coauthors <= 0:
            raise TemperatureError(f"temperature needs at least one co-author, got N={coauthors}")
        return balance / unit / coauthors


@dataclass(frozen=True, slots=True)
class Frequency:
    """omega = omega0 * sqrt(N): coupling grows with the number of co-authors."""

    omega0: float = 1.0

    def __call__(self, coauthors: int) -> float:
        return self.omega0 * math.sqrt(coauthors)


@runtime_checkable
class StakeFormula(Protocol):
    """A recommended-stake formula. Inputs are the thread's analytics; the result is in CHOIR (a float).

    A formula may also say `uses_age` (a bool): False promises `recommend` ignores `age`, so a caller may reuse a
    thread's recommendation while its balance and co-authors are unchanged (the simulator's sampler does). A
    formula without it is assumed to read the age."""

    name: str

    def recommend(self, temperature: float, frequency: float, balance_choir: float, age: int) -> float: ...


def _positive(value: object) -> bool:
    """A finite number > 0 (not a bool): what every scale of a formula must be."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _positive(value: object) -> bool:
    """A finite number > 0 (not a bool): what every scale of a formula must be."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


CALIBRATED_K = 0.023
"""The quantum formula's default temperature scale, measured on the shipped scenarios (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class QuantumStake:
    """Choir's quantum-oscillator formula: P = S0 * (1/2 + 1/(exp(hbar*omega/(k*T)) - 1)), capped at cap * S0.

    At T = 0 the Bose term vanishes and P = S0/2 (the zero-point energy). With `tau` set, temperature cools with
    the thread's age: T_eff = T / sqrt(1 + age/tau). `ceiling` (cap * S0) is what a capped recommendation says;
    a formula without a ceiling is never capped."""

    name: str = "quantum"
    s0: float = 100.0
    hbar: float = 1.0
    k: float = CALIBRATED_K
    cap: float = 5.0
    tau: float | None = None

    def __post_init__(self) -> None:
        for name in ("s0", "hbar", "k", "cap"):
            if not _positive(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number > 0, got {getattr(self, name)!r}")
        if self.tau is not None and not _positive(self.tau):
            raise ValueError(f"tau must be a finite number > 0 or absent, got {self.tau!r}")

    @property
    def ceiling(self) -> float:
        """The cap in CHOIR: recommendations at this value were capped."""
        return self.cap * self.s0

    @property
    def floor(self) -> float:
        """The zero-temperature limit S0/2 in CHOIR: recommendations near it say the thread is cold."""
        return self.s0 / 2

    @property
    def uses_age(self) -> bool:
        """Only the cooling variant reads the thread's age."""
        return self.tau is not None

    def effective_temperature(self, temperature: float, age: int) -> float:
        if self.tau is None:
            return temperature
        return temperature / math.sqrt(1.0 + max(age, 0) / self.tau)

    def recommend(self, temperature: float, frequency: float, balance_choir: float = 0.0, age: int = 0) -> float:
        kt = self.k * self.effective_temperature(temperature, age)
        if kt <= 0.0:
            return self.s0 / 2
        x = self.hbar * frequency / kt
        bose = 0.0 if x > _EXP_LIMIT else 1.0 / math.expm1(x) if x > 0 else math.inf
        return min(self.s0 * (0.5 + bose), self.cap * self.s0)


@dataclass(frozen=True, slots=True)
class LinearStake:
    """Choir's EVM draft, for comparison: stake = frequency * (balance + 500) / 1000, balance in CHOIR."""

    name: str = "linear"
    offset: float = 500.0
    scale: float = 1000.0

    def __post_init__(self) -> None:
        if not (_positive(self.offset) or self.offset == 0):
            raise ValueError(f"offset must be a finite number >= 0, got {self.offset!r}")
        if not _positive(self.scale):
            raise ValueError(f"scale must be a finite number > 0, got {self.scale!r}")

    @property
    def uses_age(self) -> bool:
        return False

    def recommend(self, temperature: float, frequency: float, balance_choir: float = 0.0, age: int = 0) -> float:
        return frequency * (balance_choir + self.offset) / self.scale


FORMULAS: dict[str, StakeFormula] = {
    "quantum": QuantumStake(),
    "quantum-cooling": QuantumStake(name="quantum-cooling", tau=30 * 24 * 3600.0),
    "linear": LinearStake(),
}
"""Formulas selectable by name (CLI, scenarios, sweeps)."""


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A recommended stake in base units and what bounded it: `capped` when the formula's ceiling cut it (the
    formula then says nothing about how hot the thread is), `below_min` when it is under `MIN_STAKE` (a spec
    at the recommendation would be refused with StakeTooLow)."""

    amount: int
    capped: bool
    below_min: bool

    @property
    def note(self) -> str:
        """ "capped", "below MIN_STAKE" or "" for printing next to the amount."""
        return "capped" if self.capped else "below MIN_STAKE" if self.below_min else ""


@dataclass(frozen=True, slots=True)
class Economics:
    """The thread analytics a model uses: how temperature, frequency and the recommended stake are computed."""

    temperature: Temperature = field(default_factory=Temperature)
    frequency: Frequency = field(default_factory=Frequency)
    formula: StakeFormula = field(default_factory=QuantumStake)

    def recommended_stake(self, balance: int, coauthors: int, unit: int, age: int = 0) -> int:
        """The recommended stake in base units, rounded down (the formula is advisory; floor never over-asks)."""
        temperature = self.temperature(balance, coauthors, unit)
        choir = self.formula.recommend(temperature, self.frequency(coauthors), balance / unit, age)
        return int(choir * unit) if math.isfinite(choir) else 0

    def classify(self, amount: int, unit: int, min_stake: int) -> Recommendation:
        """Flag a recommended stake (base units) as capped or below `min_stake`. Capped means it reached the
        formula's `ceiling` (in CHOIR, floored to base units exactly as `recommended_stake` floors)."""
        ceiling = getattr(self.formula, "ceiling", None)
        capped = ceiling is not None and math.isfinite(ceiling) and amount >= int(ceiling * unit)
        return Recommendation(amount, capped, amount < min_stake)

    def recommendation(self, balance: int, coauthors: int, unit: int, min_stake: int, age: int = 0) -> Recommendation:
        """`recommended_stake` with its flags (SPEC section 5: every recommendation says whether it was capped)."""
        return self.classify(self.recommended_stake(balance, coauthors, unit, age), unit, min_stake)
