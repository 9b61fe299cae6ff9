"""`Model.refusal` answers exactly as applying the step to a deep copy would, and changes nothing: it runs the
step on a fork sharing every thread and message but the step's own, so a rule that touched another would show here.
The fork, taken as the state after the step (`Model.take_attempt`, as the lockstep does), is that deep copy's state
after the step."""

from __future__ import annotations

import copy
import random

import pytest

from choir_model import CHOIR, POLICIES, Fund, Model
from choir_model.steps import STEP_TYPES
from properties.generate import RandomSource, StepGenerator

OPS = sorted(STEP_TYPES)


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_refusal_agrees_with_a_deep_copy_and_changes_nothing(policy: str) -> None:
    rng = random.Random(5)
    model = Model(policy=policy)
    generator = StepGenerator(model, RandomSource(5), invalid_one_in=3)
    refused = accepted = 0
    for _ in range(1500):
        step = generator.step(OPS[rng.randrange(len(OPS))])
        expected = copy.deepcopy(model).try_apply(step)
        state = copy.deepcopy(model.state)
        error = model.refusal(step)
        assert (error.name if error else None) == expected, step
        assert model.state == state, step  # nothing changed, not even a shared thread
        if rng.randrange(2):  # the refusal's fork taken as the state after the step, as the lockstep does
            shadow = copy.deepcopy(model)
            shadow.try_apply(step)
            attempt = model.take_attempt(step)
            assert attempt is not None and attempt.error is error and attempt.after == shadow.state, step
            model.state = attempt.after
            assert model.take_attempt(step) is None  # taken once
        else:
            model.try_apply(step)
        refused += expected is not None
        accepted += expected is None
    assert refused > 100 and accepted > 100


def test_an_attempt_is_taken_only_for_its_step_on_the_state_it_forked() -> None:
    model = Model()
    fund = Fund("alice", 1_700_000_000, CHOIR, ("treasury1", "treasury2"))
    model.refusal(fund)
    assert model.take_attempt(Fund("alice", 1_700_000_000, CHOIR, ("treasury1", "treasury2"))) is None  # another
    model.refusal(fund)
    model.apply(fund)  # the state changed in place since
    assert model.take_attempt(fund) is None
    model.refusal(fund)
    model.state = copy.deepcopy(model.state)  # replaced since
    assert model.take_attempt(fund) is None
