"""Plots (matplotlib, PNG and SVG) of runs, scenario comparisons and sweeps.

Every function takes DataFrames as written by `sim.metrics` / `sim.sweep` and returns a `matplotlib.figure.Figure`
built with the object API (no pyplot state, no GUI backend: works headless and in notebooks alike); `save` writes
it as PNG and SVG without timestamps, so plots are reproducible too. `plot_dir` looks at a directory (a run, a
report with several runs, or a sweep) and draws what fits:

* run: temperature and frequency trajectories, actual versus recommended stake, the spread of recommendations
  (how many were capped or at the zero-temperature floor) and the seeds policy's feedback loop on one thread;
* several runs: outcome shares per scenario, attacker cost per scenario and over time;
* Monte Carlo comparisons: each headline metric per case, mean with its 95% interval and every seed's value;
* sweep: a heatmap of each main summary metric over two swept parameters (mean over seeds and any other
  parameter, with the 95% half-width in each cell), or a line with its interval when only one parameter was
  swept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.io import has_frame, read_frame

matplotlib.rcParams["svg.hashsalt"] = "choir-sim"
CHOIR = 10**9
OUTCOMES = ("approved", "denied", "mixed", "expired")
OUTCOME_COLORS = {"approved": "#2a9d8f", "denied": "#e76f51", "mixed": "#f4a261", "expired": "#8d99ae"}
KIND_COLORS = {
    "honest_author": "#264653",
    "co_author": "#2a9d8f",
    "creator": "#8ab17d",
    "spammer": "#e76f51",
    "sybil": "#9b2226",
    "griefer": "#6d597a",
    "drainer": "#bc6c25",
}
SWEEP_METRICS = (
    "approval_rate",
    "share_timeouts",
    "attacker_pnl_choir",
    "honest_pnl_choir",
    "thread_inflow_choir",
    "treasury_inflow_choir",
    "voter_payouts_choir",
)


def _figure(width: float = 8.0, height: float = 4.5, rows: int = 1, cols: int = 1) -> tuple[Figure, list]:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, [ax for row in axes for ax in row]


def save(figure: Figure, stem: str | Path) -> list[Path]:
    """Write `<stem>.png` and `<stem>.svg` (no timestamps); return both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    figure.savefig(png, dpi=110, metadata={"Software": None})
    figure.savefig(svg, metadata={"Date": None, "Creator": None})
    return [png, svg]


def show(figure: Figure) -> None:
    """Display a figure in a notebook as a PNG, whatever matplotlib backend the kernel runs (Agg included)."""
    import io

    from IPython.display import Image, display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    display(Image(buffer.getvalue()))


# --------------------------------------------------------------------------------------------------------- runs


def trajectories(threads: pd.DataFrame, title: str = "", max_threads: int = 12) -> Figure:
    """Temperature and frequency of each thread over time (the `max_threads` with the most specs), with the
    median over all threads in black."""
    figure, (ax_t, ax_w) = _figure(10, 4.2, 1, 2)
    busiest = threads.groupby("thread_id")["specs"].sum().sort_values(ascending=False, kind="stable")
    chosen = list(busiest.index[:max_threads])
    for thread_id in chosen:
        part = threads[threads["thread_id"] == thread_id]
        ax_t.plot(part["day"], part["temperature"], lw=0.8, alpha=0.6)
        ax_w.plot(part["day"], part["frequency"], lw=0.8, alpha=0.6)
    median = threads.groupby("day")[["temperature", "frequency"]].median()
    ax_t.plot(median.index, median["temperature"], color="black", lw=2, label="median, all threads")
    ax_w.plot(median.index, median["frequency"], color="black", lw=2, label="median, all threads")
    ax_t.set(xlabel="day", ylabel="temperature T = E/N (CHOIR per co-author)", title="temperature")
    ax_w.set(xlabel="day", ylabel="frequency omega = sqrt(N)", title="frequency")
    ax_t.legend(loc="best", fontsize=8)
    if title:
        figure.suptitle(title)
    return figure


