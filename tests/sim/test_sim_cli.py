"""`choir sim ...` end to end, and the plots it draws."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sim_testkit import LEAKY
from typer.testing import CliRunner

from choir.cli import app
from choir.sim_cli import parse_sets
from choir_model.fmt import choir_amount
from sim import plots
from sim.io import read_frame

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())  # undo the console's line wrapping


def test_run_writes_tables_network_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "spam"
    code, output = invoke(
        "sim", "run", "spam", "--days", "3", "--seed", "7", "--seeds", "3", "--out", str(out), "--trace"
    )
    assert code == 0, output
    assert "approval rate" in output and "3 seeds from 7" in output and "s wall" in output
    assert "changed most against baseline" in output and "difference ± 95% CI" in output
    runs = read_frame(out / "montecarlo")
    assert sorted(runs.loc[runs["case"] == "spam", "seed"]) == [7, 8, 9]
    assert sorted(runs.loc[runs["case"] == "baseline", "seed"]) == [7, 8, 9]
    intervals = pd.read_csv(out / "intervals.csv")
    row = intervals[(intervals["case"] == "spam") & (intervals["metric"] == "approval_rate")].iloc[0]
    assert row["seeds"] == 3 and row["low"] <= row["mean"] <= row["high"]
    for name in ("events", "steps", "threads", "groups", "agents", "stakes", "summary", "degrees"):
        assert (out / f"{name}.parquet").exists(), name
    assert (out / "coauthors.graphml").exists() and (out / "trace.jsonl").exists()
    for plot in ("trajectories", "stakes", "stake_series"):
        assert (out / "plots" / f"{plot}.png").stat().st_size > 1000
        assert (out / "plots" / f"{plot}.svg").read_text().startswith("<?xml")
    summary = read_frame(out / "summary")
    assert summary.loc[0, "seed"] == 7 and summary.loc[0, "days"] == 3.0


def test_run_with_overrides_and_without_checks(tmp_path: Path) -> None:
    code, output = invoke(
        "sim", "run", "baseline", "--days", "2", "--out", str(tmp_path), "--no-check", "--no-plots",
        "--set", "agents.authors.count=5", "--set", "policy=scales-2024-10", "--seeds", "2",
    )  # fmt: skip
    assert code == 0, output
    summary = read_frame(tmp_path / "summary")
    assert summary.loc[0, "check"] == "off" and summary.loc[0, "policy"] == "scales-2024-10"
    assert int((read_frame(tmp_path / "agents")["kind"] == "honest_author").sum()) == 5
    assert not (tmp_path / "plots").exists()


def test_set_values_are_read_as_toml() -> None:
    assert parse_sets(["a.b=3", "c=1.5", "d=true", "e=seeds", 'f="x y"', "g=[1, 2]"]) == {
        "a.b": 3,
        "c": 1.5,
        "d": True,
        "e": "seeds",
        "f": "x y",
        "g": [1, 2],
    }


def test_run_errors(tmp_path: Path) -> None:
    code, output = invoke("sim", "run", "nonexistent", "--out", str(tmp_path))
    assert code == 2 and "no scenario" in output
    code, output = invoke("sim", "run", "spam", "--set", "agents.spam.count=-1", "--out", str(tmp_path))
    assert code == 2 and "count" in output
    code, output = invoke("sim", "run", "baseline", "--days", "3", "--set", f"policy={LEAKY}", "--out", str(tmp_path))
    assert code == 3 and "conservation" in output and f"Model(policy='{LEAKY}')" in output
    assert list(tmp_path.glob("*-violation.jsonl"))


def test_sweep_reports_failures_with_params_and_seed(tmp_path: Path) -> None:
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        '[sweep]\nname = "s"\nscenario = "baseline"\nseeds = 1\ndays = 3\n'
        '[fixed]\n"agents.authors.count" = 10\n'
        f'[grid]\npolicy = ["seeds", "{LEAKY}"]\n"world.threads" = [4, 6]\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    code, output = invoke("sim", "sweep", str(sweep), "--workers", "0", "--no-progress", "--out", str(out))
    assert code == 1
    assert "4 runs" in output and "2 ok, 2 failed" in output
    assert f"'policy': '{LEAKY}'" in output and "seed=1" in output and "InvariantViolation" in output
    assert (out / "plots" / "heatmap_approval_rate.png").exists()
    results = read_frame(out / "results")
    assert list(results["status"]) == ["ok", "ok", "failed", "failed"]
    code, output = invoke("sim", "plot", str(out), "--metric", "gini_coauthor_earnings", "--x", "world.threads")
    assert code == 0, output
    assert "world.threads" in (out / "plots" / "heatmap_gini_coauthor_earnings.svg").read_text()
    code, output = invoke("sim", "plot", str(out), "--metric", "no_such_metric")
    assert code == 2 and "no_such_metric" in output


def test_sweep_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sweep]\nscenario = "baseline"\nseeds = 0\n', encoding="utf-8")
    code, output = invoke("sim", "sweep", str(bad), "--workers", "0")
    assert code == 2 and "seeds must be >= 1" in output
    for body, named in (
        ("seeds = 2.5", "sweep.seeds must be an integer"),
        ('mode = "random"\nsamples = 2\n[random]\n"formula.k" = { uniform = [1.0, nan] }', "finite low <= high"),
        ('mode = "random"\nsamples = 2\n[random]\n"world.threads" = { int = [1.5, 3] }', "int needs integer bounds"),
    ):
        bad.write_text(f'[sweep]\nscenario = "baseline"\n{body}\n', encoding="utf-8")
        code, output = invoke("sim", "sweep", str(bad), "--workers", "0")
        assert code == 2 and named in output, output


def test_report_runs_baseline_and_an_attack(tmp_path: Path) -> None:
    code, output = invoke(
        "sim", "report", "--out", str(tmp_path), "--days", "3", "--attack", "griefing", "--seeds", "2"
    )
    assert code == 0, output
    page = (tmp_path / "report.md").read_text()
    assert "| approved |" in page and "baseline" in page and "griefing" in page and " ± " in page
    assert "mean over 2 seeds" in page and "griefing: mean" in output
    for image in ("outcome_shares", "attacker_cost", "montecarlo", "baseline/trajectories", "griefing/stakes"):
        assert f"plots/{image}.png" in page
        assert (tmp_path / "plots" / f"{image}.png").exists() and (tmp_path / "plots" / f"{image}.svg").exists()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["scenario"]) == ["baseline", "griefing"]
    html = (tmp_path / "report.html").read_text()
    assert "<table>" in html and html.count("data:image/png;base64,") >= 5 and 'src="plots/' not in html
    code, output = invoke("sim", "plot", str(tmp_path))  # what `sim report` writes, plotted again
    assert code == 0 and "files written" in output, output


def test_plot_command_on_runs_and_errors(tmp_path: Path, mixed_run, mixed_dir: Path) -> None:
    code, output = invoke("sim", "plot", str(mixed_dir))
    assert code == 0 and "files written" in output
    assert (mixed_dir / "plots" / "trajectories.svg").exists()
    (tmp_path / "empty").mkdir()
    code, output = invoke("sim", "plot", str(tmp_path / "empty"))
    assert code == 2


def test_listing_commands() -> None:
    code, output = invoke("sim", "scenarios")
    assert code == 0 and all(name in output for name in ("baseline", "spam", "sybil", "griefing", "drainage"))
    code, output = invoke("sim", "agents")
    assert code == 0 and "specs_per_day" in output and "deny_outsiders" in output


def test_svg_and_png_are_reproducible(tmp_path: Path, mixed_run) -> None:
    for name in ("a", "b"):
        plots.save(plots.trajectories(mixed_run.threads, max_threads=3), tmp_path / name / "t")
        plots.save(plots.stakes_vs_recommended(mixed_run.stakes), tmp_path / name / "s")
    for stem in ("t.svg", "t.png", "s.svg", "s.png"):
        assert (tmp_path / "a" / stem).read_bytes() == (tmp_path / "b" / stem).read_bytes(), stem


def test_heatmap_and_line_values(tmp_path: Path) -> None:
    results = pd.DataFrame(
        {
            "status": ["ok"] * 8 + ["failed"],
            "seed": [1, 2] * 4 + [1],
            "x": [0, 0, 0, 0, 1, 1, 1, 1, 1],
            "y": ["a", "a", "b", "b", "a", "a", "b", "b", "b"],
            "m": [1.0, 3.0, 5.0, 7.0, 2.0, 2.0, 4.0, 4.0, 1000.0],
        }
    )
    figure = plots.heatmap(results, "x", "y", "m")
    texts = sorted(t.get_text() for t in figure.axes[0].texts)
    # means over seeds with the 95% half-width (t(0.975, 1) * sd / sqrt(2) = 12.7 for 1 and 3); the failed run is
    # left out
    assert texts == ["2\n±0", "2\n±13", "4\n±0", "6\n±13"]
    line = plots.metric_line(results, "x", "m")
    assert len(line.axes[0].lines) >= 1
    assert plots.save(figure, tmp_path / "h")[0].exists()


@pytest.mark.parametrize("kind", ["outcome_shares", "attacker_cost"])
def test_comparison_plots(tmp_path: Path, mixed_run, kind: str) -> None:
    summaries = pd.DataFrame([mixed_run.summary, {**mixed_run.summary, "scenario": "copy"}])
    if kind == "outcome_shares":
        figure = plots.outcome_shares(summaries)
        heights = [p.get_height() for p in figure.axes[0].patches]
        closed = sum(mixed_run.summary[o] for o in plots.OUTCOMES)
        assert heights[0] == pytest.approx(mixed_run.summary["approved"] / closed)
    else:
        figure = plots.attacker_cost(summaries, {"mixed": mixed_run.groups})
        assert figure.axes[0].patches[0].get_height() == pytest.approx(mixed_run.summary["attacker_cost_choir"])
    assert plots.save(figure, tmp_path / kind)[1].exists()
    json.dumps(mixed_run.summary)  # the summary is plain JSON (sweeps cache it)


def test_a_capped_formula_is_flagged_and_warned_about(tmp_path: Path) -> None:
    """With k = 1 every recommendation hits the cap: each stake row says so and the run warns; the calibrated
    default does not."""
    code, output = invoke(
        "sim", "run", "baseline", "--days", "3", "--out", str(tmp_path / "hot"), "--no-plots", "--set", "formula.k=1.0",
        "--seeds", "1", "--against", "none",
    )  # fmt: skip
    assert code == 0, output
    stakes = read_frame(tmp_path / "hot" / "stakes")
    assert stakes.loc[~stakes["bootstrap"], "capped"].all()
    assert "warning" in output and "capped" in output
    assert read_frame(tmp_path / "hot" / "summary").loc[0, "share_capped"] == 1.0
    code, output = invoke(
        "sim", "run", "baseline", "--days", "3", "--out", str(tmp_path / "live"), "--no-plots", "--seeds", "1"
    )
    assert code == 0 and "warning" not in output, output
    summary = read_frame(tmp_path / "live" / "summary").loc[0]
    assert summary["share_capped"] < 0.5 and 50 < summary["median_recommended_choir"] < 500


def test_a_table_of_one_run_prints_its_amounts_exactly_as_the_ledger_holds_them(tmp_path: Path) -> None:
    """With one seed the table is one run, not a mean: each amount is the ledger's, whole CHOIR and every base
    unit (a float rounded to 0.1 CHOIR would drop the dust), and the ledger is the agents' table."""
    code, output = invoke(
        "sim", "run", "spam", "--days", "3", "--seed", "5", "--seeds", "1", "--out", str(tmp_path), "--no-plots",
        "--against", "none",
    )  # fmt: skip
    assert code == 0, output
    summary = read_frame(tmp_path / "summary").loc[0]
    agents = read_frame(tmp_path / "agents")
    attackers = agents["role"] == "attacker"
    assert summary["attacker_pnl_units"] == int(agents.loc[attackers, "pnl"].sum()) != 0
    assert summary["honest_pnl_units"] == int(agents.loc[~attackers, "pnl"].sum())
    assert summary["voter_payouts_units"] == int(agents["vote_rewards"].sum())
    for metric in ("attacker_pnl", "honest_pnl", "thread_inflow", "treasury_inflow", "voter_payouts"):
        exact = choir_amount(int(summary[f"{metric}_units"]))
        assert f" {exact} " in output, (metric, exact, output)
    assert any(int(summary[f"{m}_units"]) % 10**8 for m in ("honest_pnl", "voter_payouts")), "no dust to show"
    assert "…" not in output  # the runner's console is 80 columns wide: no number cut to fit


