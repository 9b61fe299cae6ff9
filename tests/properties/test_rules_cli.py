"""One language for rules: a policy the simulator takes (`module:Class`) and `--params` work in `choir model run`,
`choir check` and `choir check replay`, so a violation the simulator writes replays and shrinks from the CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from choir.cli import app
from choir_model.trace import read_trace
from sim import SimulationFailed, World, load_scenario

LEAKY = "sim_testkit:LeakyPolicy"


@pytest.fixture
def simulated_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The trace and parameters of a simulation whose (broken) policy leaks tokens."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "sim"))
    scenario = load_scenario("baseline", days=2, policy=LEAKY)
    with pytest.raises(SimulationFailed) as info:
        World(scenario, trace_dir=tmp_path).run()
    params = tmp_path / "params.json"
    fields = dataclasses.asdict(scenario.model_params())
    params.write_text(json.dumps(fields))
    return info.value.trace_path, params


def test_a_simulator_violation_replays_and_shrinks_from_the_cli(
    simulated_violation: tuple[Path, Path], tmp_path: Path
) -> None:
    trace, params = simulated_violation
    runner = CliRunner()
    run = runner.invoke(app, ["model", "run", str(trace), "--policy", LEAKY, "--params", str(params), "--json"])
    assert run.exit_code == 1 and "conservation" in run.stderr
    clean = runner.invoke(app, ["model", "run", str(trace), "--params", str(params), "--json"])
    assert clean.exit_code == 0, clean.output  # the same steps under the true policy break nothing
    shrunk = tmp_path / "shrunk.jsonl"
    replay = runner.invoke(
        app, ["check", "replay", str(trace), "--policy", LEAKY, "--params", str(params), "--shrink", str(shrunk)]
    )
    assert replay.exit_code == 1 and "conservation" in replay.stderr
    assert len(read_trace(shrunk)) < len(read_trace(trace))
    again = runner.invoke(app, ["model", "run", str(shrunk), "--policy", LEAKY, "--params", str(params)])
    assert again.exit_code == 1


def test_check_takes_a_module_policy_and_finds_the_leak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "sim"))
    result = CliRunner().invoke(app, ["check", "--policy", LEAKY, "--soak", "6000", "--failures", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "conservation" in result.stdout and f"--policy {LEAKY}" in result.stdout


@pytest.mark.parametrize(
    "arguments",
    [
        ["--policy", "no_such_module:Policy"],
        ["--policy", "choir_model:Params"],
        ["--formula", "nope"],
        ["--params", "/no/such/file.json"],
        ["--params", '{"min_stake": 0}'],
        ["--params", '{"no_such_field": 1}'],
    ],
)
def test_bad_rules_exit_2(arguments: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", *arguments, "--soak", "10", "--failures", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


class CountingStake:
    """A stake formula that counts the recommendations asked of it (a class attribute: each resolve builds one)."""

    name = "counting"
    uses_age = False
    asked = 0

    def recommend(self, temperature: float, frequency: float, balance: float, age: int = 0) -> float:
        CountingStake.asked += 1
        return 1.0


COUNTING = f"{__name__}:CountingStake"


def test_a_campaign_failure_names_its_formula_and_replays_and_shrinks_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "sim"))
    runner = CliRunner()
    found = runner.invoke(
        app, ["check", "--policy", LEAKY, "--formula", COUNTING, "--soak", "6000", "--failures", str(tmp_path)]
    )
    assert found.exit_code == 1, found.output
    # The replay command carries every rule the campaign ran (read unwrapped: the console wraps it at a width, and
    # where depends on the length of the failure's path).
    assert f"--formula {COUNTING}" in " ".join(found.stdout.split())
    (trace,) = tmp_path.glob("*.jsonl")
    CountingStake.asked = 0
    shrunk = tmp_path / "shrunk.jsonl"
    replay = runner.invoke(
        app, ["check", "replay", str(trace), "--policy", LEAKY, "--formula", COUNTING, "--shrink", str(shrunk)]
    )
    assert replay.exit_code == 1 and "conservation" in replay.stderr, replay.output
    assert CountingStake.asked > 0  # the replay's and the shrinker's models priced specs with the given formula
    assert read_trace(shrunk)