def stakes_vs_recommended(stakes: pd.DataFrame, title: str = "") -> Figure:
    """Each spec's actual stake against the model's recommended stake when it was submitted (log-log), by
    author kind; the diagonal is 'staked exactly the recommendation'."""
    figure, (ax,) = _figure(6.5, 5.5)
    if stakes.empty:
        ax.text(0.5, 0.5, "no specs", ha="center", va="center", transform=ax.transAxes)
        return figure
    recommended = stakes["recommended"].astype("float64") / CHOIR
    actual = stakes["actual"].astype("float64") / CHOIR
    for kind in sorted(stakes["kind"].dropna().unique()):
        mask = (stakes["kind"] == kind).fillna(False).to_numpy(dtype=bool)
        ax.scatter(recommended[mask], actual[mask], s=8, alpha=0.5, label=kind, color=KIND_COLORS.get(kind))
    positive = pd.concat([recommended[recommended > 0], actual[actual > 0]])
    if not positive.empty:
        low, high = positive.min(), positive.max()
        ax.plot([low, high], [low, high], color="black", lw=1, ls="--", label="actual = recommended")
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set(xlabel="recommended stake (CHOIR)", ylabel="actual stake (CHOIR)", title=title or "actual vs recommended")
    ax.legend(fontsize=8, markerscale=2)
    return figure


def stake_series(threads: pd.DataFrame, title: str = "") -> Figure:
    """Mean recommended stake across threads and mean actual stake of the specs submitted, per sample."""
    figure, (ax,) = _figure(8, 4)
    recommended = threads.groupby("day")["recommended_stake"].mean() / CHOIR
    weighted = threads.assign(total=threads["mean_stake"].astype("Float64").fillna(0) * threads["specs"])
    sums = weighted.groupby("day")[["total", "specs"]].sum()
    actual = (sums["total"] / sums["specs"].where(sums["specs"] > 0)) / CHOIR
    ax.plot(recommended.index, recommended.to_numpy(dtype=float), label="recommended (mean over threads)")
    ax.plot(actual.index, actual.to_numpy(dtype=float, na_value=math.nan), marker=".", ls="", label="actual")
    ax.set(xlabel="day", ylabel="stake (CHOIR)", title=title or "recommended and actual stakes")
    ax.legend(fontsize=8)
    return figure


def recommendation_spread(stakes: pd.DataFrame, ceiling: float | None, floor: float | None, title: str = "") -> Figure:
    """Histogram of the recommended stakes of the simulated period's specs (CHOIR, log bins), with the formula's
    zero-temperature floor (S0/2) and cap marked and the share at each in the legend: a live formula spreads
    its recommendations between them; a dead one piles them on one line."""
    import numpy as np

    figure, (ax,) = _figure(7, 4)
    part = stakes[~stakes["bootstrap"]] if "bootstrap" in stakes else stakes
    values = part["recommended"].astype("float64").to_numpy() / CHOIR
    values = values[values > 0]
    if values.size == 0:
        ax.text(0.5, 0.5, "no recommendations", ha="center", va="center", transform=ax.transAxes)
        return figure
    low, high = values.min(), values.max()
    bins = np.geomspace(low * 0.95, high * 1.05, 40) if high > low else 10
    ax.hist(values, bins=bins, color="#264653", alpha=0.85)
    ax.set_xscale("log")
    if floor:
        near = float(np.mean(np.abs(values - floor) <= 0.01 * floor))
        ax.axvline(floor, color="#2a9d8f", ls="--", label=f"S0/2 = {floor:g} CHOIR ({near:.0%} within 1%)")
    if ceiling:
        capped = float(part["capped"].mean()) if "capped" in part else float(np.mean(values >= ceiling))
        ax.axvline(ceiling, color="#e76f51", ls="--", label=f"cap = {ceiling:g} CHOIR ({capped:.0%} capped)")
    ax.set(xlabel="recommended stake when submitted (CHOIR)", ylabel="specs", title=title or "recommended stakes")
    ax.legend(fontsize=8)
    return figure


