"""Parameter sweeps with Monte Carlo seeds on dask.distributed (radCAD / cadCAD style), resumable and
reproducible.

A sweep file (TOML) names a scenario, the number of seeds, fixed overrides, a `[grid]` of dotted-path values
(every combination runs) and, in `random` mode, a `[random]` table of distributions sampled `samples` times
(crossed with the grid). Every point runs once per seed (`base_seed`, `base_seed + 1`, ...). Example:

    [sweep]
    name = "spam-vs-policy"
    scenario = "spam"
    seeds = 3
    days = 14

    [grid]
    policy = ["seeds", "collective-2024-11"]
    "agents.spam.count" = [0, 4, 8]

Distributions for `[random]`: `{uniform = [a, b]}`, `{loguniform = [a, b]}`, `{int = [a, b]}` (inclusive),
`{choice = [...]}`.

Execution: runs are independent and deterministic, so they go to an executor (`sim.executors`: a dask
`LocalCluster`, an existing cluster at `scheduler="tcp://host:8786"` whose workers have this package installed, or
with `workers=0` this process); this module only says what runs.
Results are assembled by run index, so the table is the same bytes whatever the number of workers. Each
finished run is cached in `<out>/runs/<key>.json`, where the key hashes the resolved scenario, the seed and the
simulator's and model's source code (and of any policy or formula module it names): an interrupted sweep resumes
where it stopped, and a code change invalidates the cache. A failing run (an exception, a broken invariant, a lost
worker) is reported with its parameters, seed and error, and its trace when an invariant broke, without losing
the others; failures are not cached, so a resumed sweep retries them.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from sim import DEFAULT_SEEDS
from sim.executors import Executor, JobError, make_executor
from sim.io import write_frame, write_json
from sim.scenario import Scenario, check_name, check_type, load_toml, spec_head, spec_scenario

_SWEEP_KEYS = {"name", "scenario", "seeds", "base_seed", "days", "mode", "samples", "sample_seed", "check"}
_DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its index, the point it belongs to, its parameter values, seed and scenario."""

    index: int
    point: int
    params: dict[str, Any]
    seed: int
    scenario: dict[str, Any]
    key: str