def test_compare_runs_cases_on_the_same_seeds(tmp_path: Path) -> None:
    """Policies side by side on one scenario: every case on the same seeds, the headline metrics with their
    intervals and the paired difference from the first case, printed and plotted."""
    code, output = invoke(
        "sim", "compare", "spam", "--policy", "seeds", "--policy", "scales-2024-10", "--days", "3", "--seeds", "2",
        "--set", "agents.authors.count=10", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, output
    assert "reference seeds" in output and "thread inflow" in output and "voter payouts" in output
    runs = read_frame(tmp_path / "montecarlo")
    assert list(runs["case"]) == ["seeds", "seeds", "scales-2024-10", "scales-2024-10"]
    assert list(runs["seed"]) == [1, 2, 1, 2] and set(runs["policy"]) == {"seeds", "scales-2024-10"}
    assert (tmp_path / "compare.png").stat().st_size > 1000
    code, output = invoke("sim", "compare", "spam", "--days", "1")
    assert code == 2 and "at least two" in output


def test_attackers_stake_a_multiple_of_the_recommendation() -> None:
    from sim import run_scenario

    plain = run_scenario("spam", days=2, overrides={"agents.authors.count": 5})
    scaled = run_scenario("spam", days=2, overrides={"agents.authors.count": 5, "agents.spam.stake_factor": 1.0})
    spam = [s[s["kind"] == "spammer"]["actual"] for s in (plain.stakes, scaled.stakes)]
    assert (spam[0] == 10**9).all() and spam[1].median() > 10 * 10**9


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("world.threads=2.5", "world.threads must be an integer"),
        ("params.min_stake=1.5", "params.min_stake must be an integer"),
        ("formula.s0=nan", "s0 must be a finite number > 0"),
        ("formula.s0=-80", "s0 must be a finite number > 0"),
        ("params.decimals=30", "params.decimals must be in 0..18"),
        ("agents.authors.count=2.5", "agents.authors: count must be an integer"),
        ("agents.spam.stake_factor=true", "stake_factor must be a finite number"),
        ("days=-1", "days must be in"),
    ],
)
def test_bad_scenario_values_are_named_before_anything_runs(tmp_path: Path, setting: str, named: str) -> None:
    code, output = invoke("sim", "run", "spam", "--seeds", "1", "--out", str(tmp_path / "o"), "--set", setting)
    assert code == 2 and named in output and "Traceback" not in output, output
    assert not (tmp_path / "o").exists()


