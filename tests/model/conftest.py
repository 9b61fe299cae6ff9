"""Shared builders for model tests: a funded world and deep snapshots for error-atomicity checks."""

from __future__ import annotations

import copy

import pytest

from choir_model import ChoirError, Fund, Model, Params, Step

T0 = 1_700_000_000
SIGNERS = ("treasury1", "treasury2")


def h(tag: str) -> str:
    """A 64-hex content hash from a short tag."""
    return (tag.encode().hex() * 64)[:64]


def deep_state(model: Model) -> object:
    """Everything the model holds, for before/after comparison (the state dataclasses compare by value)."""
    return copy.deepcopy((model.state, model.analytics))


def rejected(model: Model, step: Step) -> str:
    """Apply a step that must fail; assert it changed nothing at all and return its error name."""
    before = deep_state(model)
    with pytest.raises(ChoirError) as info:
        model.apply(step)
    assert deep_state(model) == before, f"{info.value.name} changed the state"
    return info.value.name


def funded(policy: str = "seeds", params: Params | None = None, **wallets: int) -> Model:
    model = Model(params, policy=policy, check="audit")
    for offset, (name, amount) in enumerate(wallets.items()):
        model.apply(Fund(name, T0 + offset, amount, SIGNERS))
    return model
