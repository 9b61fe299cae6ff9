"""The property suite itself: the default campaign's coverage, the differential check, shrinking, replay and the
command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from choir.cli import app
from choir_model import CHOIR, ChoirState, CreateThread, Fund, Model, Params, Step, SubmitMessage
from choir_model.events import Event
from choir_model.ops import Rules
from choir_model.trace import read_trace, write_trace
from properties.campaign import Campaign, run_campaign
from properties.driver import Driver, ModelDriver, TraceRoundTripDriver
from properties.lockstep import Lockstep, PropertyFailure, run_steps
from properties.shrink import shrink
from properties.soak import soak

SIGNERS = ("treasury1", "treasury2")


def test_default_ci_campaign_reaches_everything(tmp_path: Path) -> None:
    result = run_campaign(Campaign(database=False, failure_dir=tmp_path))
    assert result.ok, result.failure
    assert result.coverage.missing() == []
    assert result.coverage.outcomes["request approved"] and result.coverage.outcomes["request expired"]


@pytest.mark.parametrize("policy", ["scales-2024-10", "collective-2024-11"])
def test_other_policies_keep_every_invariant(policy: str, tmp_path: Path) -> None:
    result = run_campaign(Campaign(policy=policy, examples=30, soak=10_000, database=False, failure_dir=tmp_path))
    assert result.ok, result.failure


def test_drivers_implement_the_interface() -> None:
    assert isinstance(ModelDriver(), Driver) and isinstance(TraceRoundTripDriver(), Driver)


def test_trace_round_trip_driver_agrees_with_the_model() -> None:
    result = soak(2000, seed=3, driver_factory=TraceRoundTripDriver)
    assert result.failure is None


class LiarDriver(ModelDriver):
    """Lets anyone write in a thread (claims success where the model says NotCoAuthor): a wrong implementation."""

    name = "liar"

    def apply(self, step: Step) -> str | None:
        error = super().apply(step)
        return None if isinstance(step, SubmitMessage) and error == "NotCoAuthor" else error


def test_difference_prints_both_sides() -> None:
    lockstep = Lockstep(driver=LiarDriver())
    lockstep.step(Fund("alice", 1, 10 * CHOIR, SIGNERS))
    lockstep.step(CreateThread("alice", 2, "t1", CHOIR))
    with pytest.raises(PropertyFailure) as info:
        lockstep.step(SubmitMessage("bob", 3, "t1", "ab" * 32))
    assert info.value.kind == "difference"
    assert "model NotCoAuthor vs liar ok" in str(info.value)


class SnapshotLiar(ModelDriver):
    name = "snapshot-liar"

    def snapshot(self) -> dict:
        snap = super().snapshot()
        if "t1" in snap["threads"]:
            snap["threads"]["t1"]["balance"] += 1
        return snap


def test_snapshot_difference_names_the_field() -> None:
    lockstep = Lockstep(driver=SnapshotLiar())
    lockstep.step(Fund("alice", 1, 10 * CHOIR, SIGNERS))
    with pytest.raises(PropertyFailure) as info:
        lockstep.step(CreateThread("alice", 2, "t1", CHOIR))
    assert "threads.t1.balance: model 1000000000 vs 1000000001" in str(info.value)


class LeakyRules(Rules):
    """Mints one base unit whenever mallory is funded: a model that breaks conservation."""

    def fund(self, state: ChoirState, step: Fund) -> list[Event]:
        events = super().fund(state, step)
        if step.actor == "mallory":
            state.treasury += 1
        return events


@pytest.mark.parametrize("liar", [True, False])
def test_the_target_behind_the_model_fails_at_the_first_broken_step(liar: bool) -> None:
    """The model runs ahead (`Lockstep.ahead`) and the target catches up: a difference at an earlier step is the
    failure, not the invariant the model broke after it (which makes the target catch up at once), and a failure's
    trace ends with its step; coverage counts the steps the target ran."""
    lockstep = Lockstep(driver=LiarDriver() if liar else ModelDriver(), rules=LeakyRules)
    steps = [Fund("alice", 1, 10 * CHOIR, SIGNERS), CreateThread("alice", 2, "t1", CHOIR),
             SubmitMessage("bob", 3, "t1", "ab" * 32), Fund("carol", 4, CHOIR, SIGNERS),
             Fund("mallory", 5, CHOIR, SIGNERS), Fund("dave", 6, CHOIR, SIGNERS)]  # fmt: skip
    with pytest.raises(PropertyFailure) as info:
        for step in steps:
            lockstep.ahead(step)
    failure = info.value
    at = 2 if liar else 4
    assert failure.kind == ("difference" if liar else "conservation")
    assert failure.steps == steps[: at + 1]
    assert lockstep.coverage.steps == at + 1
    lockstep.verify()  # nothing more after a failure


def test_shrinker_finds_the_minimal_failure() -> None:
    noise = [Fund(f"user{i}", i, CHOIR, SIGNERS) for i in range(40)]
    steps = [
        *noise[:20],
        CreateThread("user3", 30, "t1", CHOIR),
        *noise[20:],
        SubmitMessage("bob", 50, "t1", "cd" * 32),
    ]
    params = Params()
    shrunk, failure = shrink(steps, lambda candidate: run_steps(candidate, params, "seeds", LiarDriver))
    assert failure.kind == "difference"
    assert shrunk == [noise[3], steps[20], steps[-1]]


def test_a_failing_campaign_writes_a_trace_that_replays(tmp_path: Path) -> None:
    from properties.mutation.model_mutants import CooldownIgnored

    result = run_campaign(Campaign(rules=CooldownIgnored, database=False, failure_dir=tmp_path))
    assert result.trace is not None
    steps = read_trace(result.trace)
    assert steps == result.shrunk and len(steps) <= 6
    assert run_steps(steps, Params(), "seeds", None, CooldownIgnored) is not None
    assert run_steps(steps, Params(), "seeds") is None  # the true model replays the same trace cleanly


def test_check_command_reports_and_writes_junit(tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    result = CliRunner().invoke(
        app, ["check", "--examples", "20", "--steps", "50", "--seed", "7", "--junit", str(junit), "--failures",
              str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "every invariant held" in result.stdout and "conservation" in result.stdout
    assert "steps per second" in result.stdout
    assert 'failures="' in junit.read_text()


def test_check_replay_prints_model_run_output(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    write_trace([Fund("alice", 1, 10 * CHOIR, SIGNERS), CreateThread("alice", 2, "t1", 20 * CHOIR)], trace)
    for target in ("model", "model-trace"):
        result = CliRunner().invoke(app, ["check", "replay", str(trace), "--target", target])
        assert result.exit_code == 0, result.output
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert lines[:2] == [{"step": 0, "ok": True}, {"step": 1, "ok": False, "error": "InsufficientFunds"}]
        assert lines[2] == Model().snapshot() | {"treasury": lines[2]["treasury"], "wallets": {"alice": 10 * CHOIR}}
    assert CliRunner().invoke(app, ["check", "--target", "nope"]).exit_code == 2
