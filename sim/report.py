"""The main job's report: the baseline and one (or more) attack scenarios end to end, as summary tables and
plots in one directory, with a short Markdown page that says what was run and how to read it.

`choir sim report --out out` (what `make run` calls) writes:

    out/report.md                the page: scenarios, summary table, plots, definitions
    out/summary.csv, .parquet    one summary row per scenario
    out/plots/*.png, *.svg       outcome shares, attacker cost, and per scenario trajectories and stakes
    out/runs/<scenario>/         every table of each run (events, threads, agents, ...) and its GraphML network
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from sim import plots
from sim.io import write_frame
from sim.metrics import SimResult, summary_frame, warnings
from sim.run import run_scenario

DEFAULT_ATTACKS = ("spam",)
REPORT_COLUMNS = (
    ("specs_submitted", "specs", "{:.0f}"),
    ("approval_rate", "approved", "{:.1%}"),
    ("share_denied", "denied", "{:.1%}"),
    ("share_mixed", "mixed", "{:.1%}"),
    ("share_timeouts", "timeouts", "{:.1%}"),
    ("treasury_inflow_choir", "treasury inflow (CHOIR)", "{:,.0f}"),
    ("attacker_cost_choir", "attacker cost (CHOIR)", "{:,.1f}"),
    ("gini_coauthor_earnings", "Gini of co-author earnings", "{:.3f}"),
    ("mean_temperature", "mean T at end", "{:.1f}"),
    ("median_recommended_choir", "median recommended stake (CHOIR)", "{:,.1f}"),
    ("share_capped", "recommendations capped", "{:.1%}"),
    ("share_near_floor", "recommendations within 1% of S0/2", "{:.1%}"),
    ("net_components", "network components", "{:.0f}"),
    ("net_degree_centralization", "degree centralisation", "{:.3f}"),
    ("steps", "model steps", "{:,.0f}"),
)


def _fmt(value: object, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return pattern.format(value)


def markdown_table(summaries: pd.DataFrame) -> str:
    """The report's summary table in Markdown, one column per scenario."""
    names = summaries["scenario"].astype(str).tolist()
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for column, label, pattern in REPORT_COLUMNS:
        cells = [_fmt(v, pattern) for v in summaries[column].tolist()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _warning_lines(found: list[str]) -> list[str]:
    if not found:
        return []
    return ["## Warnings", "", *(f"* {w}" for w in found), ""]


def write_report(
    out: str | Path = "out",
    attacks: Sequence[str] = DEFAULT_ATTACKS,
    days: float | None = None,
    seed: int | None = None,
    on_run: Callable[[SimResult], None] | None = None,
) -> Path:
    """Run the baseline and the attack scenarios, write their tables, plots and `report.md` into `out`; return
    the path of `report.md`."""
    out = Path(out)
    results: list[SimResult] = []
    for name in ("baseline", *attacks):
        result = run_scenario(name, days=days, seed=seed, out=out / "runs" / name)
        results.append(result)
        if on_run is not None:
            on_run(result)
    summaries = summary_frame([r.summary for r in results])
    write_frame(summaries, out / "summary")
    summaries.to_csv(out / "summary.csv", index=False, lineterminator="\n")
    run_dirs = [out / "runs" / r.scenario.name for r in results]
    plot_dir = out / "plots"
    plots.plot_comparison(run_dirs, plot_dir)
    for run_dir in run_dirs:
        plots.plot_run(run_dir, plot_dir / run_dir.name)

    unchecked = [r.scenario.name for r in results if r.summary["check"] == "off"]
    checks = (
        "every invariant of SPEC section 6 was checked after every step, and none broke."
        if not unchecked
        else f"invariant checks were switched off in {', '.join(unchecked)}; the other runs checked every invariant "
        "after every step, and none broke."
    )
    lines = [
        "# Choir simulation report",
        "",
        f"Agent-based runs on the reference model (`choir_model`): every state change is a model step; {checks}",
        "",
        "## Scenarios",
        "",
    ]
    for r in results:
        s = r.scenario
        groups = ", ".join(f"{g.config.count} {g.kind}" for g in s.groups)
        lines.append(
            f"* **{s.name}** ({s.days:g} days, seed {s.seed}, policy `{s.policy}`, formula `{s.formula_label}`): "
            f"{s.description} Agents: {groups}. {r.summary['steps']:,} model steps."
        )
    lines += [
        "",
        "## Summary",
        "",
        markdown_table(summaries),
        "",
        "Shares are of closed specs (approved + denied + mixed + expired). Attacker cost is what attacker "
        "identities were funded minus what their wallets hold at the end: negative means the attack paid. "
        "The full table is `summary.csv`; each run's tables are in `runs/<scenario>/`.",
        "",
        *_warning_lines([w for r in results for w in warnings(r.summary)]),
        "## Plots",
        "",
        "![outcome shares](plots/outcome_shares.png)",
        "",
        "![attacker cost](plots/attacker_cost.png)",
        "",
    ]
    for r in results:
        name = r.scenario.name
        lines += [
            f"### {name}",
            "",
            f"![{name} trajectories](plots/{name}/trajectories.png)",
            "",
            f"![{name} stakes](plots/{name}/stakes.png)",
            "",
            f"![{name} recommended stakes](plots/{name}/recommendations.png)",
            "",
        ]
    lines += [
        "## The stake formula's feedback loop",
        "",
        "Under the seeds policy a denied stake goes to the thread: its balance E rises, so does its temperature "
        "T = E/N, and the quantum formula recommends a higher stake to the next author; approvals add co-authors "
        "(N up), so T and the recommendation fall again. The figure follows the baseline thread with the most "
        "denials.",
        "",
        f"![feedback loop](plots/{results[0].scenario.name}/feedback_loop.png)",
        "",
    ]
    page = out / "report.md"
    page.write_text("\n".join(lines), encoding="utf-8")
    return page
