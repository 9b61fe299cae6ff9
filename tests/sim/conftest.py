"""Shared fixtures for the simulator tests: one small run of the mixed scenario (every agent kind), written to
disk with its trace, reused by the tests that only read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import run_scenario
from sim.metrics import SimResult


@pytest.fixture(scope="session")
def mixed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mixed")


@pytest.fixture(scope="session")
def mixed_run(mixed_dir: Path) -> SimResult:
    """The mixed scenario (creators, co-authors, authors, spammers, a Sybil ring, griefers, drainers) over 12
    days, every invariant checked on every step."""
    return run_scenario("mixed", days=12, out=mixed_dir, trace=True)
