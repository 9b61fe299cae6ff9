"""Benchmark of the property suite (goals: the seeded soak at least 80% of the rate of replaying its own steps
through the model with every invariant checked; the Hypothesis stateful machine at least 2,000 steps per second).

Measured in one run, in steps per CPU second (the goals are per core, and the machine is shared): a soak of
`--soak` steps as a campaign runs it (generation, model, every invariant every step, coverage; odd runs on varied
parameters); the very worlds that soak steps through, each on its own parameters, replayed on the model with every
invariant checked (the soak's reference: what is left is the cost of generating steps and keeping coverage) and on
a plain model with no checks; and the Hypothesis phase of the default campaign (`--examples` examples of up to
`--steps` steps).

With `--breakdown`, also where a soak step goes, in CPU microseconds per step on default parameters: the same
runs built up one layer at a time from the checked replay (generating the steps, recording coverage, the soak
loop, which keeps no trace on the model), each layer's cost the difference from the one before.

    .venv/bin/python bench/bench_properties.py [--soak 100000] [--examples 300] [--steps 200] [--seed 0]
                                               [--breakdown]
"""

from __future__ import annotations

import argparse
import time

from choir_model import CHOIR, Checker, ChoirError, Fund, Model, Params, Step
from properties import variation
from properties.attacks import model_step
from properties.campaign import Campaign, CampaignResult, run_campaign
from properties.coverage import Coverage
from properties.generate import GENESIS, RandomSource, StepGenerator
from properties.records import maker
from properties.soak import soak, swarm


def soak_worlds(total: int, seed: int, run_length: int = 2000, attacks: bool = False, vary: bool = True
                ) -> list[tuple[Params, list[Step]]]:  # fmt: skip
    """The worlds a soak generates (the same generator and swarms as `properties.soak`), each with its parameters:
    with `vary`, those of a campaign's soak (`properties.variation`: odd runs on other parameters), else the
    defaults throughout (`properties.soak.soak` called on its own); with `attacks`, those of a soak against a
    target that runs attacks (which the model does not apply)."""
    worlds: list[tuple[Params, list[Step]]] = []
    done, run = 0, 0
    while done < total:
        source = RandomSource(seed * 1_000_003 + run)
        ops = swarm(source)
        params = variation.run_params(Params(), seed, run) if vary else Params()
        start = variation.run_start(Params(), seed, run) if vary else GENESIS
        model = Model(params)
        generator = StepGenerator(model, source, attacks=attacks, genesis=start)
        steps: list[Step] = []
        for _ in range(min(run_length, total - done)):
            step = generator.step(ops[source.index(len(ops))])
            applied = model_step(step)  # an attack never reaches the model, a neutral one's valid step does
            if applied is not None:
                model.try_apply(applied)
            steps.append(step)
        worlds.append((params, steps))
        done += len(steps)
        run += 1
    return worlds


def soak_steps(total: int, seed: int, run_length: int = 2000, attacks: bool = False) -> list[list[Step]]:
    """The steps of `soak_worlds` on the default parameters, per world."""
    return [steps for _, steps in soak_worlds(total, seed, run_length, attacks, vary=False)]


def plain_rate(worlds: list[tuple[Params, list[Step]]]) -> float:
    """Steps per CPU second of a plain model (no checks) applying the same steps."""
    total, elapsed = 0, 0.0
    for params, steps in worlds:
        model = Model(params)
        apply, state = model.rules.apply, model.state
        started = time.process_time()
        for step in steps:
            try:  # noqa: SIM105 - suppress() costs a context manager per step in the timed loop
                apply(state, step)
            except ChoirError:
                pass
        elapsed += time.process_time() - started
        total += len(steps)
    return total / elapsed


def checked_rate(worlds: list[tuple[Params, list[Step]]]) -> float:
    """Steps per CPU second of the model applying the same steps with every invariant checked on every step (the
    soak's own checker calls, refused steps included), without generating or recording anything."""
    total, elapsed = 0, 0.0
    for params, steps in worlds:
        model = Model(params)
        apply, state = model.rules.apply, model.state
        checker = Checker(model.params, model.policy, model.economics)
        before, after = checker.before, checker.after
        started = time.process_time()
        for step in steps:
            captured = before(state, step)
            try:
                events, error = apply(state, step), None
            except ChoirError as refused:
                events, error = [], refused
            if after(state, step, captured, error, events):
                raise AssertionError(f"invariant violated at {step}")
        elapsed += time.process_time() - started
        total += len(steps)
    return total / elapsed


def generated_rate(total: int, seed: int, checked: bool, recorded: bool, run_length: int = 2000) -> float:
    """Steps per CPU second of the soak's runs on default parameters (`properties.soak.soak` without variation)
    without the lockstep: each step generated and applied to a model, with or without every invariant checked,
    with or without its coverage recorded."""
    total_done, elapsed = 0, 0.0
    run = 0
    while total_done < total:
        source = RandomSource(seed * 1_000_003 + run)
        ops = swarm(source)
        model = Model(Params())
        apply, state = model.rules.apply, model.state
        checker = Checker(model.params, model.policy, model.economics)
        before, after = checker.before, checker.after
        build, index, n_ops, record = StepGenerator(model, source).step, source.index, len(ops), Coverage().record
        steps = min(run_length, total - total_done)
        started = time.process_time()
        for _ in range(steps):
            step = build(ops[index(n_ops)])
            captured = before(state, step) if checked else None
            try:
                events, error = apply(state, step), None
            except ChoirError as refused:
                events, error = [], refused.with_traceback(None)
            if recorded:
                record(step.op, error.name if error is not None else None, events)
            if captured is not None and after(state, step, captured, error, events):
                raise AssertionError(f"invariant violated at {step}")
        elapsed += time.process_time() - started
        total_done += steps
        run += 1
    return total / elapsed


