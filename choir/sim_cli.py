"""`choir sim ...`: run scenarios, sweeps, plots and the report from the command line.

The simulator's heavy imports (SimPy, pandas, dask, matplotlib) happen inside the commands, so `choir --help`
stays instant.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

SUMMARY_ROWS = (
    ("specs_submitted", "{:.0f}"),
    ("approved", "{:.0f}"),
    ("denied", "{:.0f}"),
    ("mixed", "{:.0f}"),
    ("expired", "{:.0f}"),
    ("approval_rate", "{:.3f}"),
    ("share_timeouts", "{:.3f}"),
    ("treasury_inflow_choir", "{:,.3f}"),
    ("attacker_cost_choir", "{:,.3f}"),
    ("gini_coauthor_earnings", "{:.3f}"),
    ("mean_temperature", "{:.3f}"),
    ("median_recommended_choir", "{:,.1f}"),
    ("share_capped", "{:.3f}"),
    ("share_near_floor", "{:.3f}"),
    ("share_below_min", "{:.3f}"),
    ("net_components", "{:.0f}"),
    ("net_degree_centralization", "{:.3f}"),
    ("steps", "{:,.0f}"),
    ("failed_steps", "{:,.0f}"),
)

POLICY_NAMES = ("seeds", "scales-2024-10", "collective-2024-11")  # what `choir model run --policy` accepts

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario value by dotted path, e.g. --set agents.spam.count=3 (repeat)."),
]


def parse_sets(values: list[str] | None) -> dict[str, Any]:
    """`path=value` pairs; the value is read as TOML (numbers, booleans, strings, arrays) or else a string."""
    import tomllib

    out: dict[str, Any] = {}
    for item in values or []:
        path, sep, text = item.partition("=")
        if not sep or not path:
            raise typer.BadParameter(f"--set needs path=value, got {item!r}")
        try:
            out[path.strip()] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            out[path.strip()] = text
    return out


def _fmt(value: Any, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return pattern.format(value)


def print_summaries(summaries: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for summary in summaries:
        table.add_column(f"{summary['scenario']} (seed {summary['seed']})", justify="right")
    for key, pattern in SUMMARY_ROWS:
        table.add_row(key, *(_fmt(s.get(key), pattern) for s in summaries))
    console.print(table)
    print_warnings(summaries)


def print_warnings(summaries: list[dict[str, Any]]) -> None:
    """Print what `sim.metrics.warnings` says about each summary (capped or refused recommendations)."""
    from sim.metrics import warnings

    for summary in summaries:
        for warning in warnings(summary):
            err.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)


def sweep_capped_warning(results: Any) -> None:
    """Print the sweep's mean share of capped recommendations and warn about points where most were capped."""
    from sim.metrics import CAPPED_WARNING

    ok = results[results["status"] == "ok"]
    if ok.empty or "share_capped" not in ok:
        return
    per_point = ok.groupby("point")["share_capped"].mean()
    console.print(f"recommendations capped: {ok['share_capped'].mean():.1%} on average over the runs")
    hot = per_point[per_point > CAPPED_WARNING]
    if len(hot):
        err.print(
            f"[yellow]warning:[/yellow] at {len(hot)} of {len(per_point)} points more than {CAPPED_WARNING:.0%} of "
            f"recommended stakes were capped (points {', '.join(map(str, hot.index[:10]))}): the formula recommends "
            "a constant there",
            soft_wrap=True,
        )


@app.command("run")
def run(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario name (see `choir sim scenarios`) or a file.")],
    days: Annotated[float | None, typer.Option("--days", help="Horizon in days (default: the scenario's).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default: the scenario's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output directory (default out/<scenario>).")] = None,
    sets: SetOption = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Check every invariant after every step.")] = True,
    trace: Annotated[bool, typer.Option("--trace", help="Also write every step as a JSONL trace.")] = False,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw the run's plots into DIR/plots.")] = True,
) -> None:
    """Run one scenario; write its tables (Parquet), network (GraphML) and plots; print its summary."""
    from sim.engine import SimulationFailed
    from sim.run import resolve, run_scenario

    try:
        resolved = resolve(scenario, days, seed, parse_sets(sets))
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    target = out or Path("out") / resolved.name
    try:
        result = run_scenario(resolved, check=None if check else "off", out=target, trace=trace)
    except SimulationFailed as failure:
        err.print(f"[red]{escape(str(failure))}[/red]", soft_wrap=True)
        if resolved.policy in POLICY_NAMES:
            err.print(
                f"replay it with: choir model run {failure.trace_path} --policy {resolved.policy}", soft_wrap=True
            )
        else:
            err.print(
                f"replay it with choir_model.trace.read_trace and Model(policy={resolved.policy!r})", soft_wrap=True
            )
        raise typer.Exit(3) from None
    if plots:
        from sim.plots import plot_run

        plot_run(target)
    print_summaries([result.summary], f"{resolved.name}: {resolved.days:g} days, {result.wall_seconds:.1f} s")
    console.print(f"tables, network{' and plots' if plots else ''} in {target}/")