def feedback_loop(threads: pd.DataFrame, events: pd.DataFrame, title: str = "") -> Figure:
    """The seeds policy's feedback loop on the thread with the most denied specs: a denied stake goes to the
    thread, its balance E rises, so does T = E/N, and with it the next recommended stake (top: balance and the
    denials flowing in; bottom: T and the recommendation, with the cap)."""
    figure, (ax_e, ax_p) = _figure(9, 6, 2, 1)
    denied = events[(events["event"] == "StakeSettled") & (events["outcome"] == "denied") & ~events["bootstrap"]]
    if denied.empty:
        ax_e.text(0.5, 0.5, "no denied spec in this run", ha="center", va="center", transform=ax_e.transAxes)
        return figure
    thread_id = denied["thread_id"].value_counts(sort=True).index[0]
    part = threads[threads["thread_id"] == thread_id]
    mine = denied[denied["thread_id"] == thread_id]
    ax_e.plot(part["day"], part["balance"].astype(float) / CHOIR, color="#264653", label="balance E")
    for day, amount in zip(mine["day"], mine["to_thread"].astype("float64") / CHOIR, strict=True):
        ax_e.axvline(day, color="#e76f51", lw=0.8, alpha=0.6)
        ax_e.annotate(f"+{amount:,.0f}", (day, 0.98), xycoords=("data", "axes fraction"), fontsize=7, va="top")
    ax_e.plot([], [], color="#e76f51", lw=0.8, label="a denied stake goes to the thread")
    ax_e.set(ylabel="thread balance (CHOIR)", title=title or f"feedback loop on thread {thread_id}")
    ax_e.legend(fontsize=8, loc="lower right")
    ax_p.plot(part["day"], part["recommended_stake"].astype(float) / CHOIR, color="#e76f51", label="recommended")
    ax_t = ax_p.twinx()
    ax_t.plot(part["day"], part["temperature"], color="#8d99ae", ls=":", label="T = E/N")
    ax_p.set(xlabel="day", ylabel="recommended stake (CHOIR)")
    ax_t.set_ylabel("temperature (CHOIR per co-author)")
    lines = ax_p.get_legend_handles_labels()[0] + ax_t.get_legend_handles_labels()[0]
    ax_p.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper left")
    return figure


# ---------------------------------------------------------------------------------------------- comparisons


