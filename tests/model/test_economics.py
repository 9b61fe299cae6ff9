"""Temperature, frequency and the stake formulas (SPEC section 5): the check value, the limits and the cap."""

from __future__ import annotations

import math

import pytest

from choir_model import CALIBRATED_K, CHOIR, FORMULAS, Economics, LinearStake, QuantumStake
from choir_model.errors import TemperatureError


def test_quantum_check_value() -> None:
    # SPEC section 5's check value is stated for k*T = 4.66: with k = 1, T = 4.66; with the default k, T = 4.66 / k.
    assert QuantumStake(k=1.0).recommend(4.66, 1.585) == pytest.approx(296.8, abs=0.05)
    assert QuantumStake().recommend(4.66 / CALIBRATED_K, 1.585) == pytest.approx(296.8, abs=0.05)


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
    assert formula.ceiling == 500.0


def test_every_recommendation_says_whether_it_was_capped_or_below_min_stake() -> None:
    economics, min_stake = Economics(), CHOIR
    hot = economics.recommendation(10_000 * CHOIR, 1, CHOIR, min_stake)
    assert (hot.amount, hot.capped, hot.below_min, hot.note) == (500 * CHOIR, True, False, "capped")
    warm = economics.recommendation(100 * CHOIR, 3, CHOIR, min_stake)
    assert not warm.capped and not warm.below_min and 50 * CHOIR < warm.amount < 500 * CHOIR and warm.note == ""
    # The linear draft recommends under a CHOIR for small threads: flagged, never silently refused later.
    linear = Economics(formula=LinearStake()).recommendation(CHOIR, 3, CHOIR, min_stake)
    assert (linear.capped, linear.below_min, linear.note) == (False, True, "below MIN_STAKE")
    assert economics.classify(500 * CHOIR - 1, CHOIR, min_stake).capped is False


def test_default_k_spreads_recommendations_over_realistic_threads() -> None:
    """With k = 1 a thread of 100 CHOIR per co-author is far past the cap; the calibrated k keeps such threads
    inside the formula's range (the measurement itself is bench/bench_calibration.py)."""
    assert QuantumStake(k=1.0).recommend(100.0, 1.0) == 500.0
    values = [QuantumStake().recommend(t, 2.0) for t in (10.0, 50.0, 100.0, 200.0)]
    assert all(50.0 < v < 500.0 for v in values) and values == sorted(values)


def test_quantum_grows_with_temperature_and_falls_with_frequency() -> None:
    formula = QuantumStake()
    temps = [t / CALIBRATED_K for t in (0.1, 0.5, 1.0, 2.0, 4.0)]  # k*T from 0.1 to 4
    values = [formula.recommend(t, 1.0) for t in temps]
    assert values == sorted(values) and len(set(values)) == len(values)
    assert formula.recommend(temps[3], 2.0) < formula.recommend(temps[3], 1.0)


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
