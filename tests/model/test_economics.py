"""Temperature, frequency and the stake formulas (SPEC section 5): the check value, the limits and the cap."""

from __future__ import annotations

import math

import pytest

from choir_model import CHOIR, FORMULAS, Economics, LinearStake, QuantumStake
from choir_model.errors import TemperatureError


def test_quantum_check_value() -> None:
    assert QuantumStake().recommend(4.66, 1.585) == pytest.approx(296.8, abs=0.05)


def test_quantum_zero_temperature_is_half_s0() -> None:
    formula = QuantumStake()
    assert formula.recommend(0.0, 1.0) == 50.0
    assert formula.recommend(1e-12, 1.0) == 50.0  # exp overflows: the Bose term is 0
    assert formula.recommend(0.01, 3.0) == pytest.approx(50.0)


def test_quantum_is_capped() -> None:
    formula = QuantumStake()
    assert formula.recommend(1e6, 1.0) == 500.0
    assert QuantumStake(cap=10.0).recommend(1e6, 1.0) == 1000.0
    assert formula.recommend(4.66, 1.585) < 500.0


def test_quantum_grows_with_temperature_and_falls_with_frequency() -> None:
    formula = QuantumStake()
    temps = [0.1, 0.5, 1.0, 2.0, 4.0]
    values = [formula.recommend(t, 1.0) for t in temps]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert formula.recommend(2.0, 2.0) < formula.recommend(2.0, 1.0)


def test_cooling_lowers_the_effective_temperature() -> None:
    tau = 100.0
    formula = QuantumStake(tau=tau)
    assert formula.effective_temperature(4.0, 0) == 4.0
    assert formula.effective_temperature(4.0, 300) == pytest.approx(4.0 / 2.0)
    assert formula.recommend(4.0, 1.0, age=300) == pytest.approx(QuantumStake().recommend(2.0, 1.0))


def test_linear_formula_of_the_evm_draft() -> None:
    # frequency * (balance + 500) / 1000 with balance 1500 CHOIR and frequency 2 -> 4 CHOIR
    assert LinearStake().recommend(0.0, 2.0, 1500.0) == 4.0


def test_economics_in_base_units() -> None:
    economics = Economics()
    # E = 4.66 CHOIR, N = 1: T = 4.66, omega = 1 -> floor(P * 10^9)
    expected = QuantumStake().recommend(4.66, 1.0)
    assert economics.recommended_stake(4_660_000_000, 1, CHOIR) == math.floor(expected * CHOIR)
    assert economics.temperature(2 * CHOIR, 3, CHOIR) == pytest.approx(2 / 3)
    assert economics.frequency(4) == 2.0
    with pytest.raises(TemperatureError):
        economics.temperature(CHOIR, 0, CHOIR)


def test_formulas_by_name() -> None:
    assert set(FORMULAS) >= {"quantum", "quantum-cooling", "linear"}
    assert all(formula.name == name for name, formula in FORMULAS.items())


def test_formulas_say_whether_they_read_the_age() -> None:
    """`uses_age` is a promise callers cache on: a formula that says False must give the same answer at any age."""
    assert [FORMULAS[name].uses_age for name in ("quantum", "quantum-cooling", "linear")] == [False, True, False]
    for formula in FORMULAS.values():
        if not formula.uses_age:
            assert formula.recommend(3.0, 1.5, 200.0, 0) == formula.recommend(3.0, 1.5, 200.0, 10**9)
    cooling = FORMULAS["quantum-cooling"]
    assert cooling.recommend(3.0, 1.5, 200.0, 0) != cooling.recommend(3.0, 1.5, 200.0, 10**9)