def outcome_shares(summaries: pd.DataFrame, title: str = "outcome shares per scenario") -> Figure:
    """Stacked shares of approved / denied / mixed / expired specs, one bar per scenario (row of summary)."""
    figure, (ax,) = _figure(max(5.0, 1.4 * len(summaries) + 2), 4.5)
    labels = summaries["scenario"].astype(str).tolist()
    bottom = [0.0] * len(summaries)
    closed = summaries[list(OUTCOMES)].sum(axis=1).replace(0, math.nan)
    for outcome in OUTCOMES:
        share = (summaries[outcome] / closed).fillna(0).tolist()
        ax.bar(labels, share, bottom=bottom, label=outcome, color=OUTCOME_COLORS[outcome])
        bottom = [b + s for b, s in zip(bottom, share, strict=True)]
    ax.set(ylabel="share of closed specs", ylim=(0, 1), title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return figure


def attacker_cost(summaries: pd.DataFrame, groups: Mapping[str, pd.DataFrame] | None = None) -> Figure:
    """Cost borne by attackers per scenario (CHOIR funded minus CHOIR left; negative is a profit) and, given
    each scenario's group series, its path over time."""
    cols = 2 if groups else 1
    figure, axes = _figure(5.5 * cols, 4.2, 1, cols)
    ax = axes[0]
    labels = summaries["scenario"].astype(str).tolist()
    values = summaries["attacker_cost_choir"].astype(float).tolist()
    ax.bar(labels, values, color=["#9b2226" if v >= 0 else "#2a9d8f" for v in values])
    ax.axhline(0, color="black", lw=0.8)
    ax.set(ylabel="attacker cost (CHOIR)", title="cost borne by attackers")
    if groups:
        ax2 = axes[1]
        for name, frame in groups.items():
            attackers = frame[frame["role"] == "attacker"]
            if attackers.empty:
                continue
            series = attackers.groupby("day")["pnl"].sum() / -CHOIR
            ax2.plot(series.index, series.to_numpy(dtype=float), label=name)
        ax2.axhline(0, color="black", lw=0.8)
        ax2.set(xlabel="day", ylabel="attacker cost so far (CHOIR)", title="attacker cost over time")
        ax2.legend(fontsize=8)
    return figure


COMPARE_METRICS = (
    ("attacker_pnl_choir", "attacker P&L (CHOIR)"),
    ("honest_pnl_choir", "honest P&L (CHOIR)"),
    ("thread_inflow_choir", "thread inflow (CHOIR)"),
    ("treasury_inflow_choir", "treasury inflow (CHOIR)"),
    ("voter_payouts_choir", "voter payouts (CHOIR)"),
    ("approval_rate", "approval rate"),
)


def compare_plot(mc: object, metrics: Sequence[tuple[str, str]] = COMPARE_METRICS, title: str = "") -> Figure:
    """One panel per metric: each case's mean over the seeds with its 95% interval as an error bar, and each
    seed's value as a dot (the spread the mean hides). `mc` is a `sim.montecarlo.MonteCarlo`."""
    cases = mc.cases  # type: ignore[attr-defined]
    cols = 3
    rows = math.ceil(len(metrics) / cols)
    figure, axes = _figure(4.2 * cols, 3.2 * rows, rows, cols)
    ok = mc.runs[mc.runs["status"] == "ok"]  # type: ignore[attr-defined]
    palette = ["#264653", "#e76f51", "#2a9d8f", "#f4a261", "#6d597a", "#8ab17d", "#9b2226"]
    for ax, (metric, label) in zip(axes, metrics, strict=False):
        for i, case in enumerate(cases):
            value = mc.interval(case, metric)  # type: ignore[attr-defined]
            error = 0.0 if math.isnan(value.half_width) else value.half_width
            color = palette[i % len(palette)]
            ax.bar(i, value.mean, color=color, alpha=0.6)
            ax.errorbar(i, value.mean, yerr=error, color="black", capsize=4)
            points = ok.loc[ok["case"] == case, metric].astype(float)
            ax.scatter([i] * len(points), points, s=6, color="black", alpha=0.4, zorder=3)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(range(len(cases)), cases, rotation=20, ha="right", fontsize=8)
        ax.set_title(label, fontsize=10)
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    seeds = len(mc.seeds)  # type: ignore[attr-defined]
    figure.suptitle(title or f"mean over {seeds} seeds with 95% interval (dots: each seed)")
    return figure


def frontier_plot(rows: Sequence[Mapping[str, object]], objective: str) -> Figure:
    """The best objective the attack search found at each value of a mechanism parameter."""
    figure, (ax,) = _figure(7, 4)
    parameter = str(rows[0]["parameter"]) if rows else ""
    labels = [_label(row["value"], parameter) for row in rows]
    values = [float(row["best"]) for row in rows]  # type: ignore[arg-type]
    ax.plot(range(len(rows)), values, marker="o", color="#9b2226")
    for i, row in enumerate(rows):
        ax.annotate(str(row["kind"]), (i, values[i]), textcoords="offset points", xytext=(0, 6), fontsize=8)
    ax.set_xticks(range(len(rows)), labels)
    ax.axhline(0, color="black", lw=0.6)
    ax.set(xlabel=_axis(parameter), ylabel=f"best {objective}", title=f"attack frontier over {parameter}")
    return figure


def sensitivity_plot(indices: pd.DataFrame, title: str = "") -> Figure:
    """Tornado bars per output, parameters sorted by influence: Sobol first-order and total indices with their
    95% intervals, or Morris mu* with its interval."""
    outputs = list(dict.fromkeys(indices["output"]))
    figure, axes = _figure(5.0 * len(outputs), 0.35 * indices["parameter"].nunique() + 2.0, 1, len(outputs))
    sobol = "ST" in indices.columns
    for ax, output in zip(axes, outputs, strict=True):
        part = indices[indices["output"] == output].sort_values("ST" if sobol else "mu_star", kind="stable")
        positions = range(len(part))
        if sobol:
            ax.barh(
                [p + 0.2 for p in positions], part["ST"], 0.4, xerr=part["ST_conf"], label="total (ST)", color="#264653"
            )
            ax.barh(
                [p - 0.2 for p in positions],
                part["S1"],
                0.4,
                xerr=part["S1_conf"],
                label="first order (S1)",
                color="#e76f51",
            )
            ax.set_xlabel("Sobol index (95% interval)")
        else:
            ax.barh(list(positions), part["mu_star"], xerr=part["mu_star_conf"], color="#264653", label="mu*")
            ax.set_xlabel("Morris mu* (95% interval)")
        ax.set_yticks(list(positions), part["parameter"], fontsize=8)
        ax.set_title(output, fontsize=10)
        ax.axvline(0, color="black", lw=0.6)
    axes[0].legend(fontsize=8, loc="lower right")
    if title:
        figure.suptitle(title)
    return figure


# --------------------------------------------------------------------------------------------------- sweeps


def heatmap(results: pd.DataFrame, x: str, y: str, metric: str, title: str = "") -> Figure:
    """Mean of `metric` over seeds (and any other swept parameter) for each (x, y) pair, annotated."""
    ok = results[results["status"] == "ok"]
    table = ok.pivot_table(index=y, columns=x, values=metric, aggfunc="mean", sort=True)
    spread = ok.pivot_table(index=y, columns=x, values=metric, aggfunc=_half_width, sort=True, dropna=False)
    spread = spread.reindex(index=table.index, columns=table.columns)
    figure, (ax,) = _figure(1.3 * max(3, len(table.columns)) + 2.5, 0.8 * max(3, len(table.index)) + 1.5)
    values = table.to_numpy(dtype=float)
    image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(table.columns)), [_label(v, x) for v in table.columns], rotation=30, ha="right")
    ax.set_yticks(range(len(table.index)), [_label(v, y) for v in table.index])
    finite = values[~pd.isna(values)]
    middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            value = values[i, j]
            if not math.isnan(value):
                color = "white" if value < middle else "black"
                half = spread.iloc[i, j]
                text = f"{value:.3g}" + (f"\n±{half:.2g}" if not math.isnan(half) else "")
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=color)
    figure.colorbar(image, ax=ax, label=metric)
    seeds = ok["seed"].nunique()
    ax.set(
        xlabel=_axis(x),
        ylabel=_axis(y),
        title=title or f"{metric}: mean ± 95% half-width over {seeds} seed{'s' if seeds != 1 else ''}",
    )
    return figure


