"""Global sensitivity analysis (SALib): which parameters move which outputs, Morris screening and Sobol indices.

A sensitivity file (TOML) names a scenario, the `method` (`morris` or `sobol`), the base sample size `samples`
(Sobol runs samples * (D + 2) points for D parameters, first-order and total indices only; Morris runs `samples`
trajectories of D + 1 points), the `outputs` (summary metrics), `seeds` per point (the outputs are averaged over
them, so the indices describe the expected outcome, not one draw), `resamples` (bootstrap resamples of the
confidence intervals), `[fixed]` overrides of the scenario, and `[parameters]`: dotted paths with their ranges,
`{uniform = [a, b]}`,
`{loguniform = [a, b]}` (sampled uniformly in log space) or `{int = [a, b]}` (rounded), e.g. the stake formula's
`formula.k`, `params.approval_window`, `params.divest_cooldown`, `params.min_stake`, agent behaviour.

SALib samples the unit hypercube, each row becomes a scenario (validated before anything runs), the runs go to an
executor (`sim.executors`, the same as sweeps) in chunks of rows, and SALib analyses the outputs: Sobol
first-order (S1) and total (ST) indices with their 95% bootstrap confidence intervals, or Morris mu* (mean
absolute elementary effect) with its interval and sigma. A run that fails leaves its row NaN; the analysis then
refuses (it needs every row).

Every point runs on the same seeds (common random numbers): the simulator draws each agent's randomness from its
own generator (`sim.rng`), so two points that differ in one parameter differ in what that parameter changes, not
in unrelated draws, and a parameter with no effect gets indices of exactly 0. SALib's `*_conf` is the half-width
of a normal interval, `norm.ppf(0.975)` times the standard deviation of the index over `resamples` bootstrap
resamples of the N base rows (`sobol.analyze(..., conf_level=0.95, num_resamples=resamples)`). SALib's Sobol
analysis ignores a seed of 0 (it then draws the resamples from numpy's global state), so the analyses get
`sample_seed + 1`: the same file gives the same intervals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.executors import Executor, InProcess, JobError
from sim.scenario import Scenario, check_name, check_type, load_toml, spec_head, spec_scenario
from sim.sweep import check_distribution, simulate_summary

_HEAD = {
    "name": "sensitivity",
    "scenario": "baseline",
    "method": "sobol",
    "samples": 64,
    "seeds": 1,
    "days": 10.0,
    "sample_seed": 0,
    "levels": 4,
    "resamples": 1000,
    "outputs": ("approval_rate", "attacker_pnl_choir", "honest_pnl_choir", "treasury_inflow_choir"),
}
_RANGES = ("uniform", "loguniform", "int")
CONFIDENCE = 0.95
"""Level of the bootstrap intervals SALib reports (`*_conf` is their half-width)."""


@dataclass
class SensitivitySpec:
    """A parsed sensitivity file."""

    name: str
    scenario: Scenario
    method: str
    samples: int
    seeds: int
    days: float
    sample_seed: int
    levels: int
    resamples: int
    outputs: tuple[str, ...]
    parameters: dict[str, tuple[str, float, float]]  # path -> (distribution, low, high)
    fixed: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], base_dir: Path | None = None) -> SensitivitySpec:
        head = spec_head(raw, "sensitivity", _HEAD, ("sensitivity", "parameters", "fixed"))
        v = {key: check_type(f"sensitivity.{key}", head.get(key, default), default) for key, default in _HEAD.items()}
        v["name"] = check_name("sensitivity.name", v["name"])
        parameters: dict[str, tuple[str, float, float]] = {}
        for path, spec in dict(raw.get("parameters", {})).items():
            kind, bounds = check_distribution(f"parameters {path!r}", spec, _RANGES)
            if bounds[0] == bounds[1]:
                raise ValueError(f"parameters {path!r}: {kind} needs low < high, got {bounds!r}")
            parameters[path] = (kind, float(bounds[0]), float(bounds[1]))
        if len(parameters) < 2:
            raise ValueError("[parameters] needs at least two parameters")
        spec = cls(
            v["name"], spec_scenario(v["scenario"], base_dir), v["method"], v["samples"], v["seeds"], v["days"],
            v["sample_seed"], v["levels"], v["resamples"], tuple(v["outputs"]), parameters, dict(raw.get("fixed", {})),
        )  # fmt: skip
        spec.check()
        for corner in (0.0, 1.0):  # both corners of the box must make valid scenarios
            spec.scenario_for(np.full(len(parameters), corner), spec.scenario.seed)
        return spec

    def check(self) -> None:
        """Range-check the head's values (also after a command line changed them)."""
        if self.method not in ("sobol", "morris"):
            raise ValueError(f"sensitivity.method must be sobol or morris, got {self.method!r}")
        for key in ("samples", "seeds", "levels", "resamples"):
            if getattr(self, key) < 1:
                raise ValueError(f"sensitivity.{key} must be >= 1, got {getattr(self, key)}")
        if self.method == "sobol" and self.samples & (self.samples - 1):
            raise ValueError(f"sensitivity.samples must be a power of 2 for Sobol sampling, got {self.samples}")
        if not 0 < self.days <= 36_500:
            raise ValueError(f"sensitivity.days must be in (0, 36500], got {self.days}")

    def check_outputs(self) -> None:
        """Every output must name a number of a run's summary. One run at the centre of the box (in this process)
        says which, before the analysis spends its N x (D + 2) runs on a misspelt name; a run that fails here is
        left to the analysis, which reports it with its row."""
        result = simulate_summary(self.scenario_for(np.full(len(self.parameters), 0.5), self.scenario.seed))
        if result["status"] != "ok":
            return
        numbers = sorted(k for k, v in result["summary"].items() if isinstance(v, Real) and not isinstance(v, bool))
        unknown = [name for name in self.outputs if name not in numbers]
        if unknown:
            raise ValueError(
                f"sensitivity.outputs: {', '.join(map(repr, unknown))} not a number of a run's summary; "
                f"known: {', '.join(numbers)}"
            )

    def problem(self) -> dict[str, Any]:
        """SALib's problem: every parameter on [0, 1] (mapped to its range by `values`)."""
        return {
            "num_vars": len(self.parameters),
            "names": list(self.parameters),
            "bounds": [[0.0, 1.0]] * len(self.parameters),
        }

    def values(self, unit_row: np.ndarray) -> dict[str, Any]:
        """A row of the unit hypercube -> parameter values in their ranges."""
        out: dict[str, Any] = {}
        for (path, (kind, low, high)), u in zip(self.parameters.items(), unit_row, strict=True):
            if kind == "loguniform":
                out[path] = math.exp(math.log(low) + float(u) * (math.log(high) - math.log(low)))
            elif kind == "int":
                out[path] = min(int(high), int(low + math.floor(float(u) * (high - low + 1))))
            else:
                out[path] = low + float(u) * (high - low)
        return out

    def scenario_for(self, unit_row: np.ndarray, seed: int) -> Scenario:
        return self.scenario.with_overrides({**self.fixed, "days": self.days, **self.values(unit_row), "seed": seed})

    def sample(self) -> np.ndarray:
        if self.method == "sobol":
            from SALib.sample import sobol

            return sobol.sample(self.problem(), self.samples, calc_second_order=False, seed=self.sample_seed)
        from SALib.sample import morris

        return morris.sample(self.problem(), self.samples, num_levels=self.levels, seed=self.sample_seed)


