"""How many Monte Carlo seeds the simulator's default needs (`sim.montecarlo.DEFAULT_SEEDS`), measured.

Runs each scenario over `--max-seeds` seeds and, for every N from 2 up, the 95% half-width each headline metric's
interval would have with N seeds (t(0.975, N-1) * sd / sqrt(N), sd from all the runs). A metric is stable at N
when its half-width is at most `--tolerance` (10%) of its mean's magnitude (metrics whose mean is 0, such as the
attacker P&L of a scenario without attackers, are stable at once). The table shows, per scenario and metric, the N
needed; the default is the smallest N at which the rates, the counts and the attacker P&L (`DECISIVE`: what the
report's verdicts rest on) are stable in every measured scenario. The money flows are heavier-tailed and need
more; their intervals are printed beside them, so a reader sees how far to trust them.
The wall time of one run per scenario is printed too, for the cost of the default.

    .venv/bin/python bench/bench_montecarlo.py [--scenario baseline --scenario spam] [--max-seeds 24]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

from scipy.stats import t

from sim import load_scenario
from sim.executors import make_executor
from sim.montecarlo import HEADLINE, run_montecarlo

DECISIVE = ("attacker_pnl_choir", "approval_rate", "share_timeouts", "specs_submitted", "median_recommended_choir")


def needed(values: list[float], tolerance: float, max_seeds: int) -> int | None:
    """Smallest N >= 2 whose t half-width is within `tolerance` of |mean| (None if beyond `max_seeds`)."""
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    if mean == 0 or sd == 0:
        return 2
    for n in range(2, max_seeds + 1):
        if float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n) <= tolerance * abs(mean):
            return n
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append")
    parser.add_argument("--max-seeds", type=int, default=24)
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    scenarios = args.scenario or ["baseline", "spam"]
    started = time.perf_counter()
    with make_executor(args.workers) as executor:
        mc = run_montecarlo({s: load_scenario(s) for s in scenarios}, args.max_seeds, executor)
    wall = time.perf_counter() - started
    print(f"| metric | {' | '.join(scenarios)} |  (N needed for a 95% half-width <= {args.tolerance:.0%} of the mean)")
    print("|---|" + "---:|" * len(scenarios))
    worst = 2
    for metric, label, _ in HEADLINE:
        cells = []
        for scenario in scenarios:
            values = mc.runs.loc[(mc.runs["case"] == scenario) & (mc.runs["status"] == "ok"), metric].dropna()
            n = needed(values.tolist(), args.tolerance, args.max_seeds) if len(values) > 2 else None
            sd = statistics.stdev(values) if len(values) > 1 else math.nan
            cells.append(f"{n if n is not None else f'> {args.max_seeds}'} (sd {sd:.3g})")
            if metric in DECISIVE:
                worst = max(worst, n if n is not None else args.max_seeds + 1)
        print(f"| {label} | {' | '.join(cells)} |")
    runs = len(mc.runs)
    print(f"\nsmallest N for the rates, counts and attacker P&L: {worst}")
    print(f"{runs} runs in {wall:.0f} s wall ({args.workers} workers)")


if __name__ == "__main__":
    main()
