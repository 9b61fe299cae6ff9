"""Detection strength per seed: for each access bug (`tests/programs/access_bugs.py`, one-edit mutants of the
program's C source), at how many seeds the default CI campaign's soak (`profile_settings("program", "ci")["soak"]`
steps, the parameters varied run by run as `choir check` varies them) catches it, and at which step.

`tests/programs/test_attacks.py` proves each bug caught at seed 0, and the bugs of rare conditions at a few more
seeds; this measures the rest of the seed space a user's `choir check --seed` may draw, so a bug caught only by seed
luck shows as a count below the number of seeds. Each (bug, seed) is one soak, run in a pool of `--workers`
processes; every mutant is built once first (a BPF-capable clang is needed).

    .venv/bin/python bench/bench_detection.py [--seeds 12] [--first 0] [--workers 2] [--bug NAME ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

from choir_model import Params
from programs.driver import DriverError, ProgramDriver
from programs.toolchain.build import find_clang
from properties.campaign import profile_settings
from properties.soak import soak
from tests.programs.access_bugs import ACCESS_BUGS, build_mutant

IMAGES: dict[str, bytes] = {}
"""Each worker's mutant images, by bug (set once per worker process by `_share`)."""


def _share(images: dict[str, bytes]) -> None:
    IMAGES.update(images)


def detect(job: tuple[str, int, int]) -> tuple[str, int, str | None, int]:
    """(bug, seed, the property that caught it or None, the step it was caught at): `error` when the program
    refuses the run's own genesis (the campaign stops there, exit 3)."""
    bug, seed, steps = job
    image = IMAGES[bug]
    try:
        result = soak(steps, seed, Params(), "seeds", lambda: ProgramDriver(image=image),
                      factory_for=lambda params: lambda: ProgramDriver(params, image=image))  # fmt: skip
    except DriverError:
        return bug, seed, "error", 0
    return bug, seed, None if result.failure is None else result.failure.kind, result.steps


def table(results: list[tuple[str, int, str | None, int]], seeds: range) -> str:
    """A Markdown table: per bug, the seeds that caught it, the median and last step caught at, the properties that
    caught it, and the seeds that missed it."""
    rows = ["| bug | caught | median step | last step | caught by | missed at seeds |", "|---|---:|---:|---:|---|---|"]
    for bug in sorted({r[0] for r in results}):
        mine = sorted((r for r in results if r[0] == bug), key=lambda r: r[1])
        caught = [r for r in mine if r[2] is not None]
        steps = [r[3] for r in caught]
        kinds = ", ".join(f"{k} {n}" for k, n in Counter(r[2] for r in caught).most_common())
        missed = " ".join(str(r[1]) for r in mine if r[2] is None) or "-"
        median = f"{statistics.median(steps):,.0f}" if steps else "-"
        last = f"{max(steps):,}" if steps else "-"
        rows.append(f"| {bug} | {len(caught)}/{len(seeds)} | {median} | {last} | {kinds} | {missed} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=12, help="how many seeds (default 12)")
    parser.add_argument("--first", type=int, default=0, help="the first seed (default 0)")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--bug", action="append", choices=sorted(ACCESS_BUGS), help="only this bug (repeatable)")
    args = parser.parse_args()
    clang = find_clang()
    if clang is None:
        parser.error("no BPF-capable clang on PATH (`choir program build --install-clang` installs one)")
    bugs = args.bug or sorted(ACCESS_BUGS)
    seeds = range(args.first, args.first + args.seeds)
    steps = profile_settings("program", "ci")["soak"]
    with tempfile.TemporaryDirectory() as directory:
        images = {bug: build_mutant(bug, Path(directory) / bug, clang) for bug in bugs}
    started = time.perf_counter()
    jobs = [(bug, seed, steps) for bug in bugs for seed in seeds]
    with Pool(args.workers, _share, (images,)) as pool:
        results = pool.map(detect, jobs, chunksize=1)
    elapsed = time.perf_counter() - started
    print(f"{len(bugs)} bugs x seeds {seeds.start}..{seeds.stop - 1}, {steps:,} soak steps each, {args.workers} "
          f"workers: {elapsed:.0f} s, load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(table(results, seeds))


if __name__ == "__main__":
    main()