def load_sensitivity(path: str | Path) -> SensitivitySpec:
    return load_toml(path, SensitivitySpec.from_dict)


@dataclass
class SensitivityResult:
    """The sample (parameter values and outputs per row), the indices table and the wall time."""

    runs: pd.DataFrame
    indices: pd.DataFrame
    failures: int
    wall_seconds: float


def evaluate_points(spec: SensitivitySpec, rows: np.ndarray) -> tuple[np.ndarray, int]:
    """The outputs of `rows` of the unit hypercube, each on seeds `scenario.seed .. + seeds - 1` (the same seeds
    for every row: common random numbers), as an array rows x seeds x outputs (NaN where a run failed or the
    metric is undefined) and the number of runs that failed. Runs on a worker, one job per chunk of rows: a cheap
    evaluation does not pay a scheduler round trip, and the scenarios are built and validated there (once: the
    scenario goes to the simulator as built, not through its raw form again)."""
    out = np.full((len(rows), spec.seeds, len(spec.outputs)), np.nan)
    failed = 0
    for i, u in enumerate(rows):
        for k in range(spec.seeds):
            result = simulate_summary(spec.scenario_for(u, spec.scenario.seed + k))
            if result["status"] == "ok":
                out[i, k] = [float(result["summary"].get(name, math.nan)) for name in spec.outputs]
            else:
                failed += 1
    return out, failed


