"""Running one scenario: load it, apply the command line's overrides, simulate, collect the tables, write them.

This is the function the CLI, the sweeps, the report and the notebooks call, so they all run a scenario the
same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.engine import World
from sim.metrics import SimResult, collect
from sim.scenario import Scenario, load_scenario


def resolve(
    scenario: Scenario | str | Path,
    days: float | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Scenario:
    """A scenario (by name, path or object) with `days`, `seed` and dotted-path overrides applied."""
    base = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    changes: dict[str, Any] = dict(overrides or {})
    if days is not None:
        changes["days"] = days
    if seed is not None:
        changes["seed"] = seed
    return base.with_overrides(changes) if changes else base


def run_scenario(
    scenario: Scenario | str | Path,
    days: float | None = None,
    seed: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    check: str | None = None,
    out: str | Path | None = None,
    trace: bool = False,
) -> SimResult:
    """Simulate a scenario and return its tables; with `out`, write them there (and the SPEC trace of every step
    with `trace`). A broken invariant raises `sim.engine.SimulationFailed`; its trace goes to `out` (or the
    temporary directory)."""
    resolved = resolve(scenario, days, seed, overrides)
    world = World(resolved, check=check, trace_dir=out).run()
    result = collect(world)
    if out is not None:
        result.write(out, world.steps if trace else None)
    return result