def _half_width(values: pd.Series) -> float:
    """The 95% half-width of a cell's mean over its seeds (NaN with fewer than two)."""
    from sim.montecarlo import interval

    return interval(values.tolist()).half_width


def metric_line(results: pd.DataFrame, x: str, metric: str) -> Figure:
    """Mean and one standard deviation of `metric` over seeds against one swept parameter."""
    ok = results[results["status"] == "ok"]
    stats = ok.groupby(x, sort=True)[metric].agg(["mean", _half_width]).reset_index()
    figure, (ax,) = _figure(7, 4)
    positions = range(len(stats))
    ax.errorbar(positions, stats["mean"], yerr=stats["_half_width"].fillna(0), marker="o", capsize=3)
    ax.set_xticks(list(positions), [_label(v, x) for v in stats[x]])
    ax.set(xlabel=_axis(x), ylabel=metric, title=f"{metric} (mean and 95% interval over seeds)")
    return figure


def _label(value: object, path: str = "") -> str:
    """A tick label in human units: durations of SPEC parameters in days, token amounts in CHOIR."""
    leaf = path.rsplit(".", 1)[-1]
    if isinstance(value, int | float) and not isinstance(value, bool):
        if leaf in _SECONDS:
            return f"{value / 86_400:.3g}"
        if leaf in _BASE_UNITS:
            return f"{value / CHOIR:.3g}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _axis(path: str) -> str:
    """An axis title with the unit its tick labels are in."""
    leaf = path.rsplit(".", 1)[-1]
    return f"{path} (days)" if leaf in _SECONDS else f"{path} (CHOIR)" if leaf in _BASE_UNITS else path


_SECONDS = frozenset({"approval_window", "divest_cooldown", "keeper_interval", "sample_interval"})
_BASE_UNITS = frozenset({"min_stake", "min_thread_balance", "total_supply"})


