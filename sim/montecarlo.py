"""Monte Carlo: each scenario run over several seeds, every headline metric as a mean with its 95% confidence
interval, and scenarios or policies compared on the same seeds.

A run's randomness is all in its seed (`sim.rng`), so seeds `s, s+1, ..., s+N-1` are N independent draws of the
scenario and their summaries are an i.i.d. sample of each metric. The interval is Student's t: mean +/- t(0.975,
N-1) * sd / sqrt(N) (none for N = 1). Comparisons run every case on the same seeds, so a difference between two
cases is paired: its interval is that of the per-seed differences, narrower than the two intervals side by side
suggest.

`DEFAULT_SEEDS` is what `sim run`, `sim report`, `sim compare` and sweeps use when `--seeds` is not given; it was
chosen by measurement (`bench/bench_montecarlo.py`, figures in docs/BENCHMARKS.md): the smallest N at which the
95% half-width of every rate, count and of the attacker P&L is within 10% of its mean in both the baseline and
the spam scenario (10 seeds; the money flows need 12 to 19 more for the same, and their intervals say so).

The runs go to an executor (`sim.executors`): in this process by default, a dask cluster with `workers`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sim import DEFAULT_SEEDS
from sim.executors import Executor, InProcess, JobError
from sim.scenario import Scenario
from sim.sweep import RunSpec, execute_run

__all__ = ["DEFAULT_SEEDS", "HEADLINE", "Interval", "MonteCarlo", "interval", "run_montecarlo"]

HEADLINE = (
    ("attacker_pnl_choir", "attacker P&L (CHOIR)", "{:,.1f}"),
    ("honest_pnl_choir", "honest P&L (CHOIR)", "{:,.1f}"),
    ("thread_inflow_choir", "thread inflow (CHOIR)", "{:,.1f}"),
    ("treasury_inflow_choir", "treasury inflow (CHOIR)", "{:,.1f}"),
    ("voter_payouts_choir", "voter payouts (CHOIR)", "{:,.1f}"),
    ("approval_rate", "approval rate", "{:.3f}"),
    ("share_timeouts", "share of timeouts", "{:.3f}"),
    ("specs_submitted", "specs submitted", "{:,.1f}"),
    ("median_recommended_choir", "median recommended stake (CHOIR)", "{:,.1f}"),
    ("share_capped", "recommendations capped", "{:.3f}"),
)
"""The metrics every Monte Carlo table shows first: (summary column, label, format)."""


SETUP_METRICS = frozenset(
    {"seed", "days", "decimals", "agents", "identities", "funded_choir", "attacker_identities"}
    | {"attacker_funded_choir", "attacker_cost_choir"}  # attacker_cost is the opposite of attacker_pnl, ranked instead
)
"""Summary columns that restate the scenario's set-up (or another column), left out of 'changed most', as is each
amount's exact twin `*_units` (`sim.metrics.amount`): its `*_choir` column is ranked instead."""


