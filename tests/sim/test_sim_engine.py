"""The engine: the model is the only economics, invariants stop a run with a replayable trace, time and the
keeper behave like a chain, and the same seed gives the same bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sim_testkit import LEAKY, LEAKY_EXPIRY, LeakyPolicy

from choir_model import Divest, Expire, Fund, Model, ProcessApproval, SubmitSpec
from choir_model.model import InvariantViolation
from choir_model.trace import read_trace
from sim import SimulationFailed, World, load_scenario, run_scenario
from sim.metrics import SimResult

ROOT = Path(__file__).resolve().parents[2]


def test_the_run_is_its_trace(mixed_run: SimResult, mixed_dir: Path) -> None:
    """Replaying the run's steps on a fresh model reproduces every outcome and the final state exactly: nothing
    but model steps changed the world."""
    steps = read_trace(mixed_dir / "trace.jsonl")
    assert len(steps) == mixed_run.summary["steps"] > 500
    model = Model(mixed_run.scenario.model_params(), mixed_run.scenario.policy, check="step")
    errors = [model.try_apply(step) for step in steps]
    recorded = [None if pd.isna(r) else r for r in mixed_run.steps["error"].tolist()]
    assert errors == recorded
    assert model.snapshot() == json.loads((mixed_dir / "final_snapshot.json").read_text())


def test_every_kind_of_step_happens(mixed_run: SimResult) -> None:
    ops = set(mixed_run.steps["op"])
    assert ops == {
        "fund",
        "create_thread",
        "submit_message",
        "request_public",
        "submit_spec",
        "process_approval",
        "expire",
        "divest",
    }
    outcomes = mixed_run.stakes["outcome"].dropna()
    assert set(outcomes) == {"approved", "denied", "mixed", "expired"}


def test_funding_is_signed_by_two_treasury_authorities(mixed_run: SimResult, mixed_dir: Path) -> None:
    funds = [s for s in read_trace(mixed_dir / "trace.jsonl") if isinstance(s, Fund)]
    assert funds and all(s.signers == ("treasury1", "treasury2") for s in funds)
    scenario = mixed_run.scenario
    expected = sum(
        g.config.count * getattr(g.config, "identities", 1) * round(g.config.wallet * 10**9) for g in scenario.groups
    )
    assert sum(s.amount for s in funds) == expected == int(mixed_run.agents["funded"].sum())


def test_time_is_simulated_seconds_and_never_goes_back(mixed_run: SimResult) -> None:
    times = mixed_run.steps["time"].tolist()
    epoch = mixed_run.scenario.world.epoch
    assert times == sorted(times)
    assert times[0] == epoch and times[-1] < epoch + mixed_run.scenario.horizon
    assert all(isinstance(t, int) for t in times)


def test_keeper_expires_each_window_within_one_crank_interval(mixed_run: SimResult, mixed_dir: Path) -> None:
    scenario = mixed_run.scenario
    window, interval = scenario.model_params().approval_window, scenario.world.keeper_interval
    steps = read_trace(mixed_dir / "trace.jsonl")
    deadlines = {}
    for step in steps:
        if isinstance(step, SubmitSpec):
            deadlines[(step.thread, step.hash)] = step.now + window
    expiries = [s for s in steps if isinstance(s, Expire)]
    assert expiries
    for step in expiries:
        assert step.actor == "keeper"
        if (step.thread, step.hash) in deadlines:
            late = step.now - deadlines[(step.thread, step.hash)]
            assert 0 <= late < interval
    # nothing due is left pending at the end
    final = json.loads((mixed_dir / "final_snapshot.json").read_text())
    last = steps[-1].now
    overdue = [m for m in final["messages"].values() if m["state"] == "Pending" and m["deadline"] + interval <= last]
    assert overdue == []


def test_votes_come_after_the_window_opens_and_from_voters(mixed_run: SimResult, mixed_dir: Path) -> None:
    steps = read_trace(mixed_dir / "trace.jsonl")
    opened = {}
    for step in steps:
        if isinstance(step, SubmitSpec):
            opened[(step.thread, step.hash)] = step.now
    votes = [s for s in steps if isinstance(s, ProcessApproval)]
    assert votes
    bootstrap = mixed_run.scenario.world.epoch
    late_votes = [v for v in votes if v.now > bootstrap]
    assert late_votes, "agents voted after the bootstrap"
    for vote in votes:
        key = (vote.thread, vote.hash)
        if key in opened:
            assert vote.now >= opened[key]


def test_divestments_respect_the_cooldown(mixed_run: SimResult, mixed_dir: Path) -> None:
    cooldown = mixed_run.scenario.model_params().divest_cooldown
    last: dict[tuple[str, str], int] = {}
    divests = [s for s in read_trace(mixed_dir / "trace.jsonl") if isinstance(s, Divest)]
    assert divests
    for step in divests:
        key = (step.actor, step.thread)
        if key in last:
            assert step.now - last[key] >= cooldown
        last[key] = step.now
    kinds = set(mixed_run.agents.loc[mixed_run.agents["divested"] > 0, "kind"])
    assert kinds <= {"drainer", "sybil"} and kinds


def test_a_broken_invariant_stops_the_run_and_leaves_its_trace(tmp_path: Path) -> None:
    scenario = load_scenario("baseline", days=3, policy=LEAKY)
    with pytest.raises(SimulationFailed) as info:
        World(scenario, trace_dir=tmp_path).run()
    failure = info.value
    assert failure.trace_path.parent == tmp_path and failure.trace_path.exists()
    assert "conservation" in str(failure.violation)
    steps = read_trace(failure.trace_path)
    assert len(steps) == failure.step_index + 1
    # The trace reproduces the violation at its last step under the same rules...
    model = Model(scenario.model_params(), LeakyPolicy(), check="step")
    for step in steps[:-1]:
        model.try_apply(step)
    with pytest.raises(InvariantViolation, match="conservation"):
        model.apply(steps[-1])
    # ...and the SPEC policy runs the very same steps without breaking anything (apply raises if it did).
    honest = Model(scenario.model_params(), "seeds", check="step")
    for step in steps:
        honest.try_apply(step)
    assert (
        honest.state.wallet_total + honest.state.treasury + honest.state.thread_total + honest.state.escrow_total
        == (scenario.model_params().total_supply)
    )


def test_a_violation_inside_an_agent_process_stops_the_run_too(tmp_path: Path) -> None:
    scenario = load_scenario("griefing", days=4, policy=LEAKY_EXPIRY, params__approval_window=86_400)
    with pytest.raises(SimulationFailed) as info:
        World(scenario, trace_dir=tmp_path).run()
    steps = read_trace(info.value.trace_path)
    assert isinstance(steps[-1], Expire) and steps[-1].actor == "keeper"
    assert "conservation" in str(info.value)


def test_checks_off_changes_nothing_but_the_check(tmp_path: Path) -> None:
    checked = run_scenario("spam", days=4, check="step")
    unchecked = run_scenario("spam", days=4, check="off")
    assert unchecked.summary.pop("check") == "off" and checked.summary.pop("check") == "step"
    assert checked.summary == unchecked.summary
    assert checked.events.equals(unchecked.events)
    leaky = load_scenario("baseline", days=3, policy=LEAKY, check="off")
    World(leaky).run()  # with checks off the broken policy is not caught: the switch really switches


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    run_scenario("sybil", days=4, out=tmp_path / "a", trace=True)
    run_scenario("sybil", days=4, out=tmp_path / "b", trace=True)
    run_scenario("sybil", days=4, seed=2, out=tmp_path / "c")
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"events.parquet", "threads.parquet", "agents.parquet", "summary.parquet", "coauthors.graphml"} <= set(files)
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "events.parquet").read_bytes() != (tmp_path / "c" / "events.parquet").read_bytes()


def test_same_bytes_in_another_process_with_another_hash_seed(tmp_path: Path) -> None:
    run_scenario("mixed", days=3, out=tmp_path / "here")
    code = "from sim import run_scenario; import sys; run_scenario('mixed', days=3, out=sys.argv[1])"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, cwd=ROOT, env=env)
    for path in sorted((tmp_path / "here").iterdir()):
        assert path.read_bytes() == (tmp_path / "there" / path.name).read_bytes(), path.name


def test_attacks_move_the_outcomes_they_target() -> None:
    days, short = 8, {"params.approval_window": 2 * 86_400}  # a two-day window, so timeouts show within 8 days
    base = run_scenario("baseline", days=days, overrides=short).summary
    assert base["attacker_identities"] == 0 and base["divested_choir"] == 0
    griefing = run_scenario("griefing", days=days, overrides=short).summary
    assert griefing["share_timeouts"] > base["share_timeouts"] + 0.1
    spam = run_scenario("spam", days=days, overrides=short).summary
    assert spam["share_denied"] > base["share_denied"] + 0.2
    assert spam["specs_submitted"] > base["specs_submitted"]
    drainage = run_scenario("drainage", days=days, overrides=short).summary
    assert drainage["divested_choir"] > 0


def test_sybil_ring_uses_many_identities_at_minimum_stake() -> None:
    result = run_scenario("sybil", days=6)
    ring = result.agents[result.agents["kind"] == "sybil"]
    config = next(g.config for g in result.scenario.groups if g.kind == "sybil")
    assert len(ring) == config.identities and ring["agent"].nunique() == 1
    specs = result.stakes[result.stakes["kind"] == "sybil"]
    assert len(specs) > 0 and set(specs["actual"]) == {result.scenario.model_params().min_stake}


def test_honest_stakes_follow_the_recommendation_within_the_wallet() -> None:
    result = run_scenario("baseline", days=5, overrides={"agents.authors.stake_noise": 0.0})
    honest = result.stakes[result.stakes["kind"] == "honest_author"]
    assert len(honest) > 20
    min_stake = result.scenario.model_params().min_stake
    for recommended, actual in zip(honest["recommended"], honest["actual"], strict=True):
        assert actual >= min_stake
        assert actual <= max(recommended, min_stake)  # factor 1, no noise: at most the recommendation
    assert (honest["actual"] == honest["recommended"]).mean() > 0.5


def test_voters_read_the_stake_against_the_recommendation() -> None:
    """With stake_weight > 0 (the default) under-staking specs are approved less often; with 0 the stake is
    ignored and only quality counts."""
    rates = {}
    for weight in (0.0, 2.0):
        for factor in (0.2, 1.0):
            overrides = {"agents.authors.stake_factor": factor, "agents.authors.stake_noise": 0.0}
            for group in ("creators", "coauthors", "authors"):
                overrides[f"agents.{group}.stake_weight"] = weight
            rates[(weight, factor)] = run_scenario("baseline", days=8, overrides=overrides).summary["approval_rate"]
    assert rates[(2.0, 0.2)] < rates[(2.0, 1.0)] - 0.1
    assert abs(rates[(0.0, 0.2)] - rates[(0.0, 1.0)]) < abs(rates[(2.0, 0.2)] - rates[(2.0, 1.0)])


def test_sampler_cache_changes_no_value() -> None:
    """The sampler reuses T, omega and the recommended stake of an unchanged thread only for formulas that do not
    read the thread's age; the series is the same as recomputing every sample, and an age-reading formula is
    recomputed (its recommendation moves while the thread stands still)."""
    scenario = load_scenario("baseline", days=4)
    cached = World(scenario)
    assert cached._age_free
    cached.run()
    fresh = World(scenario)
    fresh._age_free = False
    fresh.run()
    assert cached.thread_samples == fresh.thread_samples
    cooling = World(scenario.with_overrides({"formula": "quantum-cooling", "agents.creators.deposit": 5.0}))
    assert not cooling._age_free
    cooling.run()
    series: dict[str, list[tuple]] = {}
    for row in cooling.thread_samples:
        series.setdefault(row[1], []).append(row)
    still = [rows for rows in series.values() if len({(r[2], r[3]) for r in rows}) == 1 and len(rows) > 2]
    assert any(len({r[6] for r in rows}) > 1 for rows in still)  # (a capped recommendation may stay put)


def test_the_garbage_collector_is_restored_after_a_run(tmp_path: Path) -> None:
    import gc

    assert gc.isenabled()
    run_scenario("baseline", days=1)
    assert gc.isenabled()
    with pytest.raises(SimulationFailed):
        World(load_scenario("baseline", days=3, policy=LEAKY), trace_dir=tmp_path).run()
    assert gc.isenabled()
    gc.disable()
    try:
        run_scenario("baseline", days=1)
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()


def test_an_agent_has_a_process_unless_its_rate_is_zero() -> None:
    """Each kind with a rate of actions (`Agent.rate`) starts no process at rate 0 and one at its default; kinds
    without one start theirs whatever (the Sybil ring, the drainer), and those with no behaviour of their own (the
    base agent, the griefer, who only withholds votes) none."""
    import random
    from dataclasses import replace

    from sim.agents import AGENT_KINDS, Agent

    class NoWorld:  # a process is a generator: nothing runs until SimPy steps it
        pass

    started = {}
    for kind, cls in AGENT_KINDS.items():
        config = cls.Config()
        agent = cls("a", "g", config, random.Random(0))
        started[kind] = agent.process(NoWorld()) is not None  # type: ignore[arg-type]
        if cls.rate is not None:
            idle = cls("a", "g", replace(config, **{cls.rate: 0}), random.Random(0))
            assert idle.process(NoWorld()) is None, kind  # type: ignore[arg-type]
    assert started == {kind: kind != "griefer" for kind in AGENT_KINDS}
    assert Agent("a", "g", Agent.Config(), random.Random(0)).process(NoWorld()) is None  # type: ignore[arg-type]
    assert {kind for kind, cls in AGENT_KINDS.items() if cls.rate is None} == {"sybil", "griefer", "drainer"}
