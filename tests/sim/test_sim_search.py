"""Attack search (Optuna) and sensitivity analysis (SALib) with tiny settings: they run, report what they found,
write replayable traces, and name bad file keys before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from choir.cli import app
from choir_model import Model
from choir_model.trace import read_trace

runner = CliRunner()
SMALL_WORLD = '[fixed]\n"world.threads" = 4\n"agents.authors.count" = 6\n"agents.coauthors.count" = 8\n'


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def attack_file(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "attack.toml"
    path.write_text(
        '[attack]\nname = "tiny"\nscenario = "baseline"\nbudget = 200.0\ntrials = 3\nseeds = 1\ndays = 3.0\ntop = 2\n'
        + SMALL_WORLD
        + '[space]\n"agents.attack.kind" = { choice = ["drainer", "spammer"] }\n'
        '"agents.attack.count" = { int = [1, 3] }\n'
        '"agents.attack.seats" = { int = [1, 2] }\n' + extra,
        encoding="utf-8",
    )
    return path


def test_attack_search_reports_best_attacks_with_replayable_traces(tmp_path: Path) -> None:
    extra = '[frontier]\nparameter = "params.divest_cooldown"\nvalues = [3600, 86400]\n'
    out = tmp_path / "out"
    code, output = invoke(
        "sim", "attack", str(attack_file(tmp_path, extra)), "--out", str(out), "--frontier-trials", "1"
    )
    assert code == 0, output
    assert "3 trials" in output and "best attacks" in output and "profit frontier" in output
    record = json.loads((out / "attack.json").read_text())
    best = record["best"][0]
    assert best["params"]["agents.attack.kind"] in ("drainer", "spammer") and best["seed"] == 1
    assert len(record["trials"]) == 3 and len(record["frontier"]) == 2
    # The trace replays on the model to the run's very final state.
    model = Model(policy="seeds")
    for step in read_trace(out / "best1" / "trace.jsonl"):
        model.try_apply(step)
    assert model.snapshot() == json.loads((out / "best1" / "final_snapshot.json").read_text())
    assert (out / "frontier.png").exists()


def test_falsification_mode_finds_a_crossing_and_exits_1(tmp_path: Path) -> None:
    path = attack_file(tmp_path, '[falsify]\nmetric = "approval_rate"\nabove = 0.0\n')
    code, output = invoke("sim", "attack", str(path), "--out", str(tmp_path / "out"))
    assert code == 1 and "falsified" in output and "approval_rate above 0" in output


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ('[falsify]\nmetric = "x"\n', "exactly one of `above` or `below`"),
        ("[nonsense]\na = 1\n", "unknown table(s) nonsense"),
    ],
)
def test_attack_file_errors_are_named(tmp_path: Path, extra: str, named: str) -> None:
    code, output = invoke("sim", "attack", str(attack_file(tmp_path, extra)))
    assert code == 2 and named in output, output
    bad = tmp_path / "bad.toml"
    bad.write_text("[attack]\ntrials = 2.5\n", encoding="utf-8")
    code, output = invoke("sim", "attack", str(bad))
    assert code == 2 and "attack.trials must be an integer" in output


def sensitivity_file(tmp_path: Path, method: str, samples: int) -> Path:
    path = tmp_path / "sens.toml"
    path.write_text(
        f'[sensitivity]\nname = "tiny"\nscenario = "baseline"\nmethod = "{method}"\nsamples = {samples}\n'
        'days = 2.0\noutputs = ["approval_rate", "median_recommended_choir"]\n'
        + SMALL_WORLD
        + '[parameters]\n"formula.k" = { loguniform = [0.01, 0.1] }\n'
        '"params.approval_window" = { int = [86400, 259200] }\n'
        '"agents.authors.stake_factor" = { uniform = [0.5, 2.0] }\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(("method", "samples", "columns"), [("sobol", 2, "ST_conf"), ("morris", 2, "mu_star")])
def test_sensitivity_writes_indices_and_a_plot(tmp_path: Path, method: str, samples: int, columns: str) -> None:
    out = tmp_path / "out"
    path = sensitivity_file(tmp_path, method, samples)
    code, output = invoke("sim", "sensitivity", str(path), "--workers", "0", "--out", str(out))
    assert code == 0, output
    indices = pd.read_csv(out / "indices.csv")
    assert len(indices) == 2 * 3 and columns in indices.columns
    assert set(indices["parameter"]) == {"formula.k", "params.approval_window", "agents.authors.stake_factor"}
    assert (out / "sensitivity.png").stat().st_size > 1000
    if method == "morris":  # k moves the recommendation; the window cannot in two days of little settling
        k = indices.query("output == 'median_recommended_choir' and parameter == 'formula.k'")["mu_star"].item()
        assert k > 0


def test_sensitivity_file_errors_are_named(tmp_path: Path) -> None:
    path = sensitivity_file(tmp_path, "sobol", 3)
    code, output = invoke("sim", "sensitivity", str(path), "--workers", "0")
    assert code == 2 and "power of 2" in output
    path.write_text(path.read_text().replace("[0.01, 0.1]", "[0.1, 0.01]"), encoding="utf-8")
    code, output = invoke("sim", "sensitivity", str(path), "--workers", "0", "--samples", "2")
    assert code == 2 and "formula.k" in output and "low <= high" in output


def test_an_interrupted_search_writes_what_finished_and_exits_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM) during the third trial's run: the two trials before it are the search, their best
    attacks and traces are written, attack.json says it was interrupted, the frontier is not started."""
    from sim import attack

    real, runs = attack.execute_run, []

    def interrupted_third(*args: object) -> object:
        runs.append(1)
        if len(runs) == 3:
            raise KeyboardInterrupt
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(attack, "execute_run", interrupted_third)
    extra = '[frontier]\nparameter = "params.divest_cooldown"\nvalues = [3600, 86400]\n'
    out = tmp_path / "out"
    code, output = invoke("sim", "attack", str(attack_file(tmp_path, extra)), "--out", str(out))
    assert code == 130, output
    assert "2 trials" in output and "interrupted: the search; the results above are for what finished" in output
    record = json.loads((out / "attack.json").read_text())
    assert record["interrupted"] and len(record["trials"]) == 2 and record["frontier"] == []
    assert (out / "best1" / "trace.jsonl").exists()


@pytest.mark.parametrize("name", ["../outside", "/tmp/elsewhere", "..", ""])
def test_a_name_that_is_no_folder_name_is_refused(name: str, tmp_path: Path) -> None:
    """A scenario's or an attack file's name becomes a folder under out/: one that is a path (or empty) would
    write elsewhere, so it is refused, exit 2, before anything runs."""
    path = attack_file(tmp_path)
    path.write_text(path.read_text().replace('name = "tiny"', f'name = "{name}"'), encoding="utf-8")
    code, output = invoke("sim", "attack", str(path))
    assert code == 2 and f"attack.name must be a non-empty name without path separators, got {name!r}" in output
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(f'name = "{name}"\n', encoding="utf-8")
    code, output = invoke("sim", "run", str(scenario), "--seeds", "1")
    assert code == 2 and "name must be a non-empty name without path separators" in output