# ------------------------------------------------------------------------------------------------ directories


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """The plots of one run directory (written by `SimResult.write`)."""
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / "plots"
    threads, stakes = read_frame(run_dir / "threads"), read_frame(run_dir / "stakes")
    name = run_dir.name
    written = save(trajectories(threads, f"{name}: thread trajectories"), out / "trajectories")
    written += save(stakes_vs_recommended(stakes, f"{name}: actual vs recommended stake"), out / "stakes")
    written += save(stake_series(threads, f"{name}: recommended and actual stakes"), out / "stake_series")
    ceiling, floor = _formula_bounds(run_dir)
    written += save(
        recommendation_spread(stakes, ceiling, floor, f"{name}: recommended stakes"), out / "recommendations"
    )
    written += save(feedback_loop(threads, read_frame(run_dir / "events")), out / "feedback_loop")
    return written


def _formula_bounds(run_dir: Path) -> tuple[float | None, float | None]:
    """The run's formula's cap and zero-temperature floor in CHOIR, from the scenario it wrote (None if the
    formula has none)."""
    import json

    from sim.scenario import Scenario

    with open(run_dir / "scenario.json", encoding="utf-8") as handle:
        formula = Scenario.from_dict(json.load(handle)).build_formula()
    return getattr(formula, "ceiling", None), getattr(formula, "floor", None)


def plot_comparison(run_dirs: Sequence[str | Path], out: str | Path) -> list[Path]:
    """Outcome shares and attacker cost across several run directories (one scenario each)."""
    summaries = pd.concat([read_frame(Path(d) / "summary") for d in run_dirs], ignore_index=True)
    groups = {Path(d).name: read_frame(Path(d) / "groups") for d in run_dirs}
    written = save(outcome_shares(summaries), Path(out) / "outcome_shares")
    written += save(attacker_cost(summaries, groups), Path(out) / "attacker_cost")
    return written


def plot_sweep(
    sweep_dir: str | Path,
    out: str | Path | None = None,
    metrics: Sequence[str] = SWEEP_METRICS,
    x: str | None = None,
    y: str | None = None,
) -> list[Path]:
    """Heatmaps of each metric over two swept parameters (`x`, `y`; default the first two that vary), or lines
    when only one parameter varies. Any column of the results table can be a metric."""
    import json

    sweep_dir = Path(sweep_dir)
    out = Path(out) if out is not None else sweep_dir / "plots"
    results = read_frame(sweep_dir / "results")
    with open(sweep_dir / "sweep.json", encoding="utf-8") as handle:
        parameters = [p for p in json.load(handle)["parameters"] if results[p].nunique() > 1]
    chosen = [p for p in (x, y) if p is not None]
    for name in chosen:
        if name not in results.columns:
            raise ValueError(f"{name!r} is not a column of the results; swept parameters: {', '.join(parameters)}")
    axes = [*chosen, *(p for p in parameters if p not in chosen)][:2]
    written: list[Path] = []
    for metric in metrics:
        if metric not in results.columns:
            raise ValueError(f"{metric!r} is not a column of the results")
        if results[results["status"] == "ok"].empty or not axes:
            continue
        if len(axes) == 2:
            figure, stem = heatmap(results, axes[0], axes[1], metric), out / f"heatmap_{metric}"
        else:
            figure, stem = metric_line(results, axes[0], metric), out / f"line_{metric}"
        written += save(figure, stem)
    return written


def plot_dir(
    directory: str | Path, metrics: Sequence[str] | None = None, x: str | None = None, y: str | None = None
) -> list[Path]:
    """Plot whatever `directory` holds: a sweep (`results`; `metrics`, `x` and `y` choose its heatmaps), a run
    (`threads`), or several runs in subdirectories or in `runs/` (what `sim report` writes): each plotted, plus
    their comparison."""
    directory = Path(directory)
    if has_frame(directory / "results") and (directory / "sweep.json").exists():
        return plot_sweep(directory, metrics=metrics or SWEEP_METRICS, x=x, y=y)
    if has_frame(directory / "threads"):
        return plot_run(directory)
    holder = directory / "runs" if (directory / "runs").is_dir() else directory  # `sim report` keeps runs there
    runs = sorted(d for d in holder.iterdir() if d.is_dir() and has_frame(d / "threads"))
    if not runs:
        raise FileNotFoundError(f"{directory} holds no run (threads table), sweep (results table) or runs")
    written: list[Path] = []
    for run in runs:
        written += plot_run(run, directory / "plots" / run.name)
    written += plot_comparison(runs, directory / "plots")
    return written