def soak_rate(total: int, seed: int) -> float:
    """Steps per CPU second of `properties.soak.soak` on default parameters (no campaign around it)."""
    started = time.process_time()
    soak(total, seed)
    return total / (time.process_time() - started)


def breakdown(total: int, seed: int) -> None:
    """Print where a soak step goes: each layer's microseconds per step (best of three) and its cost over the
    layer it adds to."""
    worlds = soak_worlds(total, seed, vary=False)
    layers = (  # (name, rate, the layer it adds to)
        ("plain model (the soak's steps)", lambda: plain_rate(worlds), None),
        ("checked replay (the reference)", lambda: checked_rate(worlds), 0),
        ("generating + plain model", lambda: generated_rate(total, seed, checked=False, recorded=False), 0),
        ("generating + checked model", lambda: generated_rate(total, seed, checked=True, recorded=False), 1),
        ("  + coverage recorded", lambda: generated_rate(total, seed, checked=True, recorded=True), 3),
        ("soak (the soak loop, no trace)", lambda: soak_rate(total, seed), 4),
    )
    micros = [1e6 / max(rate() for _ in range(3)) for _, rate, _ in layers]
    print(f"\nwhere a soak step goes ({total:,} steps, default parameters, CPU us per step, best of 3)")
    for (name, _, base), us in zip(layers, micros, strict=True):
        print(f"{name:<38} {us:7.2f}" + (f" {us - micros[base]:+6.2f}" if base is not None else ""))
    print(f"soak vs checked replay: {micros[1] / micros[-1]:.0%}")
    calls, floor = stream_floor(total, seed)
    print(
        f"the stream's floor: {calls:.1f} index calls and a record a step, {floor:.2f} us; 80% leaves "
        f"{micros[1] / 4:.2f} us a step (a quarter of the checked replay) for generating it and recording coverage"
    )


class RecordingSource(RandomSource):
    """A `RandomSource` that keeps the bound of every `index` call made of it."""

    __slots__ = ("bounds",)

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.bounds: list[int] = []

    def index(self, n: int) -> int:
        self.bounds.append(n)
        return super().index(n)


def stream_floor(total: int, seed: int, run_length: int = 2000) -> tuple[float, float]:
    """What any generator of this stream pays a step whatever its code: the `index` calls a soak step makes (its
    operation's included), and the CPU microseconds a step of making just those calls, with the same bounds from
    the same sources, and building one record the generator's way (`properties.records.maker`; a `Fund`) costs
    (best of three)."""
    runs: list[tuple[int, list[int], int]] = []  # (source seed, bounds, steps)
    done, run = 0, 0
    while done < total:
        source = RecordingSource(seed * 1_000_003 + run)
        ops = swarm(source)
        model = Model(Params())
        generator = StepGenerator(model, source)
        steps = min(run_length, total - done)
        for _ in range(steps):
            model.try_apply(generator.step(ops[source.index(len(ops))]))
        runs.append((seed * 1_000_003 + run, source.bounds, steps))
        done, run = done + steps, run + 1
    make, signers = maker(Fund), ("treasury1", "treasury2")
    best = float("inf")
    for _ in range(3):
        elapsed = 0.0
        for source_seed, bounds, steps in runs:
            index = RandomSource(source_seed).index
            started = time.process_time()
            for n in bounds:
                index(n)
            for _ in range(steps):
                make("alice", GENESIS, CHOIR, signers)
            elapsed += time.process_time() - started
        best = min(best, elapsed)
    return sum(len(bounds) for _, bounds, _ in runs) / done, best / done * 1e6


def campaign_rate(campaign: Campaign) -> tuple[CampaignResult, float]:
    """The campaign's result and its steps per CPU second."""
    started = time.process_time()
    result = run_campaign(campaign)
    return result, result.coverage.steps / (time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", type=int, default=100_000)
    parser.add_argument("--examples", type=int, default=300)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--breakdown", action="store_true", help="also print where a soak step goes")
    args = parser.parse_args()

    worlds = soak_worlds(args.soak, args.seed)
    plain = max(plain_rate(worlds) for _ in range(3))
    checked = max(checked_rate(worlds) for _ in range(3))
    soak_result, soak_rate = max(
        (campaign_rate(Campaign(examples=0, soak=args.soak, seed=args.seed, database=False)) for _ in range(3)),
        key=lambda measured: measured[1],
    )
    hypothesis, hypothesis_rate = campaign_rate(
        Campaign(examples=args.examples, steps=args.steps, soak=0, seed=args.seed, database=False, params=Params())
    )
    assert soak_result.ok and hypothesis.ok
    print(f"{'mode':<38} {'steps':>9} {'steps/s':>10} {'vs checked':>11} {'vs plain':>9}")
    for name, steps, rate in (
        ("plain model (same soak steps)", args.soak, plain),
        ("model, every invariant (same steps)", args.soak, checked),
        ("soak, every invariant every step", soak_result.coverage.steps, soak_rate),
        ("Hypothesis stateful", hypothesis.coverage.steps, hypothesis_rate),
    ):
        print(f"{name:<38} {steps:>9,} {rate:>10,.0f} {rate / checked:>10.0%} {rate / plain:>8.1%}")
    if args.breakdown:
        breakdown(args.soak, args.seed)


if __name__ == "__main__":
    main()
