"""Property: random operation sequences keep every invariant, checked per step and by the full audit.

Hypothesis draws a swarm of operations and a byte string per step; the property suite's generator turns each into
a step biased towards valid ones. The model runs with `check="audit"`: the per-step checker and the whole-state
audit after every step, so the running totals and the from-scratch sums must agree throughout."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from choir_model import POLICIES, Model
from properties.generate import OPS, StepGenerator
from properties.machine import CHOICE_BYTES, ByteSource


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(
    policy=st.sampled_from(sorted(POLICIES)),
    program=st.lists(
        st.tuples(st.sampled_from(OPS), st.binary(min_size=CHOICE_BYTES, max_size=CHOICE_BYTES)), max_size=120
    ),
)
def test_random_sequences_keep_every_invariant(policy: str, program: list[tuple[str, bytes]]) -> None:
    model = Model(policy=policy, check="audit")
    generator = StepGenerator(model, ByteSource(b""))
    for op, choices in program:
        generator.source = ByteSource(choices)
        model.try_apply(generator.step(op))  # an invariant violation raises InvariantViolation and fails the test
    snapshot = model.snapshot()
    total = snapshot["treasury"] + sum(snapshot["wallets"].values())
    total += sum(t["balance"] for t in snapshot["threads"].values())
    total += sum(m["stake"] for m in snapshot["messages"].values())
    assert total == model.params.total_supply
