"""Campaign throughput on 1 and on N worker processes (goal: 2 workers at least 1.8x the steps/s of 1 on this
2-core machine), the same campaign each time, so the ratio is the speed-up. Steps per second leave out the
LocalCluster's start (printed on its own). Both runs must agree: same verdict, same coverage.

Same-run reference: the speed-up the machine itself gives N processes running a pure-Python loop (a pool of N
against one), the ceiling any Python work can reach here, measured after each pair of runs. `--repeat R` runs R
pairs, alternating, so a busy minute on this shared machine shows as one pair's outlier; the load average is
printed with each pair.

    .venv/bin/python bench/bench_campaign.py [--soak 1000000] [--workers 2] [--target model] [--repeat 1]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

from properties.campaign import Campaign, CampaignResult, run_campaign


def burn(_: int = 0) -> float:
    """Seconds for a fixed pure-Python loop."""
    started, total = time.perf_counter(), 0
    for i in range(20_000_000):
        total += i
    return time.perf_counter() - started


def machine_speedup(processes: int) -> float:
    """Work per second of `processes` processes running `burn` at once, against one process alone."""
    alone = burn()
    with multiprocessing.Pool(processes) as pool:
        together = max(pool.map(burn, range(processes)))
    return processes * alone / together


def run(target: str, soak: int, workers: int, failures: Path) -> CampaignResult:
    campaign = Campaign(target, soak=soak, examples=0, workers=workers, database=False, failure_dir=failures)
    result = run_campaign(campaign)
    assert result.ok, result.failure or result.error
    print(f"{workers} worker(s): {result.coverage.steps:,} steps in {result.elapsed:.1f} s (cluster start "
          f"{result.startup:.1f} s, {result.warm_up:.1f} s of it warming up): "
          f"{result.steps_per_second:,.0f} steps/s")  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--target", default="model")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    speedups, ceilings = [], []
    with tempfile.TemporaryDirectory() as failures:
        for _ in range(args.repeat):
            print(f"load average {os.getloadavg()[0]:.2f}")
            one = run(args.target, args.soak, 1, Path(failures))
            many = run(args.target, args.soak, args.workers, Path(failures))
            assert one.coverage == many.coverage, "the coverage depends on the number of workers"
            speedups.append(many.steps_per_second / one.steps_per_second)
            ceilings.append(machine_speedup(args.workers))
            print(f"speed-up {args.workers} workers / 1: {speedups[-1]:.2f}x; same run, {args.workers} processes "
                  f"of a pure-Python loop / 1: {ceilings[-1]:.2f}x")  # fmt: skip
    if args.repeat > 1:
        print(f"speed-ups: {', '.join(f'{s:.2f}x' for s in speedups)} (median {statistics.median(speedups):.2f}x); "
              f"the machine's: {', '.join(f'{c:.2f}x' for c in ceilings)}")  # fmt: skip


if __name__ == "__main__":
    main()
