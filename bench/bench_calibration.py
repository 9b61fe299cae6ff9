"""Calibration of the quantum stake formula's temperature scale `k` (SPEC section 5) on the shipped scenarios.

For each `k` the scenarios run over `--seeds` seeds (the scenario's seed and the next ones) with authors staking
the recommendation, so the feedback loop (denied stakes raise a thread's balance, hence T, hence the next
recommendation) is part of what is measured. For each, the table gives the mean share of the simulated period's
recommendations at the cap, within 1% of S0/2 (the zero-temperature floor) and the median recommendation. The
default `choir_model.economics.CALIBRATED_K` is the value that keeps both shares under 10% in the baseline with
the widest margin; the "## Stake formula calibration" section of docs/BENCHMARKS.md holds the last table.

    .venv/bin/python bench/bench_calibration.py [--k 0.01,0.02,0.023,0.03,0.1,1] [--seeds 6] [--scenario baseline]
"""

from __future__ import annotations

import argparse
import statistics
import time

from sim import load_scenario, run_scenario


def measure(scenario: str, k: float, seeds: int) -> dict[str, float]:
    """Mean capped share, near-floor share and median recommendation (CHOIR) over `seeds` runs at this `k`."""
    base = load_scenario(scenario).seed
    summaries = [
        run_scenario(scenario, seed=base + i, overrides={"formula": {"name": "quantum", "k": k}}).summary
        for i in range(seeds)
    ]
    return {
        name: statistics.fmean(s[name] for s in summaries)
        for name in ("share_capped", "share_near_floor", "median_recommended_choir")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", default="0.01,0.015,0.02,0.022,0.023,0.024,0.027,0.03,0.04,0.1,1")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--scenario", action="append", help="scenario(s) to measure (default: baseline)")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"| scenario | k | capped | within 1% of S0/2 | median recommendation (CHOIR) |  ({args.seeds} seeds)")
    print("|---|---:|---:|---:|---:|")
    for scenario in args.scenario or ["baseline"]:
        for k in (float(x) for x in args.k.split(",")):
            m = measure(scenario, k, args.seeds)
            print(
                f"| {scenario} | {k:g} | {m['share_capped']:.1%} | {m['share_near_floor']:.1%} "
                f"| {m['median_recommended_choir']:,.1f} |",
                flush=True,
            )
    print(f"\n{time.perf_counter() - started:.0f} s wall")


if __name__ == "__main__":
    main()