@dataclass
class Sweep:
    """A parsed sweep file."""

    name: str
    scenario: Scenario
    seeds: int = DEFAULT_SEEDS
    base_seed: int | None = None
    days: float | None = None
    mode: str = "grid"
    samples: int = 1
    sample_seed: int = 0
    check: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    random: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], base_dir: Path | None = None) -> Sweep:
        head = spec_head(raw, "sweep", _SWEEP_KEYS, ("sweep", "fixed", "grid", "random"))
        scenario_ref = head.get("scenario")
        if not isinstance(scenario_ref, str):
            raise ValueError("[sweep] needs `scenario` (a built-in name or a path)")
        sweep = cls(
            name=check_name("sweep.name", head.get("name", "sweep")),
            scenario=spec_scenario(scenario_ref, base_dir),
            seeds=check_type("sweep.seeds", head.get("seeds", DEFAULT_SEEDS), 0),
            base_seed=check_type("sweep.base_seed", head["base_seed"], 0) if "base_seed" in head else None,
            days=check_type("sweep.days", head["days"], 0.0) if "days" in head else None,
            mode=check_type("sweep.mode", head.get("mode", "grid"), ""),
            samples=check_type("sweep.samples", head.get("samples", 1), 0),
            sample_seed=check_type("sweep.sample_seed", head.get("sample_seed", 0), 0),
            check=check_type("sweep.check", head["check"], "") if "check" in head else None,
            fixed=dict(raw.get("fixed", {})),
            grid={k: list(v) if isinstance(v, list) else [v] for k, v in dict(raw.get("grid", {})).items()},
            random=dict(raw.get("random", {})),
        )
        sweep.validate()
        return sweep

    def validate(self) -> None:
        if self.seeds < 1:
            raise ValueError("seeds must be >= 1")
        if self.mode not in ("grid", "random"):
            raise ValueError(f"mode must be grid or random, got {self.mode!r}")
        if self.mode == "grid" and self.random:
            raise ValueError('[random] needs mode = "random"')
        if self.mode == "random" and self.samples < 1:
            raise ValueError("samples must be >= 1")
        for path, values in self.grid.items():
            if not values:
                raise ValueError(f"grid {path!r} has no values")
        for path, spec in self.random.items():
            check_distribution(f"random {path!r}", spec)
        # Every point must make a valid scenario: fail before anything runs, naming the point.
        for point in self.points():
            try:
                self.scenario.with_overrides({**self._base_overrides(), **point})
            except ValueError as error:
                raise ValueError(f"point {point}: {error}") from None

    @property
    def parameters(self) -> list[str]:
        """The swept dotted paths, grid first, in file order."""
        return [*self.grid, *(p for p in self.random if p not in self.grid)]

    def points(self) -> list[dict[str, Any]]:
        """Every parameter point, in a fixed order."""
        grid = [dict(zip(self.grid, values, strict=True)) for values in itertools.product(*self.grid.values())]
        if self.mode == "grid":
            return grid
        rng = random.Random(self.sample_seed)
        draws = [{path: draw(rng, self.random[path]) for path in sorted(self.random)} for _ in range(self.samples)]
        return [{**g, **d} for g in grid for d in draws]

    def _base_overrides(self) -> dict[str, Any]:
        base: dict[str, Any] = dict(self.fixed)
        if self.days is not None:
            base["days"] = self.days
        if self.check is not None:
            base["check"] = self.check
        return base

    def runs(self, fingerprint: str | None = None) -> list[RunSpec]:
        """Every run: points x seeds, each with its resolved scenario and cache key."""
        fingerprint = fingerprint or code_fingerprint()
        first_seed = self.base_seed if self.base_seed is not None else self.scenario.seed
        out = []
        for p, point in enumerate(self.points()):
            for k in range(self.seeds):
                seed = first_seed + k
                scenario = self.scenario.with_overrides({**self._base_overrides(), **point, "seed": seed})
                plugins = plugin_fingerprint(scenario.policy, scenario.formula["name"])
                key = hashlib.sha256(f"{fingerprint}{plugins}\n{scenario.canonical()}".encode()).hexdigest()[:24]
                out.append(RunSpec(len(out), p, point, seed, scenario.raw, key))
        return out


def check_distribution(label: str, spec: Any, kinds: tuple[str, ...] = _DISTRIBUTIONS) -> tuple[str, Any]:
    """A distribution table (`{uniform = [a, b]}`, ...) of sweeps, attack spaces and sensitivity ranges, checked:
    one known kind, finite bounds low <= high (low > 0 for loguniform, integers for int), a non-empty list of
    choices."""
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in kinds:
        raise ValueError(f"{label} must be one of {{{', '.join(kinds)} = [...]}}, got {spec!r}")
    ((kind, args),) = spec.items()
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ValueError(f"{label}: choice needs a non-empty list, got {args!r}")
        return kind, args
    finite = (
        isinstance(args, list)
        and len(args) == 2
        and all(isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a) for a in args)
    )
    if not (finite and args[0] <= args[1] and (kind != "loguniform" or args[0] > 0)):
        raise ValueError(f"{label}: {kind} needs [low, high] with finite low <= high, got {args!r}")
    if kind == "int" and not all(isinstance(a, int) for a in args):  # [1.5, 3] would also draw 1
        raise ValueError(f"{label}: int needs integer bounds, got {args!r}")
    return kind, args


