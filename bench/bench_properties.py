"""Benchmark of the property suite (goals: the seeded soak at least 80% of the rate of replaying its own steps
through the model with every invariant checked; the Hypothesis stateful machine at least 2,000 steps per second).

Measured in one run: a soak of `--soak` steps (generation, model, every invariant every step, coverage); the steps
that soak produced replayed on the model with every invariant checked (the soak's reference: what is left is the
cost of generating steps and keeping coverage) and on a plain model with no checks; and the Hypothesis phase of
the default campaign (`--examples` examples of up to `--steps` steps).

    .venv/bin/python bench/bench_properties.py [--soak 100000] [--examples 300] [--steps 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from choir_model import Checker, ChoirError, Model, Params, Step
from properties.attacks import model_step
from properties.campaign import Campaign, run_campaign
from properties.generate import RandomSource, StepGenerator
from properties.soak import swarm


def soak_steps(total: int, seed: int, run_length: int = 2000, attacks: bool = False) -> list[list[Step]]:
    """The steps a soak run generates (the same generator and swarms as `properties.soak`), per world; with
    `attacks`, those of a soak against a target that runs attacks (which the model does not apply)."""
    worlds: list[list[Step]] = []
    done, run = 0, 0
    while done < total:
        source = RandomSource(seed * 1_000_003 + run)
        ops = swarm(source)
        model = Model()
        generator = StepGenerator(model, source, attacks=attacks)
        steps: list[Step] = []
        for _ in range(min(run_length, total - done)):
            step = generator.step(ops[source.index(len(ops))])
            applied = model_step(step)  # an attack never reaches the model, a neutral one's valid step does
            if applied is not None:
                model.try_apply(applied)
            steps.append(step)
        worlds.append(steps)
        done += len(steps)
        run += 1
    return worlds


def plain_rate(worlds: list[list[Step]]) -> float:
    """Steps per second of a plain model (no checks) applying the same steps."""
    total, elapsed = 0, 0.0
    for steps in worlds:
        model = Model()
        apply, state = model.rules.apply, model.state
        started = time.perf_counter()
        for step in steps:
            try:  # noqa: SIM105 - suppress() costs a context manager per step in the timed loop
                apply(state, step)
            except ChoirError:
                pass
        elapsed += time.perf_counter() - started
        total += len(steps)
    return total / elapsed


def checked_rate(worlds: list[list[Step]]) -> float:
    """Steps per second of the model applying the same steps with every invariant checked on every step (the
    soak's own checker calls, refused steps included), without generating or recording anything."""
    total, elapsed = 0, 0.0
    for steps in worlds:
        model = Model()
        apply, state = model.rules.apply, model.state
        checker = Checker(model.params, model.policy, model.economics)
        before, after = checker.before, checker.after
        started = time.perf_counter()
        for step in steps:
            captured = before(state, step)
            try:
                events, error = apply(state, step), None
            except ChoirError as refused:
                events, error = [], refused
            if after(state, step, captured, error, events):
                raise AssertionError(f"invariant violated at {step}")
        elapsed += time.perf_counter() - started
        total += len(steps)
    return total / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", type=int, default=100_000)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    worlds = soak_steps(args.soak, args.seed)
    plain = max(plain_rate(worlds) for _ in range(3))
    checked = max(checked_rate(worlds) for _ in range(3))
    soak_result = max(
        (run_campaign(Campaign(examples=0, soak=args.soak, seed=args.seed, database=False)) for _ in range(3)),
        key=lambda result: result.steps_per_second,
    )
    hypothesis = run_campaign(
        Campaign(examples=args.examples, steps=args.steps, soak=0, seed=args.seed, database=False, params=Params())
    )
    assert soak_result.ok and hypothesis.ok
    print(f"{'mode':<38} {'steps':>9} {'steps/s':>10} {'vs checked':>11} {'vs plain':>9}")
    for name, steps, rate in (
        ("plain model (same soak steps)", args.soak, plain),
        ("model, every invariant (same steps)", args.soak, checked),
        ("soak, every invariant every step", soak_result.coverage.steps, soak_result.steps_per_second),
        ("Hypothesis stateful", hypothesis.coverage.steps, hypothesis.steps_per_second),
    ):
        print(f"{name:<38} {steps:>9,} {rate:>10,.0f} {rate / checked:>10.0%} {rate / plain:>8.1%}")


if __name__ == "__main__":
    main()