def test_a_run_that_would_end_with_no_thread_is_refused(tmp_path: Path) -> None:
    code, output = invoke(
        "sim", "run", "baseline", "--out", str(tmp_path), "--set", "world.threads=0",
        "--set", "agents.creators.threads_per_day=0",
    )  # fmt: skip
    assert code == 2 and "no thread" in output
    from sim import network

    empty = network.network_metrics(network.build_graph([], {"u": {}}, {}, 0))
    assert empty["net_coauthor_links"] == 0 and empty["net_components"] == 0


def test_missing_sim_extra_exits_3_with_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "optuna" else real(name, *a))
    code, output = invoke("sim", "run", "baseline")
    assert code == 3 and "optuna" in output and "uv sync --extra sim" in output


def test_heatmap_axes_are_in_days_and_choir() -> None:
    results = pd.DataFrame(
        {
            "status": ["ok"] * 4,
            "seed": [1] * 4,
            "params.approval_window": [86_400, 86_400, 259_200, 259_200],
            "params.min_stake": [10**9, 2 * 10**9, 10**9, 2 * 10**9],
            "m": [1.0, 2.0, 3.0, 4.0],
        }
    )
    ax = plots.heatmap(results, "params.approval_window", "params.min_stake", "m").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "3"] and "(days)" in ax.get_xlabel()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "2"] and "(CHOIR)" in ax.get_ylabel()
