"""Sobol sensitivity on this machine: wall time, evaluations per second and the largest 95% half-width, with a
same-run reference (one evaluation of the file's world in this process, at the centre of the box).

    .venv/bin/python bench/bench_sensitivity.py sim/sensitivity/formula_and_rules.toml --samples 1024 --workers 2

Half-widths of Sobol estimates shrink as 1/sqrt(N), so it also prints, per output, the constant c = half-width x
sqrt(N) and the N (a power of 2) at which every half-width of that output would be under `--goal`, with the wall
time that N would take at the measured rate. Load averages before and after are printed: the machine is shared.
The indices and the tornado plot go to `--out` (indices.csv, sensitivity.png).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default="sim/sensitivity/formula_and_rules.toml")
    parser.add_argument("--samples", type=int, default=None, help="base sample size N (default: the file's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--goal", type=float, default=0.05, help="half-width goal")
    parser.add_argument("--out", type=Path, default=Path("out/sensitivity/bench"), help="indices.csv, sensitivity.png")
    args = parser.parse_args()

    from sim.executors import make_executor
    from sim.plots import save, sensitivity_plot
    from sim.sensitivity import evaluate_points, load_sensitivity, run_sensitivity

    spec = load_sensitivity(args.file)
    if args.samples:
        spec = dataclasses.replace(spec, samples=args.samples)
        spec.check()
    load_before = os.getloadavg()
    centre = np.full((3, len(spec.parameters)), 0.5)
    evaluate_points(spec, centre[:1])  # imports and caches warm
    started = time.perf_counter()
    evaluate_points(spec, centre)
    one = (time.perf_counter() - started) / len(centre)
    with make_executor(args.workers) as executor:
        if args.workers:
            executor.client  # start the cluster outside the timed part  # noqa: B018
        result = run_sensitivity(spec, executor)
    runs = len(result.runs) * spec.seeds
    rate = runs / result.wall_seconds
    worst = result.indices.groupby("output")[["S1_conf", "ST_conf"]].max().max(axis=1)
    print(f"{args.file}: Sobol N={spec.samples}, D={len(spec.parameters)}, {runs:,} runs, {result.failures} failed")
    print(f"wall {result.wall_seconds:.1f} s, {rate:.1f} evaluations/s on {args.workers} workers")
    print(f"reference: one evaluation in this process {one * 1000:.1f} ms ({1 / one:.1f}/s); ratio {rate * one:.2f}")
    print(f"largest 95% half-width: {worst.max():.3f} (goal {args.goal})")
    for output, hw in worst.items():
        c = hw * math.sqrt(spec.samples)
        needed = 2 ** math.ceil(math.log2((c / args.goal) ** 2))
        print(
            f"  {output}: {hw:.3f}, c = {c:.2f}: N >= {needed:,} for {args.goal} "
            f"({needed * (len(spec.parameters) + 2) / rate / 60:.0f} min at this rate)"
        )
    print(f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    print(result.indices.round(3).to_string(index=False))
    args.out.mkdir(parents=True, exist_ok=True)
    result.indices.to_csv(args.out / "indices.csv", index=False, lineterminator="\n")
    save(sensitivity_plot(result.indices, f"{spec.name}: Sobol, N = {spec.samples}"), args.out / "sensitivity")
    print(f"indices.csv and sensitivity.png in {args.out}/")


if __name__ == "__main__":
    main()
