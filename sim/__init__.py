"""sim: agent-based simulations of Choir on the reference model, for economists.

SimPy agents (honest authors, co-authors, thread creators, spammers, Sybil rings, griefers, drainers) act on a
`choir_model.Model` through typed steps, with every invariant checked on every step, on a simulated clock.
Scenarios are TOML files (`sim/scenarios/`); results are pandas DataFrames written to Parquet; sweeps run on
dask.distributed; plots use matplotlib. The model is the oracle: the simulator has no economics of its own.

    from sim import run_scenario
    result = run_scenario("spam", days=7, seed=3, out="out/spam")
    result.summary["approval_rate"], result.threads.head()
"""

from sim.engine import SimulationFailed, World, simulate
from sim.metrics import SimResult, collect
from sim.run import resolve, run_scenario
from sim.scenario import Scenario, list_scenarios, load_scenario

__all__ = [
    "Scenario",
    "SimResult",
    "SimulationFailed",
    "World",
    "collect",
    "list_scenarios",
    "load_scenario",
    "resolve",
    "run_scenario",
    "simulate",
]