def draw(rng: random.Random, spec: Mapping[str, Any]) -> Any:
    """One value from a `[random]` distribution."""
    ((kind, args),) = spec.items()
    if kind == "choice":
        return args[rng.randrange(len(args))]
    low, high = args
    if kind == "uniform":
        return rng.uniform(low, high)
    if kind == "loguniform":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.randint(int(low), int(high))


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep file; a relative scenario path is looked up next to it first."""
    return load_toml(path, Sweep.from_dict)


def code_fingerprint() -> str:
    """A hash of the simulator's and the model's source: cached runs are reused only by the same code."""
    import choir_model
    import sim

    digest = hashlib.sha256()
    for package in (sim, choir_model):
        root = Path(package.__file__).resolve().parent
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".toml") and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root.parent).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def plugin_fingerprint(*names: str) -> str:
    """A hash of the source of the modules a scenario names as `module:attribute` (the economist's own policy
    or formula), so editing them invalidates the cached runs that used them; "" when none is named."""
    import importlib.util

    digest = hashlib.sha256()
    found = False
    for name in names:
        module = name.partition(":")[0] if ":" in name else None
        spec = importlib.util.find_spec(module) if module else None
        if spec is not None and spec.origin and Path(spec.origin).is_file():
            digest.update(Path(spec.origin).read_bytes())
            found = True
    return digest.hexdigest()[:16] if found else ""


# ----------------------------------------------------------------------------------------------------- running


def execute_run(run: RunSpec) -> dict[str, Any]:
    """Run one simulation (on a worker) and return its summary, or its failure with the trace that broke an
    invariant. Never raises for a simulation error, so dask does not retry a deterministic failure."""
    started = time.perf_counter()
    base = {"index": run.index, "key": run.key, "params": run.params, "seed": run.seed}
    try:
        outcome = simulate_summary(Scenario.from_dict(run.scenario))
    except Exception as error:  # a scenario that does not validate is reported with its run, never lost
        outcome = _failed(error)
    return {**base, **outcome, "wall_seconds": time.perf_counter() - started}


def _failed(error: BaseException, reason: str | None = None) -> dict[str, Any]:
    """A failed run's record (called inside the `except` that caught `error`, for its traceback)."""
    reason = reason or f"{type(error).__name__}: {error}"
    return {"status": "failed", "error": reason, "traceback": traceback.format_exc()}


def simulate_summary(scenario: Scenario) -> dict[str, Any]:
    """Run a validated scenario: `{"status": "ok", "summary": ...}`, or `status` "failed" with the error, its
    traceback and, for a broken invariant, the trace. Never raises for a simulation error. The trace directory
    is only made when a run fails (a unique name under the temporary directory, removed once read): making and
    removing a directory for every run cost about 6% of a cheap run."""
    from sim.engine import SimulationFailed, World
    from sim.metrics import collect

    trace_dir = Path(tempfile.gettempdir()) / f"choir-sweep-{uuid.uuid4().hex}"
    try:
        return {"status": "ok", "summary": collect(World(scenario, trace_dir=trace_dir).run()).summary}
    except SimulationFailed as failure:
        trace = Path(failure.trace_path).read_text(encoding="utf-8")
        return {**_failed(failure, f"InvariantViolation: {failure.violation}"), "trace": trace}
    except Exception as error:  # every failure is reported with its run, never lost
        return _failed(error)
    finally:
        shutil.rmtree(trace_dir, ignore_errors=True)  # nothing there unless the run failed


@dataclass
class SweepResult:
    """A finished sweep: one row per run (parameters, seed, status, summary metrics), the failures, and how
    many runs came from the cache."""

    results: pd.DataFrame
    failures: list[dict[str, Any]]
    ran: int
    cached: int
    out: Path
    wall_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


