"""Monte Carlo intervals, paired differences, and the executors every batch of runs goes through."""

from __future__ import annotations

import math

import pytest

from sim import load_scenario
from sim.executors import InProcess, JobError
from sim.montecarlo import interval, run_montecarlo


def test_interval_is_students_t() -> None:
    value = interval([1.0, 2.0, 3.0, 4.0])
    # mean 2.5, sd sqrt(5/3), t(0.975, 3) = 3.182446: half-width 3.182446 * 1.290994 / 2
    assert value.mean == 2.5 and value.n == 4
    assert value.half_width == pytest.approx(3.182446 * math.sqrt(5 / 3) / 2, rel=1e-6)
    single = interval([7.0, math.nan])
    assert single.mean == 7.0 and single.n == 1 and math.isnan(single.half_width)
    assert math.isnan(interval([]).mean)


def test_cases_share_seeds_and_differences_are_paired() -> None:
    spam = load_scenario("spam", days=2, agents__authors__count=8)
    quiet = spam.with_overrides({"agents.spam.count": 0, "name": "quiet"})
    mc = run_montecarlo({"spam": spam, "quiet": quiet}, 3, InProcess(), first_seed=5)
    assert mc.seeds == [5, 6, 7]
    assert list(zip(mc.runs["case"], mc.runs["seed"], strict=True)) == [
        ("spam", 5), ("spam", 6), ("spam", 7), ("quiet", 5), ("quiet", 6), ("quiet", 7),
    ]  # fmt: skip
    diff = mc.difference("spam", "quiet", "attacker_funded_choir")
    assert diff.mean == 1_000.0 and diff.half_width == 0.0  # five spammers of 200 CHOIR on every seed
    manual = [
        mc.runs.query("case == 'spam' and seed == @s")["specs_submitted"].item()
        - mc.runs.query("case == 'quiet' and seed == @s")["specs_submitted"].item()
        for s in mc.seeds
    ]
    assert mc.difference("spam", "quiet", "specs_submitted").mean == pytest.approx(sum(manual) / 3)
    changed = [metric for metric, _ in mc.changed_most("spam", "quiet")]
    assert "attacker_funded_choir" not in changed and "attacker_pnl_choir" in changed


def test_known_summaries_are_reused_and_failures_reported() -> None:
    base = load_scenario("baseline", days=1, agents__authors__count=4)
    sentinel = {"scenario": "baseline", "seed": 1, "approval_rate": 0.25}
    mc = run_montecarlo({"b": base}, 2, InProcess(), 1, known={("b", 1): sentinel})
    assert mc.runs.loc[0, "approval_rate"] == 0.25 and mc.runs.loc[1, "seed"] == 2
    broken = base.with_overrides({"policy": "sim_testkit:LeakyPolicy"})
    mc = run_montecarlo({"leaky": broken}, 1, InProcess())
    assert mc.failures and "InvariantViolation" in mc.failures[0]["error"]


def test_in_process_executor_turns_exceptions_into_job_errors() -> None:
    got: dict[int, object] = {}
    InProcess().run(lambda x: 10 // x, [(5,), (0,), (2,)], got.__setitem__)
    assert got[0] == 2 and got[2] == 5
    assert isinstance(got[1], JobError) and got[1].error.startswith("ZeroDivisionError")