@dataclass(frozen=True)
class Interval:
    """A mean over seeds and its 95% confidence interval (`low`, `high`; NaN with one seed)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Student's t interval of the mean of `values` (NaNs dropped: a metric undefined in some runs)."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = math.fsum(xs) / n
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    from scipy.stats import t

    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def format_interval(value: Interval, pattern: str) -> str:
    """`mean ± half-width` (the 95% interval is mean - half to mean + half), or the mean alone with one seed."""
    if math.isnan(value.mean):
        return "n/a"
    if math.isnan(value.low):
        return pattern.format(value.mean)
    return f"{pattern.format(value.mean)} ± {pattern.format(value.half_width).lstrip('-')}"


@dataclass
class MonteCarlo:
    """The summaries of every case on every seed (`runs`: one row per case and seed) and the failures."""

    runs: pd.DataFrame
    failures: list[dict[str, Any]] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)

    @property
    def cases(self) -> list[str]:
        return list(dict.fromkeys(self.runs["case"].tolist()))

    def interval(self, case: str, metric: str) -> Interval:
        ok = self.runs[(self.runs["case"] == case) & (self.runs["status"] == "ok")]
        return interval(ok[metric].tolist()) if metric in ok else interval([])

    def difference(self, case: str, reference: str, metric: str) -> Interval:
        """The paired difference case - reference over the seeds both ran."""
        ok = self.runs[self.runs["status"] == "ok"]
        a = ok[ok["case"] == case].set_index("seed")[metric]
        b = ok[ok["case"] == reference].set_index("seed")[metric]
        common = a.index.intersection(b.index)
        return interval((a.loc[common] - b.loc[common]).tolist())

    def intervals(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per case and metric: mean, 95% interval, half-width and number of seeds."""
        metrics = metrics or [m for m, _, _ in HEADLINE]
        rows = []
        for case in self.cases:
            for metric in metrics:
                value = self.interval(case, metric)
                rows.append((case, metric, value.mean, value.low, value.high, value.half_width, value.n))
        return pd.DataFrame(rows, columns=["case", "metric", "mean", "low", "high", "half_width", "seeds"])

    def changed_most(self, case: str, reference: str, count: int = 8) -> list[tuple[str, Interval]]:
        """The numeric metrics whose paired difference from `reference` is largest relative to its spread
        (|mean| / standard error; a difference on every seed with no spread ranks first), most changed first."""
        ok = self.runs[self.runs["status"] == "ok"]
        skip = SETUP_METRICS
        scores = []
        for metric in ok.columns:
            if metric in skip or metric.endswith("_units") or not pd.api.types.is_numeric_dtype(ok[metric]):
                continue
            diff = self.difference(case, reference, metric)
            if diff.n == 0 or math.isnan(diff.mean) or diff.mean == 0:
                continue
            spread = diff.half_width if diff.n > 1 and not math.isnan(diff.half_width) else 0.0
            scores.append((abs(diff.mean) / spread if spread > 0 else math.inf, metric, diff))
        scores.sort(key=lambda item: (-item[0], item[1]))
        return [(metric, diff) for _, metric, diff in scores[:count]]


def seed_list(first: int, seeds: int) -> list[int]:
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    return [first + i for i in range(seeds)]


def run_montecarlo(
    cases: Mapping[str, Scenario],
    seeds: int,
    executor: Executor | None = None,
    first_seed: int | None = None,
    known: Mapping[tuple[str, int], dict[str, Any]] | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> MonteCarlo:
    """Run every case on the same `seeds` seeds (from `first_seed`, default the first case's seed); `known`
    summaries (case, seed) are reused instead of rerun. Failures are collected, never raised."""
    if not cases:
        raise ValueError("nothing to run")
    first = first_seed if first_seed is not None else next(iter(cases.values())).seed
    chosen = seed_list(first, seeds)
    known = dict(known or {})
    specs: list[tuple[str, RunSpec]] = []
    for case, scenario in cases.items():
        for seed in chosen:
            if (case, seed) not in known:
                raw = scenario.with_overrides({"seed": seed}).raw
                specs.append((case, RunSpec(len(specs), 0, {}, seed, raw, f"{case}-{seed}")))
    results: dict[tuple[str, int], dict[str, Any]] = {
        key: {"status": "ok", "summary": summary} for key, summary in known.items()
    }

    def done(position: int, result: Any) -> None:
        case, spec = specs[position]
        if isinstance(result, JobError):
            result = {"status": "failed", "error": result.error, "traceback": result.traceback}
        results[(case, spec.seed)] = {**result, "case": case}
        if on_result is not None:
            on_result(result)

    (executor or InProcess()).run(execute_run, [(spec,) for _, spec in specs], done, [k for k, _ in specs])
    rows, failures = [], []
    for case in cases:
        for seed in chosen:
            result = results[(case, seed)]
            summary = result.get("summary") or {}
            rows.append({"case": case, **summary, "seed": seed, "status": result["status"]})
            if result["status"] != "ok":
                failures.append({"case": case, "seed": seed, "error": result.get("error")})
    return MonteCarlo(pd.DataFrame(rows), failures, chosen)
