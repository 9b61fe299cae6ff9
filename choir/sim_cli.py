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

from choir.interrupts import INTERRUPTED
from choir.tables import Column, print_table
from sim import DEFAULT_SEEDS

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # error lines stay whole: scripts and logs grep them

SIM_MODULES = (
    "simpy",
    "pandas",
    "pyarrow",
    "dask",
    "distributed",
    "matplotlib",
    "networkx",
    "scipy",
    "SALib",
    "optuna",
)
"""What the `sim` extra installs; `choir sim` checks them before any command runs."""


@app.callback()
def require_sim_extra() -> None:
    """Exit 3 with the install command when the `sim` extra is missing (listing commands need none of it)."""
    import importlib.util

    missing = [name for name in SIM_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        err.print(
            f"[red]the simulator needs the sim extra ({', '.join(missing)} missing)[/red]: install it with "
            + escape("`uv sync --extra sim` (or `pip install 'choir-toolkit[sim]'`)"),
            soft_wrap=True,
        )
        raise typer.Exit(3)


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


SeedsOption = Annotated[
    int | None,
    typer.Option(
        "--seeds", min=1, help=f"Monte Carlo seeds per case, from the scenario's seed (default {DEFAULT_SEEDS})."
    ),
]
WorkersOption = Annotated[
    int, typer.Option("--workers", min=0, help="Dask LocalCluster worker processes (0: run in this process).")
]
SchedulerOption = Annotated[
    str | None, typer.Option("--scheduler", help="Address of an existing dask scheduler (tcp://host:8786).")
]


def print_intervals(mc: Any, title: str, reference: str | None = None) -> None:
    """The headline metrics of each case as mean ± 95% half-width, or one run's exact amounts when there is one
    seed (and, against `reference`, the paired difference); cut into no number at any width (`print_table`)."""
    from sim.metrics import exact_cell, exact_difference
    from sim.montecarlo import HEADLINE, format_interval

    cases = mc.cases
    others = [c for c in cases if reference is not None and c != reference]
    what = "" if len(mc.seeds) == 1 else ": mean ± 95% CI"  # one seed: the title names it
    columns = [
        Column("metric"),
        *(Column(f"{escape(case)}{what}", right=True) for case in cases),
        *(Column(f"{escape(case)} - {escape(reference or '')}", right=True) for case in others),
    ]
    rows = []
    for metric, label, pattern in HEADLINE:
        cells = [
            exact_cell(mc.runs, case, metric) or format_interval(mc.interval(case, metric), pattern) for case in cases
        ]
        cells += [
            exact_difference(mc.runs, case, reference, metric)
            or format_interval(mc.difference(case, reference, metric), pattern)
            for case in others
        ]
        rows.append([label, *cells])
    print_table(console, escape(title), columns, rows)


def exit_on_failures(mc: Any) -> None:
    """Name every failed Monte Carlo run (case, seed, error) and exit 3."""
    for failure in mc.failures:
        err.print(
            f"[red]{escape(failure['case'])} seed {failure['seed']} failed[/red]: {escape(str(failure['error']))}",
            soft_wrap=True,
        )
    if mc.failures:
        raise typer.Exit(3)


@app.command("run")
def run(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario name (see `choir sim scenarios`) or a file.")],
    days: Annotated[float | None, typer.Option("--days", help="Horizon in days (default: the scenario's).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="First random seed (default: the scenario's).")] = None,
    seeds: SeedsOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output directory (default out/<scenario>).")] = None,
    sets: SetOption = None,
    against: Annotated[
        str,
        typer.Option(
            "--against",
            help="Reference run on the same seeds for 'changed most': a scenario, 'none', or 'auto' (the scenario "
            "without --set when given, else baseline).",
        ),
    ] = "auto",
    check: Annotated[bool, typer.Option("--check/--no-check", help="Check every invariant after every step.")] = True,
    trace: Annotated[bool, typer.Option("--trace", help="Also write every step as a SPEC trace.jsonl.")] = False,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw the run's plots into DIR/plots.")] = True,
    workers: WorkersOption = 0,
    scheduler: SchedulerOption = None,
) -> None:
    """Run one scenario over Monte Carlo seeds: the first seed's tables (Parquet), network (GraphML) and plots,
    every seed's summary (`montecarlo`), each headline metric's mean with its 95% interval, and the metrics that
    changed most against a reference on the same seeds."""
    import time

    started = time.perf_counter()
    from sim.engine import SimulationFailed
    from sim.executors import make_executor
    from sim.io import write_frame
    from sim.montecarlo import run_montecarlo
    from sim.run import resolve, run_scenario

    overrides = parse_sets(sets)
    try:
        resolved = resolve(scenario, days, seed, overrides)
        reference = _reference(scenario, resolved, overrides, against, days)
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    target = out or Path("out") / resolved.name
    try:
        result = run_scenario(resolved, check=None if check else "off", out=target, trace=trace)
    except SimulationFailed as failure:
        _report_failure(failure, resolved.policy)
        raise typer.Exit(3) from None
    n = seeds or DEFAULT_SEEDS
    cases = {resolved.name: resolved if check else resolved.with_overrides({"check": "off"})}
    if reference is not None:
        cases[reference[0]] = reference[1]
    with make_executor(workers, scheduler) as executor:
        mc = run_montecarlo(cases, n, executor, resolved.seed, {(resolved.name, resolved.seed): result.summary})
    exit_on_failures(mc)
    write_frame(mc.runs, target / "montecarlo")
    mc.intervals().to_csv(target / "intervals.csv", index=False, lineterminator="\n")
    if plots:
        from sim.plots import plot_run

        plot_run(target)
    wall = time.perf_counter() - started
    print_intervals(mc, f"{resolved.name}: {resolved.days:g} days, {n} seeds from {resolved.seed}", None)
    if reference is not None:
        _print_changed(mc, resolved.name, reference[0])
    print_warnings(mc.runs[mc.runs["case"] == resolved.name].to_dict("records")[:1])
    console.print(f"tables{', plots' if plots else ''} of seed {resolved.seed} and every seed's summary in {target}/")
    console.print(f"{len(mc.runs)} runs, {wall:.1f} s wall")


def _reference(scenario: str, resolved: Any, overrides: dict[str, Any], against: str, days: float | None) -> Any:
    """(label, scenario) of the run compared with, or None: `against` names a scenario, 'none', or 'auto'."""
    from sim.run import resolve

    if against == "none":
        return None
    if against != "auto":
        other = resolve(against, days, resolved.seed)
        return (other.name if other.name != resolved.name else f"{other.name} (reference)", other)
    if overrides:
        return (f"{resolved.name} without --set", resolve(scenario, days, resolved.seed))
    if resolved.name != "baseline":
        return ("baseline", resolve("baseline", days, resolved.seed))
    return None


def _print_changed(mc: Any, case: str, reference: str) -> None:
    from sim.metrics import exact_cell, exact_difference
    from sim.montecarlo import format_interval

    pattern = "{:,.3g}"
    rows = [
        [
            metric,
            exact_cell(mc.runs, case, metric) or pattern.format(mc.interval(case, metric).mean),
            exact_cell(mc.runs, reference, metric) or pattern.format(mc.interval(reference, metric).mean),
            exact_difference(mc.runs, case, reference, metric) or format_interval(diff, pattern),
        ]
        for metric, diff in mc.changed_most(case, reference)
    ]
    columns = [Column("metric"), *(Column(escape(name), right=True) for name in (case, reference))]
    title = f"changed most against {escape(reference)} (paired over the same seeds)"
    print_table(console, title, [*columns, Column("difference ± 95% CI", right=True)], rows)


def _report_failure(failure: Any, policy: str) -> None:
    err.print(f"[red]{escape(str(failure))}[/red]", soft_wrap=True)
    if policy in POLICY_NAMES:
        err.print(f"replay it with: choir model run {failure.trace_path} --policy {policy}", soft_wrap=True)
    else:
        err.print(f"replay it with choir_model.trace.read_trace and Model(policy={policy!r})", soft_wrap=True)


@app.command("compare")
def compare(
    scenarios: Annotated[list[str], typer.Argument(help="Scenario names or files; the first is the reference.")],
    policy: Annotated[
        list[str] | None, typer.Option("--policy", help="Compare these policies on the (single) scenario (repeat).")
    ] = None,
    days: Annotated[float | None, typer.Option("--days", help="Horizon in days (default: each scenario's).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="First seed (default: the first scenario's).")] = None,
    seeds: SeedsOption = None,
    sets: SetOption = None,
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("out/compare"),
    workers: WorkersOption = 0,
    scheduler: SchedulerOption = None,
) -> None:
    """Run scenarios (or one scenario under several policies) side by side on the same seeds; print and plot the
    headline metrics with their 95% intervals and each case's paired difference from the first."""
    import time

    started = time.perf_counter()
    from sim.executors import make_executor
    from sim.io import write_frame
    from sim.montecarlo import run_montecarlo
    from sim.plots import compare_plot, save
    from sim.run import resolve

    overrides = parse_sets(sets)
    try:
        if policy:
            if len(scenarios) != 1:
                raise ValueError("--policy compares policies on one scenario; name exactly one")
            base = resolve(scenarios[0], days, seed, overrides)
            cases = {name: base.with_overrides({"policy": name}) for name in policy}
        else:
            if len(scenarios) < 2:
                raise ValueError("name at least two scenarios, or one scenario and --policy twice or more")
            cases = {}
            for name in scenarios:
                case = resolve(name, days, seed, overrides)
                cases[case.name if case.name not in cases else name] = case
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    n = seeds or DEFAULT_SEEDS
    first = next(iter(cases.values())).seed
    with make_executor(workers, scheduler) as executor:
        mc = run_montecarlo(cases, n, executor, first)
    exit_on_failures(mc)
    out.mkdir(parents=True, exist_ok=True)
    write_frame(mc.runs, out / "montecarlo")
    mc.intervals().to_csv(out / "intervals.csv", index=False, lineterminator="\n")
    save(compare_plot(mc), out / "compare")
    reference = next(iter(cases))
    print_intervals(mc, f"{n} seeds from {first}, reference {reference}", reference)
    print_warnings([mc.runs[mc.runs["case"] == case].iloc[0].to_dict() for case in cases])
    console.print(f"tables and compare.png in {out}/; {len(mc.runs)} runs, {time.perf_counter() - started:.1f} s wall")


@app.command("attack")
def attack(
    attack_file: Annotated[Path, typer.Argument(help="An attack file (TOML), e.g. sim/attacks/drain_search.toml.")],
    trials: Annotated[int | None, typer.Option("--trials", min=1, help="Trials (default: the file's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output directory (default out/attacks/<name>).")] = None,
    frontier_trials: Annotated[
        int | None, typer.Option("--frontier-trials", min=1, help="Trials per frontier point (default: trials/points).")
    ] = None,
    workers: WorkersOption = 0,
    scheduler: SchedulerOption = None,
) -> None:
    """Search attacker strategies (Optuna, pruned) for the worst case, or falsify a threshold; write the best
    attacks with their seeds and SPEC traces, and the profit frontier over a mechanism parameter. Ctrl-C or
    SIGTERM stops the search: the trials that finished are reported and written, exit 130."""
    import json
    import time

    started = time.perf_counter()
    from sim import attack as attacks
    from sim.executors import make_executor
    from sim.io import write_json

    try:
        spec = attacks.falsify_objective(attacks.load_attack(attack_file))
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    target = out or Path("out") / "attacks" / spec.name
    target.mkdir(parents=True, exist_ok=True)
    with make_executor(workers, scheduler) as executor:
        result = attacks.search(spec, executor, trials=trials)
        rows, interrupted = attacks.frontier(spec, executor, frontier_trials) if not result.interrupted else ([], True)
    pruned = sum(t.pruned for t in result.trials)
    failed = [t for t in result.trials if t.error]
    console.print(
        f"{spec.name}: {len(result.trials)} trials ({pruned} pruned, {len(failed)} failed), "
        f"{spec.direction} {spec.objective}; best reached after {result.first_best_seconds:.0f} s"
    )
    table = Table(
        title=f"best attacks: {spec.objective}, mean over {spec.seeds} seeds from {spec.scenario.seed}",
        title_justify="left",
    )
    for column in ("rank", "mean", "per seed", "strategy"):
        table.add_column(column)
    records = []
    for rank, trial in enumerate(result.best, 1):
        trace, summary = attacks.write_trace(spec, trial, target / f"best{rank}")
        strategy = ", ".join(f"{k.rsplit('.', 1)[-1]}={_short(v)}" for k, v in trial.params.items())
        table.add_row(
            str(rank), f"{trial.mean:,.1f}", " ".join(f"{v:,.0f}" for v in trial.values), strategy, str(trace)
        )
        records.append({"rank": rank, "mean": trial.mean, "values": trial.values, "params": trial.params,
                        "seed": spec.scenario.seed, "trace": str(trace), "summary_first_seed": summary})  # fmt: skip
    console.print(table)
    if result.best:
        policy = spec.scenario_for(result.best[0].params, spec.scenario.seed).policy
        console.print(
            f"SPEC traces of each on seed {spec.scenario.seed}: {target}/best<rank>/trace.jsonl; replay the best with "
            f"choir model run {target / 'best1' / 'trace.jsonl'} --policy {policy}",
            soft_wrap=True,
        )
    if rows:
        ftable = Table(title=f"profit frontier over {rows[0]['parameter']}", title_justify="left")
        for column in ("value", f"best {spec.objective}", "kind", "trials"):
            ftable.add_column(column)
        for row in rows:
            ftable.add_row(_short(row["value"]), f"{row['best']:,.1f}", str(row["kind"]), str(row["trials"]))
        console.print(ftable)
        from sim.plots import frontier_plot, save

        save(frontier_plot(rows, spec.objective), target / "frontier")
    if spec.falsify is not None:
        metric, side, threshold = spec.falsify
        if result.falsified is not None:
            console.print(
                f"[bold]falsified[/bold]: {metric} {side} {threshold:g} with {json.dumps(result.falsified.params)} "
                f"(mean {result.falsified.mean:,.2f})"
            )
        else:
            console.print(f"not falsified: no trial put {metric} {side} {threshold:g} in {len(result.trials)} trials")
    write_json(
        {"name": spec.name, "objective": spec.objective, "direction": spec.direction, "best": records,
         "frontier": rows, "trials": [dataclasses_asdict(t) for t in result.trials], "interrupted": interrupted,
         "falsified": dataclasses_asdict(result.falsified) if result.falsified else None},
        target / "attack.json",
    )  # fmt: skip
    console.print(f"results in {target}/ ({time.perf_counter() - started:.1f} s wall)")
    if spec.falsify is not None and result.falsified is not None:
        raise typer.Exit(1)
    if interrupted:
        what = "the search" if result.interrupted else f"the frontier after {len(rows)} of its points"
        console.print(f"[yellow]interrupted[/yellow]: {what}; the results above are for what finished")
        raise typer.Exit(INTERRUPTED)


def dataclasses_asdict(value: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(value)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@app.command("sensitivity")
def sensitivity(
    sensitivity_file: Annotated[
        Path, typer.Argument(help="A sensitivity file (TOML), e.g. sim/sensitivity/formula_and_rules.toml.")
    ],
    samples: Annotated[
        int | None, typer.Option("--samples", min=1, help="Base sample size (default: the file's).")
    ] = None,
    method: Annotated[str | None, typer.Option("--method", help="sobol or morris (default: the file's).")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Output directory (default out/sensitivity/<name>).")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="Dask LocalCluster worker processes (0: run in this process).")
    ] = 2,
    scheduler: SchedulerOption = None,
) -> None:
    """Morris screening or Sobol indices (SALib) of chosen outputs over declared parameter ranges, run on dask;
    a table and a tornado plot."""
    import dataclasses
    import time

    started = time.perf_counter()
    from sim.executors import make_executor
    from sim.io import write_frame
    from sim.plots import save, sensitivity_plot
    from sim.sensitivity import load_sensitivity, run_sensitivity

    try:
        spec = load_sensitivity(sensitivity_file)
        changes = {k: v for k, v in (("samples", samples), ("method", method)) if v is not None}
        if changes:
            spec = dataclasses.replace(spec, **changes)
            spec.check()
        spec.check_outputs()
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    target = out or Path("out") / "sensitivity" / spec.name
    target.mkdir(parents=True, exist_ok=True)
    with make_executor(workers, scheduler) as executor:
        try:
            result = run_sensitivity(spec, executor)
        except ValueError as error:
            err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
            raise typer.Exit(3) from None
    write_frame(result.runs, target / "samples")
    result.indices.to_csv(target / "indices.csv", index=False, lineterminator="\n")
    save(sensitivity_plot(result.indices, f"{spec.name}: {spec.method}"), target / "sensitivity")
    table = Table(
        title=f"{spec.name}: {spec.method}, {len(result.runs)} points x {spec.seeds} seeds", title_justify="left"
    )
    columns = ["S1", "S1_conf", "ST", "ST_conf"] if spec.method == "sobol" else ["mu_star", "mu_star_conf", "sigma"]
    for column in ("output", "parameter", *columns):
        table.add_column(column, justify="left" if column in ("output", "parameter") else "right")
    for row in result.indices.to_dict("records"):
        table.add_row(row["output"], row["parameter"], *(f"{row[c]:.3g}" for c in columns))
    console.print(table)
    if spec.method == "sobol":
        worst = float(result.indices[["S1_conf", "ST_conf"]].max().max())
        console.print(f"largest 95% half-width (SALib's *_conf): {worst:.3f}")
    console.print(f"table, samples and sensitivity.png in {target}/ ({time.perf_counter() - started:.1f} s wall)")


@app.command("sweep")
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="A sweep file (TOML), e.g. sim/sweeps/policy_vs_spam_stake.toml.")],
    workers: Annotated[
        int, typer.Option("--workers", min=0, help="LocalCluster worker processes (0: run in this process).")
    ] = 2,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Address of an existing dask scheduler (tcp://host:8786).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output directory (default out/sweeps/<name>).")] = None,
    seeds: Annotated[
        int | None, typer.Option("--seeds", min=1, help="Monte Carlo seeds per point (default: the file's `seeds`).")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Draw heatmaps into DIR/plots.")] = True,
) -> None:
    """Run a sweep (grid or random points x Monte Carlo seeds) on dask; resumes from its cache."""
    from sim.sweep import load_sweep, run_sweep

    try:
        spec = load_sweep(sweep_file)
        if seeds is not None:
            spec.seeds = seeds
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
    seed: Annotated[int | None, typer.Option("--seed", help="First random seed (default: the baseline's).")] = None,
    seeds: SeedsOption = None,
    workers: WorkersOption = 0,
    scheduler: SchedulerOption = None,
) -> None:
    """The main job: baseline and attack scenarios over Monte Carlo seeds; tables, plots and OUT/report.md."""
    import time

    started = time.perf_counter()
    from sim.engine import SimulationFailed
    from sim.executors import make_executor
    from sim.report import DEFAULT_ATTACKS, write_report

    def announce(result: Any) -> None:
        console.print(f"ran {result.scenario.name}: {result.summary['steps']:,} steps")

    try:
        with make_executor(workers, scheduler) as executor:
            page, mc = write_report(
                out, attack or DEFAULT_ATTACKS, days, seed, on_run=announce, seeds=seeds or DEFAULT_SEEDS,
                executor=executor,
            )  # fmt: skip
    except (SimulationFailed, RuntimeError) as failure:
        err.print(f"[red]{escape(str(failure))}[/red]", soft_wrap=True)
        raise typer.Exit(3) from None
    except (FileNotFoundError, ValueError) as error:
        err.print(f"[red]{escape(str(error))}[/red]", soft_wrap=True)
        raise typer.Exit(2) from None
    print_intervals(mc, f"simulation report: {len(mc.seeds)} seeds from {mc.seeds[0]}", mc.cases[0])
    print_warnings(mc.runs.drop_duplicates("case").to_dict("records"))
    console.print(f"report written to {page} ({len(mc.runs)} runs, {time.perf_counter() - started:.1f} s wall)")


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
