"""Proof that the suite bites: the default CI campaign catches every mutant and names what caught it."""

from __future__ import annotations

import pytest

from choir_model.ops import Rules
from properties.campaign import Campaign, run_campaign
from properties.lockstep import PropertyFailure
from properties.mutation.model_mutants import EXPECTED


@pytest.mark.parametrize("mutant", list(EXPECTED), ids=lambda m: m.__name__)
def test_default_campaign_catches(mutant: type[Rules], tmp_path) -> None:
    result = run_campaign(Campaign(rules=mutant, database=False, failure_dir=tmp_path))
    assert not result.ok, f"{mutant.__name__} survived the default campaign: a hole in the suite"
    assert isinstance(result.failure, PropertyFailure)
    assert result.failure.kind in EXPECTED[mutant], f"caught by {result.failure.kind}: {result.failure}"
    assert result.trace is not None and result.trace.exists()
