"""sim: agent-based simulations of Choir on the reference model, for economists.

SimPy agents (honest authors, co-authors, thread creators, spammers, Sybil rings, griefers, drainers) act on a
`choir_model.Model` through typed steps, with every invariant checked on every step, on a simulated clock.
Scenarios are TOML files (`sim/scenarios/`); results are pandas DataFrames written to Parquet; sweeps run on
dask.distributed; plots use matplotlib. The model is the oracle: the simulator has no economics of its own.

    from sim import run_scenario
    result = run_scenario("spam", days=7, seed=3, out="out/spam")
    result.summary["approval_rate"], result.threads.head()

The names below are imported on first use (PEP 562), so `import sim.scenario` (what listing scenarios needs)
does not pay for SimPy, pandas and networkx.
"""

from __future__ import annotations

import importlib
from typing import Any

DEFAULT_SEEDS = 10
"""Monte Carlo seeds per case when `--seeds` is not given, chosen by measurement (`sim.montecarlo`'s docstring)."""

_EXPORTS = {
    "Scenario": "sim.scenario",
    "list_scenarios": "sim.scenario",
    "load_scenario": "sim.scenario",
    "SimulationFailed": "sim.engine",
    "World": "sim.engine",
    "simulate": "sim.engine",
    "SimResult": "sim.metrics",
    "collect": "sim.metrics",
    "resolve": "sim.run",
    "run_scenario": "sim.run",
}

__all__ = sorted([*_EXPORTS, "DEFAULT_SEEDS"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
