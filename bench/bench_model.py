"""Benchmark of the reference model (issue: at least 150,000 ops/s without checks and 50,000 ops/s with every
invariant checked every step, on one core; a 10,000-thread world no more than 1.5x slower per operation than a
10-thread one).

Workload: a random mix of operations drawn by the property suite's generator over a 10-thread world, with a small
share of invalid steps, keeping only the steps that succeeded, so the timed list is all valid operations. The same
list is replayed on the 10-thread world and on a 10,000-thread world whose first ten threads and wallets are
identical (the other 9,990 threads are the scale), so the two figures differ only by the size of the state. Each
world is replayed without checks and with the per-step invariant checker, and, for scale, a bare Python loop does
the same number of dict updates. Timings are the best of `--repeat` runs (time.perf_counter).

    .venv/bin/python bench/bench_model.py [--ops 200000] [--repeat 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import copy
import time

from choir_model import CHOIR, Checker, ChoirError, CreateThread, Fund, Model, Step
from properties.generate import OPS, USERS, RandomSource, StepGenerator

SIGNERS = ("treasury1", "treasury2")


DEPOSIT = 50 * CHOIR


def world(threads: int) -> Model:
    """`threads` threads created in turn by the 8 users; every user ends the setup with 100,000,000 CHOIR, so the
    first ten threads and every wallet are identical whatever `threads` is."""
    model = Model()
    for index, user in enumerate(USERS):
        created = len(range(index, threads, len(USERS)))
        model.apply(Fund(user, 1_700_000_000, 100_000_000 * CHOIR + created * DEPOSIT, SIGNERS))
    for i in range(threads):
        model.apply(CreateThread(USERS[i % len(USERS)], 1_700_000_000, f"t{i:05d}", DEPOSIT))
    return model


def valid_mix(base: Model, ops: int, seed: int) -> list[Step]:
    """`ops` steps that all succeed when replayed in order on a copy of `base`."""
    model = copy.deepcopy(base)
    source = RandomSource(seed)
    generator = StepGenerator(model, source, invalid_one_in=64)
    steps: list[Step] = []
    while len(steps) < ops:
        step = generator.step(OPS[source.index(len(OPS))])
        if isinstance(step, Fund) and step.amount > 1_000_000 * CHOIR:
            continue  # the generator's drain-the-treasury case: treasuries differ between the two worlds
        try:
            model.rules.apply(model.state, step)
        except ChoirError:
            continue
        steps.append(step)
    return steps


def time_plain(base: Model, steps: list[Step]) -> float:
    model = copy.deepcopy(base)
    apply, state = model.rules.apply, model.state
    started = time.perf_counter()
    for step in steps:
        apply(state, step)
    return time.perf_counter() - started


def time_checked(base: Model, steps: list[Step]) -> float:
    model = copy.deepcopy(base)
    apply, state = model.rules.apply, model.state
    checker = Checker(model.params, model.policy, model.economics)
    before, after = checker.before, checker.after
    started = time.perf_counter()
    for step in steps:
        snapshot = before(state, step)
        events = apply(state, step)
        if after(state, step, snapshot, None, events):
            raise AssertionError(f"invariant violated at {step}")
    return time.perf_counter() - started


def time_dict_loop(n: int) -> float:
    counts: dict[int, int] = {}
    started = time.perf_counter()
    for i in range(n):
        key = i & 1023
        counts[key] = counts.get(key, 0) + 1
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    per_op: dict[int, float] = {}
    print(f"{'threads':>8} {'mode':<22} {'ops/s':>12} {'vs dict loop':>14}")
    steps = valid_mix(world(10), args.ops, args.seed)
    for threads in (10, 10_000):
        base = world(threads)
        dict_loop = min(time_dict_loop(len(steps)) for _ in range(args.repeat))
        plain = min(time_plain(base, steps) for _ in range(args.repeat))
        checked = min(time_checked(base, steps) for _ in range(args.repeat))
        per_op[threads] = plain / len(steps)
        for mode, seconds in (("bare dict loop", dict_loop), ("model, no checks", plain),
                              ("model, every invariant", checked)):  # fmt: skip
            print(f"{threads:>8} {mode:<22} {len(steps) / seconds:>12,.0f} {seconds / dict_loop:>13.1f}x")
    print(f"10,000-thread world / 10-thread world, time per operation: {per_op[10_000] / per_op[10]:.2f}x")


if __name__ == "__main__":
    main()
