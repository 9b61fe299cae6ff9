"""`Model.refusal` answers exactly as applying the step to a deep copy would, and changes nothing: it runs the
step on a fork sharing every thread and message but the step's own, so a rule that touched another would show here."""

from __future__ import annotations

import copy
import random

import pytest

from choir_model import POLICIES, Model
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
        model.try_apply(step)
        refused += expected is not None
        accepted += expected is None
    assert refused > 100 and accepted > 100
