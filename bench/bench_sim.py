"""Benchmark of the simulator: model operations per second inside a simulation as a ratio to plain
`choir_model` speed in the same run (goal: at least 50%), a 90-day baseline with 1,000 agents and 200 threads, and
sweep scaling from 1 to 2 dask workers (goal: at least 1.7x).

1. Overhead and the 90-day run: the baseline scenario scaled to `--agents` agents (2% creators, 38% co-authors,
   60% honest authors) and `--threads` initial threads runs for `--days` days. Its wall time (bootstrap, SimPy
   loop, sampling; not the tables) gives the simulator's model operations per second. The very same steps are
   then replayed on a fresh `Model` with the same rules: that is plain model speed on the same workload. Both with
   every invariant checked on every step (the simulator's default) and with checks off. The ratio is sim / plain.
   Both are timed in CPU seconds of this process (`time.process_time`), best of `--repeat`, so that other jobs on
   a shared machine do not tilt the ratio; the 90-day run's wall time is reported too.
2. Sweep scaling: `--sweep-runs` independent runs (the baseline with `--sweep-agents` agents and a fifth as many
   threads, over `--sweep-days` days, distinct seeds) on a LocalCluster of 1, then 2 worker processes. The
   cluster is started and warmed up (imports done) before the clock starts, so the figure is the scaling of the
   runs themselves; cluster start-up is reported separately. Speed-up = time(1 worker) / time(2 workers).

    .venv/bin/python bench/bench_sim.py [--days 90] [--agents 1000] [--threads 200] [--repeat 3] [--sweep-runs 10]
                                        [--sweep-agents 250] [--sweep-days 60] [--skip-sweep] [--write-docs]

`--write-docs` replaces the "## Simulator" section of docs/BENCHMARKS.md with the figures (creating the file if
needed, touching no other section).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from choir_model import Model
from sim.engine import World
from sim.scenario import Scenario, load_scenario

DOCS = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"


def scaled_baseline(agents: int, threads: int, days: float, seed: int = 1) -> Scenario:
    creators = max(1, round(agents * 0.02))
    coauthors = round(agents * 0.38)
    return load_scenario("baseline").with_overrides(
        {
            "days": days,
            "seed": seed,
            "world.threads": threads,
            "agents.creators.count": creators,
            "agents.coauthors.count": coauthors,
            "agents.authors.count": agents - creators - coauthors,
        }
    )


def time_sim(scenario: Scenario, check: str) -> tuple[World, float, float]:
    """One run: the finished world, its CPU seconds and its wall seconds."""
    world = World(scenario, check=check)
    cpu, wall = time.process_time(), time.perf_counter()
    world.run()
    return world, time.process_time() - cpu, time.perf_counter() - wall


def time_replay(scenario: Scenario, world: World, check: str, pause_gc: bool = True) -> float:
    """CPU seconds to apply the run's steps to a fresh model with the same rules; by default with the cyclic
    garbage collector paused as the simulator pauses it (the stricter comparison: the model is faster so too)."""
    model = Model(scenario.model_params(), scenario.build_policy(), scenario.build_formula(), check)  # type: ignore[arg-type]
    steps = world.steps
    try_apply = model.try_apply
    if pause_gc:
        gc.disable()
    try:
        started = time.process_time()
        for step in steps:
            try_apply(step)
        elapsed = time.process_time() - started
    finally:
        gc.enable()
    assert model.snapshot() == world.model.snapshot(), "the replay must end where the simulation ended"
    return elapsed


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    scenario = scaled_baseline(args.agents, args.threads, args.days)
    out: dict[str, Any] = {"agents": args.agents, "threads": args.threads, "days": args.days, "repeat": args.repeat}
    for check in ("step", "off"):
        sim_seconds = plain_seconds = wall_seconds = default_gc_seconds = float("inf")
        for _ in range(args.repeat):
            world, cpu, wall = time_sim(scenario, check)
            sim_seconds, wall_seconds = min(sim_seconds, cpu), min(wall_seconds, wall)
            plain_seconds = min(plain_seconds, time_replay(scenario, world, check))
            default_gc_seconds = min(default_gc_seconds, time_replay(scenario, world, check, pause_gc=False))
        ops = len(world.steps)
        out[check] = {
            "ops": ops,
            "events": len(world.events),
            "sim_seconds": sim_seconds,
            "wall_seconds": wall_seconds,
            "plain_seconds": plain_seconds,
            "sim_ops_per_s": ops / sim_seconds,
            "plain_ops_per_s": ops / plain_seconds,
            "ratio": plain_seconds / sim_seconds,
            "default_gc_ops_per_s": ops / default_gc_seconds,
            "default_gc_ratio": default_gc_seconds / sim_seconds,
        }
        print(
            f"check={check}: {ops:,} model ops, {len(world.events):,} events; simulation {sim_seconds:.2f} s CPU "
            f"({wall_seconds:.2f} s wall; {ops / sim_seconds:,.0f} ops/s), plain model {plain_seconds:.2f} s "
            f"({ops / plain_seconds:,.0f} ops/s), ratio {plain_seconds / sim_seconds:.0%}; plain model with the "
            f"collector on {default_gc_seconds:.2f} s, ratio {default_gc_seconds / sim_seconds:.0%}",
            flush=True,
        )
    from sim.metrics import collect

    world, _, _ = time_sim(scenario, "step")
    started = time.process_time()
    result = collect(world)
    for table in ("events", "steps", "threads", "groups", "degrees", "final"):  # built when first read
        getattr(result, table)
    out["tables_seconds"] = time.process_time() - started
    out["summary"] = {k: result.summary[k] for k in ("specs_submitted", "approval_rate", "share_timeouts", "threads")}
    print(f"tables (events, series, P&L, network) built in {out['tables_seconds']:.2f} s; {out['summary']}", flush=True)
    return out


def sweep_scaling(args: argparse.Namespace) -> dict[str, Any]:
    from dask.distributed import Client

    from sim.executors import local_cluster
    from sim.sweep import Sweep, execute_run, run_sweep

    base = scaled_baseline(args.sweep_agents, max(2, args.sweep_agents // 5), args.sweep_days)
    sweep = Sweep(name="bench", scenario=base, seeds=args.sweep_runs, base_seed=1)
    out: dict[str, Any] = {"runs": args.sweep_runs, "run_days": args.sweep_days, "run_agents": args.sweep_agents}
    for workers in (1, 2):
        started = time.perf_counter()
        cluster = local_cluster(workers)
        client = Client(cluster)
        warm = sweep.runs()[0]
        client.gather(client.map(execute_run, [warm] * workers, pure=False))  # imports done on every worker
        startup = time.perf_counter() - started
        directory = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
        try:
            result = run_sweep(sweep, out=directory, progress=False, client=client)
            per_run = [json.loads(p.read_text())["wall_seconds"] for p in (directory / "runs").glob("*.json")]
        finally:
            client.close()
            cluster.close()
            shutil.rmtree(directory, ignore_errors=True)
        assert not result.failures and result.ran == args.sweep_runs
        mean_run = sum(per_run) / len(per_run)
        out[workers] = {"seconds": result.wall_seconds, "startup_seconds": startup, "mean_run_seconds": mean_run}
        print(
            f"sweep of {args.sweep_runs} runs on {workers} worker(s): {result.wall_seconds:.2f} s "
            f"(mean run {mean_run:.2f} s on its worker; cluster start and warm-up {startup:.2f} s)",
            flush=True,
        )
    out["speedup"] = out[1]["seconds"] / out[2]["seconds"]
    print(f"speed-up 1 -> 2 workers: {out['speedup']:.2f}x", flush=True)
    return out


def markdown(over: dict[str, Any], sweep: dict[str, Any] | None, command: str, load: str) -> str:
    s, o = over["step"], over["off"]
    lines = [
        "## Simulator",
        "",
        f"Command: `{command}` (bench/bench_sim.py; its docstring says what is timed; best of {over['repeat']}). "
        f"Machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average when measured: {load} (other "
        "jobs shared the machine).",
        "",
        "| figure | value | goal |",
        "|---|---:|---|",
        f"| {over['days']:g}-day baseline, {over['agents']:,} agents, {over['threads']} initial threads, checks on "
        f"every step | {s['wall_seconds']:.1f} s wall ({s['sim_seconds']:.1f} s CPU) for {s['ops']:,} model ops, "
        f"{s['events']:,} events | runs |",
        f"| the same with checks off | {o['wall_seconds']:.1f} s wall ({o['sim_seconds']:.1f} s CPU) | |",
        f"| tables of that run (event log, series, P&L, network) | {over['tables_seconds']:.1f} s CPU | |",
        f"| model ops/s inside the simulation, checks on | {s['sim_ops_per_s']:,.0f} | |",
        f"| plain `choir_model` ops/s on the same steps, checks on (cyclic GC paused, as in the simulator) | "
        f"{s['plain_ops_per_s']:,.0f} | |",
        f"| ratio sim / plain, checks on | **{s['ratio']:.0%}** | >= 50% |",
        f"| same, against the plain model with Python's default GC ({s['default_gc_ops_per_s']:,.0f} ops/s) | "
        f"{s['default_gc_ratio']:.0%} | |",
        f"| model ops/s inside the simulation, checks off | {o['sim_ops_per_s']:,.0f} | |",
        f"| plain `choir_model` ops/s on the same steps, checks off | {o['plain_ops_per_s']:,.0f} | |",
        f"| ratio sim / plain, checks off | {o['ratio']:.0%} | |",
    ]
    if sweep is not None:
        lines += [
            f"| sweep of {sweep['runs']} runs ({sweep['run_agents']} agents, {sweep['run_days']:g} days each), "
            f"1 worker | {sweep[1]['seconds']:.1f} s | |",
            f"| same sweep, 2 workers | {sweep[2]['seconds']:.1f} s | |",
            f"| speed-up 1 -> 2 workers | **{sweep['speedup']:.2f}x** | >= 1.7x |",
            f"| mean wall time of one run on its worker, 1 worker / 2 workers | {sweep[1]['mean_run_seconds']:.2f} s / "
            f"{sweep[2]['mean_run_seconds']:.2f} s (equal when the two cores are free) | |",
            f"| LocalCluster start and warm-up (not in the sweep times) | {sweep[1]['startup_seconds']:.1f} s (1 "
            f"worker), {sweep[2]['startup_seconds']:.1f} s (2 workers) | |",
        ]
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    """Replace (or append) the '## Simulator' section of docs/BENCHMARKS.md, leaving every other section alone."""
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Simulator\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOCS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=float, default=90)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sweep-runs", type=int, default=10)
    parser.add_argument("--sweep-agents", type=int, default=250)
    parser.add_argument("--sweep-days", type=float, default=60)
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    over = overhead(args)
    sweep = None if args.skip_sweep else sweep_scaling(args)
    load = f"{load} before, {', '.join(f'{x:.1f}' for x in os.getloadavg())} after"
    command = ".venv/bin/python bench/bench_sim.py" + (" --skip-sweep" if args.skip_sweep else "")
    section = markdown(over, sweep, command, load)
    print()
    print(section)
    if args.write_docs:
        write_docs(section)
        print(f"written to {DOCS}")


if __name__ == "__main__":
    main()