@app.command("sweep")
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="A sweep file (TOML), e.g. sim/sweeps/spam_vs_policy.toml.")],
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="LocalCluster worker processes (0: run in this process).")
    ] = 2,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Address of an existing dask scheduler (tcp://host:8786).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output directory (default out/sweeps/<name>).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw heatmaps into DIR/plots.")] = True,
) -> None:
    """Run a sweep (grid or random points x Monte Carlo seeds) on dask; resumes from its cache."""
    from sim.sweep import load_sweep, run_sweep

    try:
        spec = load_sweep(sweep_file)
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    result = run_sweep(spec, out=out, workers=workers, scheduler=scheduler, progress=progress)
    ok = int((result.results["status"] == "ok").sum())
    console.print(
        f"{spec.name}: {len(result.results)} runs ({result.cached} from cache, {result.ran} run now), "
        f"{ok} ok, {len(result.failures)} failed, {result.wall_seconds:.1f} s; results in {result.out}/"
    )
    sweep_capped_warning(result.results)
    if plots and ok:
        from sim.plots import plot_sweep

        plot_sweep(result.out)
    for failure in result.failures:
        err.print(
            f"[red]run {failure['index']} failed[/red] "
            + escape(
                f"params={failure['params']} seed={failure['seed']}: {failure['error']}"
                + (f" (trace: {failure['trace_path']})" if failure.get("trace_path") else "")
            ),
            soft_wrap=True,
        )
    if result.failures:
        raise typer.Exit(1)


@app.command("plot")
def plot(
    directory: Annotated[Path, typer.Argument(help="A run, report or sweep directory.", exists=True)],
    metric: Annotated[
        list[str] | None, typer.Option("--metric", help="Sweeps: summary metric(s) to draw as heatmaps (repeat).")
    ] = None,
    x: Annotated[str | None, typer.Option("--x", help="Sweeps: parameter on the x axis.")] = None,
    y: Annotated[str | None, typer.Option("--y", help="Sweeps: parameter on the y axis.")] = None,
) -> None:
    """Draw the plots (PNG and SVG) of a run, of several runs, or of a sweep."""
    from sim.plots import plot_dir

    try:
        written = plot_dir(directory, metric, x, y)
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"{len(written)} files written under {directory}/")


@app.command("report")
def report(
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("out"),
    attack: Annotated[
        list[str] | None, typer.Option("--attack", help="Attack scenario(s) to compare with the baseline.")
    ] = None,
    days: Annotated[float | None, typer.Option("--days", help="Horizon in days (default: each scenario's).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default: each scenario's).")] = None,
) -> None:
    """The main job: baseline and one attack scenario end to end; summary tables and plots in OUT/report.md."""
    from sim.engine import SimulationFailed
    from sim.report import DEFAULT_ATTACKS, write_report

    def announce(result: Any) -> None:
        console.print(f"ran {result.scenario.name}: {result.summary['steps']:,} steps, {result.wall_seconds:.1f} s")

    try:
        page = write_report(out, attack or DEFAULT_ATTACKS, days, seed, on_run=announce)
    except SimulationFailed as failure:
        err.print(f"[red]{escape(str(failure))}[/red]", soft_wrap=True)
        raise typer.Exit(3) from None
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    from sim.io import read_frame

    print_summaries(read_frame(out / "summary").to_dict("records"), "simulation report")
    console.print(f"report written to {page}")


@app.command("scenarios")
def scenarios() -> None:
    """List the built-in scenarios."""
    from sim.scenario import list_scenarios, load_scenario

    table = Table(title="built-in scenarios (sim/scenarios/)", title_justify="left")
    for column in ("name", "days", "seed", "policy", "agents", "description"):
        table.add_column(column)
    for name in list_scenarios():
        s = load_scenario(name)
        agents = ", ".join(f"{g.config.count} {g.kind}" for g in s.groups)
        table.add_row(name, f"{s.days:g}", str(s.seed), s.policy, agents, s.description)
    console.print(table)


@app.command("agents")
def agents() -> None:
    """List the agent kinds, their parameters and defaults."""
    import dataclasses
    import inspect

    from sim.agents import AGENT_KINDS

    for kind, cls in AGENT_KINDS.items():
        console.print(f"[bold]{kind}[/bold] ({cls.role}): {inspect.cleandoc(cls.__doc__ or '')}")
        defaults = ", ".join(f"{f.name}={f.default!r}" for f in dataclasses.fields(cls.Config))
        console.print(f"  parameters: {defaults}")
        console.print(f"  {inspect.cleandoc(cls.Config.__doc__ or '')}\n")
