"""A soak with no implementation under test steps the model and its checker without keeping a trace
(`properties.soak._ModelRun`); a failure is recorded by running its run again from the seed. These tests hold it
to the `Lockstep`'s soak (forced here by a `ModelDriver`, the true model as the implementation under test): the same
coverage, the same failure at the same step with the same steps, a trace that replays and shrinks from a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from choir_model import Params
from choir_model.ops import Rules
from choir_model.trace import read_trace, write_trace
from properties.coverage import Coverage
from properties.driver import ModelDriver
from properties.lockstep import run_steps
from properties.mutation.model_mutants import CooldownIgnored
from properties.shrink import shrink_run
from properties.soak import soak


def counts(coverage: Coverage) -> tuple[object, ...]:
    return coverage.ok, coverage.op_errors, coverage.outcomes, coverage.violations, coverage.examples


def recording(params: Params) -> ModelDriver:
    """The true model as the implementation under test: the soak then runs through the `Lockstep`."""
    return ModelDriver(params)


@pytest.mark.parametrize("varied", [False, True])
def test_an_unrecorded_soak_covers_what_the_lockstep_soak_covers(varied: bool) -> None:
    fast = soak(3000, 4, factory_for=(lambda _: None) if varied else None)
    slow = soak(3000, 4, driver_factory=lambda: recording(Params()),
                factory_for=(lambda params: lambda: recording(params)) if varied else None)  # fmt: skip
    assert fast.failure is None and slow.failure is None
    assert fast.steps == slow.steps == 3000
    assert counts(fast.coverage) == counts(slow.coverage)


def test_an_unrecorded_failure_is_the_lockstep_failure_and_replays_from_a_file(tmp_path: Path) -> None:
    fast = soak(3000, 1, rules=CooldownIgnored)  # fails in its second run
    slow = soak(3000, 1, rules=CooldownIgnored, driver_factory=lambda: recording(Params()))
    assert fast.failure is not None and slow.failure is not None
    assert fast.failure.kind == "divestment" and str(fast.failure) == str(slow.failure)
    assert fast.failure.steps == slow.failure.steps and len(fast.failure.steps) > 1
    assert fast.steps == slow.steps and counts(fast.coverage) == counts(slow.coverage)
    trace = tmp_path / "failure.jsonl"
    write_trace(fast.failure.steps, trace)
    replayed = run_steps(read_trace(trace), Params(), "seeds", rules=CooldownIgnored)
    assert replayed is not None and str(replayed) == str(fast.failure)
    shrunk, failure = shrink_run(read_trace(trace), Params(), "seeds", None, CooldownIgnored)
    assert failure.kind == "divestment" and len(shrunk) < len(fast.failure.steps)


class FirstWorldOnly(CooldownIgnored):
    """Forgets the cooldown in the first world built, keeps it in every later one: rules that are not a function
    of their inputs, so a run does not fail again from its seed."""

    built = 0

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        FirstWorldOnly.built += 1
        self.broken = FirstWorldOnly.built == 1

    def divest(self, state, step):  # type: ignore[no-untyped-def]
        return super().divest(state, step) if self.broken else Rules.divest(self, state, step)


def test_a_failure_that_does_not_come_back_from_its_seed_is_a_toolkit_error() -> None:
    FirstWorldOnly.built = 0
    with pytest.raises(RuntimeError, match="held when run again from its seed"):
        soak(2000, 0, rules=FirstWorldOnly)
