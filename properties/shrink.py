"""Shrinking a failing step list without Hypothesis (for soak runs and any driver): delta debugging.

`shrink(steps, replay)` first drops the steps the model refused (when told which), then repeatedly deletes chunks
of steps, halving the chunk size, and keeps a deletion whenever
`replay` still fails with the same kind of failure. Deleting a step can turn later steps into rejected ones; that
is fine, as long as the same failure remains. Bounded by `max_replays` so a slow driver cannot run away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from choir_model import Model, Params, Step
from choir_model.ops import Rules
from choir_model.resolve import resolve_formula
from properties.attacks import model_step
from properties.driver import Driver
from properties.lockstep import PropertyFailure, run_steps

Replay = Callable[[Sequence[Step]], PropertyFailure | None]


def refused_by(model: Model) -> Callable[[Sequence[Step]], list[bool]]:
    """For `shrink`'s first cut: which steps `model` (fresh, with the campaign's rules) refuses. An attack never
    reaches the model, so it counts as refused (a neutral one is its valid step to the model)."""

    def refused(steps: Sequence[Step]) -> list[bool]:
        applied = [model_step(step) for step in steps]
        return [step is None or model.try_apply(step) is not None for step in applied]

    return refused


def shrink(
    steps: Sequence[Step],
    replay: Replay,
    max_replays: int = 2000,
    refused: Callable[[Sequence[Step]], list[bool]] | None = None,
) -> tuple[list[Step], PropertyFailure]:
    """The smallest failing list found and its failure. `replay(steps)` runs steps on fresh state and returns the
    failure (or None). With `refused` (see `refused_by`), the first candidate drops every step the model refused
    before the failing one: a refused step changes nothing, so the model passes through the same states without
    it, and a long soak prefix loses most of its length in one replay instead of hundreds."""
    current = list(steps)
    failure = replay(current)
    if failure is None:
        raise ValueError("the steps given to shrink do not fail")
    current = failure.steps  # everything after the failing step is irrelevant
    kind = failure.kind
    replays = 1
    if refused is not None:
        flags = refused(current[:-1])
        candidate = [step for step, no in zip(current[:-1], flags, strict=True) if not no] + current[-1:]
        result = replay(candidate) if len(candidate) < len(current) else None
        replays += 1
        if result is not None and result.kind == kind:
            current, failure = result.steps, result
    chunk = max(1, len(current) // 2)
    while chunk >= 1 and replays < max_replays:
        start, progressed = 0, False
        while start < len(current) and replays < max_replays:
            candidate = current[:start] + current[start + chunk :]
            replays += 1
            result = replay(candidate) if candidate else None
            if result is not None and result.kind == kind:
                current, failure, progressed = result.steps, result, True
            else:
                start += chunk
        if not progressed:
            chunk //= 2
    return current, failure


def shrink_run(
    steps: Sequence[Step],
    params: Params,
    policy: str,
    factory: Callable[[], Driver] | None,
    rules: type[Rules] = Rules,
    formula: str = "quantum",
) -> tuple[list[Step], PropertyFailure]:
    """`shrink` a failing run under the rules it failed with: every candidate replays in lockstep with the same
    policy, stake formula, parameters and model rules (a campaign's or a replayed trace's), and the first cut
    drops what a model with those rules refuses."""
    model = Model(params, policy, formula=resolve_formula(formula), rules=rules)

    def replay(candidate: Sequence[Step]) -> PropertyFailure | None:
        return run_steps(candidate, params, policy, factory, rules, formula)

    return shrink(steps, replay, refused=refused_by(model))
