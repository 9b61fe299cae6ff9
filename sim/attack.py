"""Worst-case search: an optimiser (Optuna's TPE sampler with median pruning) looks for the attacker strategy,
and optionally the mechanism setting, that maximises an attack metric (attacker P&L by default) or crosses a
threshold (falsification: "find a setting where metric X crosses Y").

An attack file (TOML) names a scenario, the attacker group the search controls (`group`, added to the scenario),
its funding `budget` in CHOIR (split evenly over the group's identities, so strategies are compared at equal
cost), the `objective` and its `direction`, the number of `trials`, the `seeds` each trial is averaged over and
a `[space]` of dotted paths with distributions (those of sweeps: `{uniform = [a, b]}`, `{loguniform = [a, b]}`,
`{int = [a, b]}`, `{choice = [...]}`). `kind` picks the attacker kind; a field the chosen kind does not have is
not sampled (the space is conditional). `[frontier]` re-runs the search at each value of one mechanism parameter
and reports the best objective found there; `[falsify]` stops at the first trial whose mean objective is `above`
(or `below`) a threshold.

Trials run in batches of the executor's parallelism (`sim.executors`: in process or on dask). Each trial runs
its seeds one after another across batches; after each seed its running mean is reported to Optuna, whose median
pruner stops trials that are already worse than the median of earlier ones at the same step. The best trials are
replayed on their first seed with every step written as a SPEC trace (`choir model run TRACE --policy P` replays
it; `check_replay` does so and compares the final state).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.agents import AGENT_KINDS
from sim.executors import Executor, InProcess, JobError
from sim.scenario import Scenario, check_name, check_type, load_toml, spec_head, spec_scenario
from sim.sweep import RunSpec, check_distribution, execute_run

_ATTACK_KEYS = {
    "name": "attack",
    "scenario": "baseline",
    "group": "attack",
    "budget": 800.0,
    "objective": "attacker_pnl_choir",
    "direction": "maximize",
    "trials": 40,
    "seeds": 2,
    "days": 30.0,
    "sampler_seed": 0,
    "top": 3,
}


@dataclass
class AttackSpec:
    """A parsed attack file."""

    name: str
    scenario: Scenario
    group: str
    budget: float
    objective: str
    direction: str
    trials: int
    seeds: int
    days: float
    sampler_seed: int
    top: int
    space: dict[str, dict[str, Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    frontier: tuple[str, list[Any]] | None = None
    falsify: tuple[str, str, float] | None = None  # (metric, "above" | "below", threshold)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], base_dir: Path | None = None) -> AttackSpec:
        head = spec_head(raw, "attack", _ATTACK_KEYS, ("attack", "space", "fixed", "frontier", "falsify"))
        values = {
            key: check_type(f"attack.{key}", head.get(key, default), default) for key, default in _ATTACK_KEYS.items()
        }
        values["name"] = check_name("attack.name", values["name"])
        for key in ("trials", "seeds", "top"):
            if values[key] < 1:
                raise ValueError(f"attack.{key} must be >= 1, got {values[key]}")
        if values["budget"] <= 0 or values["days"] <= 0:
            raise ValueError("attack.budget and attack.days must be > 0")
        if values["direction"] not in ("maximize", "minimize"):
            raise ValueError(f"attack.direction must be maximize or minimize, got {values['direction']!r}")
        scenario = spec_scenario(values["scenario"], base_dir)
        if values["group"] in {g.name for g in scenario.groups}:
            raise ValueError(f"attack.group {values['group']!r} is already a group of {scenario.name!r}")
        space = dict(raw.get("space", {}))
        for path, spec in space.items():
            check_distribution(f"space {path!r}", spec)
        kinds = space.get(f"agents.{values['group']}.kind", {}).get("choice", ["drainer"])
        bad = [k for k in kinds if k not in AGENT_KINDS or AGENT_KINDS[k].role != "attacker"]
        if bad:
            raise ValueError(f"space agents.{values['group']}.kind: {bad} are not attacker kinds")
        frontier = None
        if "frontier" in raw:
            table = dict(raw["frontier"])
            if set(table) != {"parameter", "values"} or not isinstance(table["values"], list) or not table["values"]:
                raise ValueError("[frontier] needs `parameter` (a dotted path) and a non-empty list `values`")
            frontier = (str(table["parameter"]), list(table["values"]))
        falsify = None
        if "falsify" in raw:
            table = dict(raw["falsify"])
            sides = [side for side in ("above", "below") if side in table]
            if set(table) - {"metric", "above", "below"} or len(sides) != 1 or not isinstance(table.get("metric"), str):
                raise ValueError("[falsify] needs `metric` and exactly one of `above` or `below`")
            falsify = (table["metric"], sides[0], check_type(f"falsify.{sides[0]}", table[sides[0]], 0.0))
        spec = cls(
            values["name"], scenario, values["group"], values["budget"], values["objective"], values["direction"],
            values["trials"], values["seeds"], values["days"], values["sampler_seed"], values["top"], space,
            dict(raw.get("fixed", {})), frontier, falsify,
        )  # fmt: skip
        # Every kind with its lowest values must make a valid scenario: fail before anything runs.
        for kind in kinds:
            point = {p: _low(s) for p, s in space.items() if _applies(p, kind, values["group"])}
            spec.scenario_for({**point, f"agents.{values['group']}.kind": kind}, scenario.seed)
        return spec

    def scenario_for(self, point: Mapping[str, Any], seed: int) -> Scenario:
        """The scenario with the attacker group set to `point` (its wallet from the budget) at `seed`."""
        group = self.group
        kind = point.get(f"agents.{group}.kind", "drainer")
        table: dict[str, Any] = {"kind": kind}
        overrides: dict[str, Any] = {**self.fixed, "days": self.days, "seed": seed}
        for path, value in point.items():
            prefix = f"agents.{group}."
            if path.startswith(prefix):
                if path != f"{prefix}kind":
                    table[path[len(prefix) :]] = value
            else:
                overrides[path] = value
        identities = int(table.get("count", 1)) * int(table.get("identities", 1) if kind == "sybil" else 1)
        table["wallet"] = self.budget / max(1, identities)
        overrides[f"agents.{group}"] = table
        return self.scenario.with_overrides(overrides)


def _low(spec: Mapping[str, Any]) -> Any:
    """The lowest value of a distribution (the first choice): what validation tries before anything runs."""
    ((_, args),) = spec.items()
    return args[0]


def _applies(path: str, kind: str, group: str) -> bool:
    """Whether a space entry is sampled for this attacker kind (a field of another kind is not)."""
    prefix = f"agents.{group}."
    if not path.startswith(prefix) or path == f"{prefix}kind":
        return True
    return path[len(prefix) :] in AGENT_KINDS[kind].Config.field_names()


def load_attack(path: str | Path) -> AttackSpec:
    return load_toml(path, AttackSpec.from_dict)


@dataclass
class Trial:
    """One strategy tried: its parameters, the objective per seed, whether it was pruned."""

    number: int
    params: dict[str, Any]
    values: list[float] = field(default_factory=list)
    pruned: bool = False
    error: str | None = None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan


@dataclass
class SearchResult:
    """Every trial, the best ones (complete, best first), when the best was first reached, and a falsifying
    trial if one crossed the threshold. `interrupted`: Ctrl-C (or SIGTERM, `choir.interrupts`) stopped the search
    early; these are the trials that had finished (the batch under way was dropped)."""

    trials: list[Trial]
    best: list[Trial]
    wall_seconds: float
    first_best_seconds: float
    falsified: Trial | None = None
    interrupted: bool = False


def _suggest(trial: Any, space: Mapping[str, dict[str, Any]], group: str) -> dict[str, Any]:
    kind_path = f"agents.{group}.kind"
    point: dict[str, Any] = {}
    if kind_path in space:
        point[kind_path] = trial.suggest_categorical(kind_path, space[kind_path]["choice"])
    kind = point.get(kind_path, "drainer")
    for path, spec in space.items():
        if path == kind_path or not _applies(path, kind, group):
            continue
        ((dist, args),) = spec.items()
        if dist == "choice":
            point[path] = trial.suggest_categorical(path, args)
        elif dist == "int":
            point[path] = trial.suggest_int(path, int(args[0]), int(args[1]))
        else:
            point[path] = trial.suggest_float(path, float(args[0]), float(args[1]), log=dist == "loguniform")
    return point


def search(
    spec: AttackSpec,
    executor: Executor | None = None,
    fixed: Mapping[str, Any] | None = None,
    trials: int | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> SearchResult:
    """Run the search (with `fixed` mechanism overrides, e.g. a frontier point); never raises for a failing
    simulation (its trial is recorded with the error and counts as pruned)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    executor = executor or InProcess()
    sampler = optuna.samplers.TPESampler(seed=spec.sampler_seed, n_startup_trials=min(10, max(2, spec.trials // 4)))
    study = optuna.create_study(
        direction=spec.direction,
        sampler=sampler,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0),
    )
    sign = 1.0 if spec.direction == "maximize" else -1.0
    total = trials or spec.trials
    done: list[Trial] = []
    falsified: Trial | None = None
    started = time.perf_counter()
    best_value, best_at = -math.inf, 0.0
    interrupted = False
    try:
        while len(done) < total and falsified is None:
            batch = []
            for _ in range(min(executor.parallelism, total - len(done))):
                handle = study.ask()
                point = {**_suggest(handle, spec.space, spec.group), **(fixed or {})}
                batch.append((handle, Trial(handle.number, point)))
            _evaluate(spec, executor, batch)
            for handle, t in batch:
                if t.error is not None or math.isnan(t.mean):
                    study.tell(handle, state=optuna.trial.TrialState.FAIL)
                elif t.pruned:
                    study.tell(handle, state=optuna.trial.TrialState.PRUNED)
                else:
                    study.tell(handle, t.mean)
                    if sign * t.mean > best_value:
                        best_value, best_at = sign * t.mean, time.perf_counter() - started
                    if spec.falsify is not None and _crosses(t.mean, spec.falsify):
                        falsified = falsified or t
                done.append(t)
                if on_trial is not None:
                    on_trial(t)
    except KeyboardInterrupt:  # the trials that finished stand; the batch under way is dropped
        interrupted = True
    complete = [t for t in done if not t.pruned and t.error is None and not math.isnan(t.mean)]
    complete.sort(key=lambda t: (-sign * t.mean, t.number))
    return SearchResult(done, complete[: spec.top], time.perf_counter() - started, best_at, falsified, interrupted)


def _evaluate(spec: AttackSpec, executor: Executor, batch: list[tuple[Any, Trial]]) -> None:
    """Run a batch of trials seed after seed (one job per trial still alive per seed), recording each value and
    reporting it to Optuna, which prunes a trial whose mean falls behind; a failed run ends its trial."""
    first_seed = spec.scenario.seed
    for step in range(spec.seeds):
        alive = [(h, t) for h, t in batch if not t.pruned and t.error is None]
        if not alive:
            return
        jobs = []
        for _, t in alive:
            scenario = spec.scenario_for(t.params, first_seed + step)
            jobs.append((RunSpec(t.number, step, t.params, scenario.seed, scenario.raw, f"t{t.number}"),))
        results: dict[int, Any] = {}
        executor.run(execute_run, jobs, results.__setitem__, [f"attack-{t.number}-{step}" for _, t in alive])
        for position, (handle, t) in enumerate(alive):
            result = results[position]
            if isinstance(result, JobError) or result["status"] != "ok":
                t.error = result.error if isinstance(result, JobError) else result.get("error")
                continue
            t.values.append(float(result["summary"].get(spec.objective, math.nan)))
            handle.report(t.mean, step)
            if step < spec.seeds - 1 and handle.should_prune():
                t.pruned = True


def _crosses(value: float, falsify: tuple[str, str, float]) -> bool:
    _, side, threshold = falsify
    return value > threshold if side == "above" else value < threshold


def falsify_objective(spec: AttackSpec) -> AttackSpec:
    """In falsification mode the search pushes the falsified metric towards its threshold."""
    if spec.falsify is None:
        return spec
    metric, side, _ = spec.falsify
    return dataclasses.replace(spec, objective=metric, direction="maximize" if side == "above" else "minimize")


def frontier(
    spec: AttackSpec, executor: Executor | None = None, trials: int | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """The best objective found at each value of the frontier's mechanism parameter (a search per value), and
    whether it was interrupted (Ctrl-C: `SearchResult.interrupted`): then the rows stop before the value whose
    search was."""
    if spec.frontier is None:
        return [], False
    parameter, values = spec.frontier
    rows: list[dict[str, Any]] = []
    for value in values:
        result = search(spec, executor, {parameter: value}, trials or max(4, spec.trials // len(values)))
        if result.interrupted:
            return rows, True
        best = result.best[0] if result.best else None
        rows.append(
            {
                "parameter": parameter,
                "value": value,
                "best": best.mean if best else math.nan,
                "kind": best.params.get(f"agents.{spec.group}.kind") if best else None,
                "trials": len(result.trials),
            }
        )
    return rows, False


def write_trace(spec: AttackSpec, trial: Trial, out: Path) -> tuple[Path, dict[str, Any]]:
    """Replay a trial on its first seed with every step recorded; write `trace.jsonl` and the run's tables."""
    from sim.run import run_scenario

    scenario = spec.scenario_for(trial.params, spec.scenario.seed)
    result = run_scenario(scenario, out=out, trace=True)
    return out / "trace.jsonl", result.summary