def run_sweep(
    sweep: Sweep | str | Path,
    out: str | Path | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    client: Any | None = None,
    executor: Executor | None = None,
) -> SweepResult:
    """Run (or resume) a sweep and write `results`, `failures.json` and `sweep.json` into `out`
    (default `out/sweeps/<name>`). The runs go to `executor` (left open), or else to one made from `workers`
    (0: in this process), `scheduler` or `client` (see `sim.executors.make_executor`) and closed after."""
    if not isinstance(sweep, Sweep):
        sweep = load_sweep(sweep)
    out = Path(out) if out is not None else Path("out") / "sweeps" / sweep.name
    cache = out / "runs"
    cache.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    runs = sweep.runs()
    done: dict[int, dict[str, Any]] = {}
    for run in runs:
        hit = cache / f"{run.key}.json"
        if hit.exists():
            with open(hit, encoding="utf-8") as handle:
                done[run.index] = {**json.load(handle), "index": run.index, "params": run.params}
    cached = len(done)
    todo = [run for run in runs if run.index not in done]

    def finish(result: dict[str, Any]) -> None:
        if result["status"] == "ok":
            write_json(result, cache / f"{result['key']}.json", sort_keys=False)
        elif "trace" in result:
            failures_dir = out / "failures"
            failures_dir.mkdir(exist_ok=True)
            trace_path = failures_dir / f"run{result['index']:05d}-{result['key']}.jsonl"
            trace_path.write_text(result.pop("trace"), encoding="utf-8")
            result["trace_path"] = str(trace_path)
        done[result["index"]] = result
        if on_result is not None:
            on_result(result)

    owned = executor is None
    executor = executor or make_executor(workers, scheduler, client)
    try:
        with _progress(progress, len(runs), cached, sweep.name) as advance:

            def collected(position: int, result: Any) -> None:
                if isinstance(result, JobError):
                    run = todo[position]
                    result = {
                        "index": run.index,
                        "key": run.key,
                        "params": run.params,
                        "seed": run.seed,
                        "status": "failed",
                        "error": result.error,
                        "traceback": result.traceback,
                    }
                finish(result)
                advance(result)

            executor.run(execute_run, [(run,) for run in todo], collected, [f"choir-run-{r.key}" for r in todo])
    finally:
        if owned:
            executor.close()

    results = results_frame(sweep, runs, done)
    failures = [
        {k: done[r.index].get(k) for k in ("index", "params", "seed", "key", "error", "trace_path", "traceback")}
        for r in runs
        if done[r.index]["status"] != "ok"
    ]
    write_frame(results, out / "results")
    results.to_csv(out / "results.csv", index=False, lineterminator="\n")
    write_json(failures, out / "failures.json")
    write_json(
        {
            "name": sweep.name,
            "scenario": sweep.scenario.raw,
            "seeds": sweep.seeds,
            "mode": sweep.mode,
            "parameters": sweep.parameters,
            "points": sweep.points(),
            "runs": len(runs),
        },
        out / "sweep.json",
    )
    return SweepResult(results, failures, len(todo), cached, out, time.perf_counter() - started)


class _progress:
    """A rich progress bar of runs done (cached runs count as done), or nothing."""

    def __init__(self, enabled: bool, total: int, cached: int, name: str) -> None:
        self.enabled, self.total, self.cached, self.name = enabled, total, cached, name
        self.failed = 0

    def __enter__(self) -> Callable[[dict[str, Any]], None]:
        if not self.enabled:
            return lambda result: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
        )
        self.bar.start()
        self.task = self.bar.add_task(self.name, total=self.total, completed=self.cached, status=self._status())

        def advance(result: dict[str, Any]) -> None:
            self.failed += result["status"] != "ok"
            self.bar.update(self.task, advance=1, status=self._status())

        return advance

    def _status(self) -> str:
        failed = f", [red]{self.failed} failed[/red]" if self.failed else ""
        return f"{self.cached} cached{failed}"

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()


def _cell(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) else json.dumps(value, sort_keys=True)


def results_frame(sweep: Sweep, runs: Iterable[RunSpec], done: Mapping[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per run in run order: run, point, seed, status, the swept parameters, then every summary
    metric (NaN for failed runs). Wall-clock times are left out so the table is reproducible."""
    rows = []
    metric_names: list[str] = []
    for run in runs:
        summary = done[run.index].get("summary") or {}
        for name in summary:
            if name not in metric_names:
                metric_names.append(name)
    for run in runs:
        result = done[run.index]
        summary = result.get("summary") or {}
        row: dict[str, Any] = {"run": run.index, "point": run.point, "seed": run.seed, "status": result["status"]}
        for path in sweep.parameters:
            row[path] = _cell(run.params.get(path))
        for name in metric_names:
            if name not in ("seed",):
                row[f"m.{name}" if name in row else name] = summary.get(name, math.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def aggregate(results: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Mean, standard deviation and count of a metric over Monte Carlo seeds, per parameter point."""
    ok = results[results["status"] == "ok"]
    grouped = ok.groupby(by, sort=True)[metric]
    return grouped.agg(["mean", "std", "count"]).reset_index()
