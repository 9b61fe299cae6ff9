"""The main job's report: the baseline and one (or more) attack scenarios end to end, as summary tables and
plots in one directory, with a short Markdown page that says what was run and how to read it.

`choir sim report --out out` (what `make run` calls) writes:

    out/report.md                the page: scenarios, summary table, warnings, plots, definitions
    out/report.html              the same page, self-contained (plots inlined), for people who would rather look
    out/summary.csv, .parquet    one summary row per scenario (first seed)
    out/montecarlo.parquet       one summary row per scenario and seed
    out/intervals.csv            each headline metric's mean and 95% interval per scenario
    out/plots/*.png, *.svg       outcome shares, attacker cost, and per scenario trajectories and stakes
    out/runs/<scenario>/         every table of each run (events, threads, agents, ...) and its GraphML network
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from sim import DEFAULT_SEEDS, plots
from sim.executors import Executor
from sim.html import write_html
from sim.io import write_frame
from sim.metrics import SimResult, exact_cell, summary_frame, warnings
from sim.montecarlo import MonteCarlo, format_interval, run_montecarlo
from sim.run import resolve, run_scenario

DEFAULT_ATTACKS = ("spam",)
REPORT_COLUMNS = (
    ("specs_submitted", "specs", "{:.0f}"),
    ("approval_rate", "approved", "{:.1%}"),
    ("share_denied", "denied", "{:.1%}"),
    ("share_mixed", "mixed", "{:.1%}"),
    ("share_timeouts", "timeouts", "{:.1%}"),
    ("treasury_inflow_choir", "treasury inflow (CHOIR)", "{:,.0f}"),
    ("attacker_pnl_choir", "attacker P&L (CHOIR)", "{:,.1f}"),
    ("honest_pnl_choir", "honest P&L (CHOIR)", "{:,.0f}"),
    ("thread_inflow_choir", "thread inflow (CHOIR)", "{:,.0f}"),
    ("voter_payouts_choir", "voter payouts (CHOIR)", "{:,.0f}"),
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


def markdown_table(mc: MonteCarlo) -> str:
    """The report's summary table in Markdown, one column per scenario: each metric's mean over the seeds with
    its 95% interval."""
    names = mc.cases
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for column, label, pattern in REPORT_COLUMNS:
        cells = [
            exact_cell(mc.runs, name, column) or format_interval(mc.interval(name, column), pattern) for name in names
        ]
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
    seeds: int = DEFAULT_SEEDS,
    executor: Executor | None = None,
) -> tuple[Path, MonteCarlo]:
    """Run the baseline and the attack scenarios on the same `seeds` seeds (from `seed`, default the baseline's),
    write the first seed's tables and plots, every seed's summary (`montecarlo`), the intervals and `report.md`
    into `out`; return the path of `report.md` and the Monte Carlo results."""
    out = Path(out)
    first = seed if seed is not None else resolve("baseline").seed
    results: list[SimResult] = []
    for name in ("baseline", *attacks):
        result = run_scenario(name, days=days, seed=first, out=out / "runs" / name)
        results.append(result)
        if on_run is not None:
            on_run(result)
    cases = {r.scenario.name: r.scenario for r in results}
    known = {(r.scenario.name, first): r.summary for r in results}
    mc = run_montecarlo(cases, seeds, executor, first, known)
    if mc.failures:
        failure = mc.failures[0]
        raise RuntimeError(f"{failure['case']} seed {failure['seed']} failed: {failure['error']}")
    summaries = summary_frame([r.summary for r in results])
    write_frame(summaries, out / "summary")
    summaries.to_csv(out / "summary.csv", index=False, lineterminator="\n")
    write_frame(mc.runs, out / "montecarlo")
    mc.intervals().to_csv(out / "intervals.csv", index=False, lineterminator="\n")
    run_dirs = [out / "runs" / r.scenario.name for r in results]
    plot_dir = out / "plots"
    plots.plot_comparison(run_dirs, plot_dir)
    plots.save(plots.compare_plot(mc), plot_dir / "montecarlo")
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
            f"* **{s.name}** ({s.days:g} days, policy `{s.policy}`, formula `{s.formula_label}`): "
            f"{s.description} Agents: {groups}. {r.summary['steps']:,} model steps with seed {s.seed}."
        )
    lines += [
        "",
        "## Summary",
        "",
        f"Each cell is the mean over {len(mc.seeds)} seeds ({mc.seeds[0]} to {mc.seeds[-1]}, the same for every "
        "scenario) ± the half-width of its 95% confidence interval (Student's t).",
        "",
        markdown_table(mc),
        "",
        "Shares are of closed specs (approved + denied + mixed + expired). Attacker P&L is what attacker "
        "identities hold at the end minus what they were funded: positive means the attack paid; honest P&L "
        "likewise for everyone else. Every seed's summary is in `montecarlo.parquet`, the intervals in "
        "`intervals.csv`; the first seed's tables are in `runs/<scenario>/` and `summary.csv`.",
        "",
        *_warning_lines([w for r in results for w in warnings(r.summary)]),
        "## Plots",
        "",
        "![Monte Carlo comparison](plots/montecarlo.png)",
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
    write_html(page)
    return page, mc