def run_sensitivity(spec: SensitivitySpec, executor: Executor | None = None, chunk: int = 0) -> SensitivityResult:
    """Sample, run every row on `seeds` seeds (through `executor`, `chunk` rows per job; 0: enough jobs to keep
    every worker busy to the end), analyse every output."""
    started = time.perf_counter()
    unit = spec.sample()
    executor = executor or InProcess()
    size = chunk or max(1, min(64, math.ceil(len(unit) / (8 * executor.parallelism))))
    starts = list(range(0, len(unit), size))
    outputs = np.full((len(unit), spec.seeds, len(spec.outputs)), np.nan)
    failures = 0

    def done(index: int, result: Any) -> None:
        nonlocal failures
        begin = starts[index]
        if isinstance(result, JobError):
            failures += min(size, len(unit) - begin) * spec.seeds
            return
        outputs[begin : begin + len(result[0])], failed = result
        failures += failed

    jobs = [(spec, unit[begin : begin + size]) for begin in starts]
    executor.run(evaluate_points, jobs, done, [f"sens-{begin}" for begin in starts])
    means = outputs.mean(axis=1)
    runs = pd.DataFrame([spec.values(u) for u in unit])
    for i, name in enumerate(spec.outputs):
        runs[name] = means[:, i]
    rows = []
    for i, name in enumerate(spec.outputs):
        y = means[:, i]
        if np.isnan(y).any():
            raise ValueError(
                f"{name}: {int(np.isnan(y).sum())} rows have no value (failed runs or an undefined metric)"
            )
        rows += _analyse(spec, unit, y, name)
    return SensitivityResult(runs, pd.DataFrame(rows), failures, time.perf_counter() - started)


def _analyse(spec: SensitivitySpec, unit: np.ndarray, y: np.ndarray, output: str) -> list[dict[str, Any]]:
    problem = spec.problem()
    if spec.method == "sobol":
        from SALib.analyze import sobol

        result = sobol.analyze(
            problem,
            y,
            calc_second_order=False,
            num_resamples=spec.resamples,
            conf_level=CONFIDENCE,
            seed=spec.sample_seed + 1,
        )
        return [
            {
                "output": output,
                "parameter": name,
                "S1": float(result["S1"][j]),
                "S1_conf": float(result["S1_conf"][j]),
                "ST": float(result["ST"][j]),
                "ST_conf": float(result["ST_conf"][j]),
            }
            for j, name in enumerate(problem["names"])
        ]
    from SALib.analyze import morris

    result = morris.analyze(
        problem,
        unit,
        y,
        num_levels=spec.levels,
        num_resamples=spec.resamples,
        conf_level=CONFIDENCE,
        seed=spec.sample_seed + 1,
    )
    return [
        {
            "output": output,
            "parameter": name,
            "mu_star": float(result["mu_star"][j]),
            "mu_star_conf": float(result["mu_star_conf"][j]),
            "sigma": float(result["sigma"][j]),
        }
        for j, name in enumerate(problem["names"])
    ]
