"""Running a campaign's units on Dask: a LocalCluster of `workers` processes started here, or the workers of an
existing cluster (`scheduler`, whose workers must have this package installed), as `choir sim sweep` does.

Units are submitted in their canonical order, a few per worker at a time (so a time-budgeted campaign, whose plan
never ends, submits only what can run). Once a unit fails, no unit after it is submitted and those already out are
cancelled; the units before it are waited for, since one of them may fail too and come first. That is the result
one process would give (`properties.units.assemble`)."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import choir_dask
from properties.coverage import Coverage
from properties.units import SOAK_RUN, Unit, UnitResult, run_unit

if TYPE_CHECKING:
    from properties.campaign import Campaign

IN_FLIGHT_PER_WORKER = 2
WORKER_PRELOAD = ("distributed", "hypothesis", "choir_model", "properties.campaign", "properties.soak")
TARGET_PRELOAD = {"program": ("programs.driver",)}
QUIET = {
    "distributed.worker.profile.enabled": False,  # samples the running unit's stack every 10 ms, for a dashboard
    "distributed.admin.tick.interval": "1s",  # measures the event loop's lag every 20 ms
    "distributed.worker.memory.monitor-interval": "1s",  # reads each worker's memory every 100 ms
    "distributed.admin.system-monitor.interval": "2s",  # CPU and network figures for the dashboard
    "distributed.scheduler.work-stealing": False,  # each worker holds only IN_FLIGHT_PER_WORKER units anyway
}
"""Dask's housekeeping on our own LocalCluster, made rarer: every wake-up of a worker's event loop takes the GIL
from the unit it runs, and the scheduler's shares the two cores with the workers (5% of the steps/s of 2 workers
in alternating runs, `bench/bench_campaign.py`). A `--scheduler` cluster keeps its own configuration."""
WARM_UP = Unit(-1, "soak", 0, SOAK_RUN)
"""Each worker's warm-up: one soak world, its result thrown away."""
WARM_UP_SECONDS = 2.0
"""A slow target (the backend, over HTTP) stops warming after this long."""


def local_cluster(workers: int, target: str = "model") -> Any:
    """Our LocalCluster (`choir_dask.local_cluster`) for a campaign: its workers' fork server has already imported
    dask, Hypothesis and the suite (`WORKER_PRELOAD`, and the target's driver), and Dask's housekeeping runs less
    often (`QUIET`)."""
    return choir_dask.local_cluster(workers, [*WORKER_PRELOAD, *TARGET_PRELOAD.get(target, ())], config=QUIET)


def portable(campaign: Campaign) -> Campaign:
    """The campaign as a worker elsewhere can run it: the program target carries its image's bytes (built or
    read once, here) rather than a path or a build on every worker."""
    options = dict(campaign.driver_options)
    if campaign.target == "program" and "transport" not in options and "image" not in options:
        path = options.pop("image_path", None)
        if path is not None:
            options["image"] = Path(path).read_bytes()
        else:
            from programs.driver import default_program_image

            options["image"] = default_program_image()
    return dataclasses.replace(campaign, driver_options=options)


def warm_up(client: Any, shipped: Campaign) -> None:
    """Run `WARM_UP` on every worker and wait for it: part of starting the cluster, not of the campaign (the
    report shows it). A fresh worker's first units run slower: the first full garbage collection and every first
    write to an object it shares with the fork server copy a page, and the caches of the program's keys and the
    interpreter's specialized code fill. Its result (a failure too) is not the campaign's: the units that count
    run the same worlds again."""
    deadline = time.time() + WARM_UP_SECONDS
    run_id = uuid.uuid4().hex[:8]
    futures = [client.submit(_warm_up, shipped, deadline, key=f"choir-warm-up-{run_id}-{i}", pure=False,
                             workers=[address], allow_other_workers=False)
               for i, address in enumerate(client.scheduler_info().get("workers", {}))]  # fmt: skip
    client.gather(futures)


def _warm_up(campaign: Campaign, deadline: float) -> None:
    import gc

    run_unit(campaign, WARM_UP, deadline)
    gc.collect()  # the first full collection touches every object inherited from the fork server


def run_distributed(
    campaign: Campaign,
    units: Iterator[Unit],
    deadline: float | None,
    on_progress: Callable[[str, int], None] | None,
    on_started: Callable[[float, float], None] | None = None,
) -> tuple[dict[int, UnitResult], bool]:
    """Run units on Dask until the plan ends, a unit fails, the deadline passes or the campaign is interrupted
    (Ctrl-C: the units under way are cancelled); results by unit index, and whether it was interrupted.
    `on_started(start, warm_up)` hears how long the cluster took to start (or to connect to) and then to warm its
    workers up (`warm_up`), both seconds."""
    shipped = portable(campaign)
    started = time.perf_counter()
    from dask.distributed import as_completed  # about a second the first time: part of the start

    cluster = local_cluster(campaign.workers, campaign.target) if campaign.scheduler is None else None
    client = choir_dask.connect(cluster if cluster is not None else campaign.scheduler)
    try:
        connected = time.perf_counter()
        warm_up(client, shipped)
        if on_started is not None:
            on_started(connected - started, time.perf_counter() - connected)
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        run_id = uuid.uuid4().hex[:8]
        futures: dict[str, Unit] = {}
        flight = as_completed()
        results: dict[int, UnitResult] = {}
        first_failure: int | None = None
        stopped = False

        def submit() -> None:
            if stopped or (deadline is not None and time.time() >= deadline):
                return
            unit = next(units, None)
            if unit is None or (first_failure is not None and unit.index > first_failure):
                return
            key = f"choir-unit-{run_id}-{unit.index}"
            futures[key] = unit
            flight.add(client.submit(run_unit, shipped, unit, deadline, key=key, pure=False))

        for _ in range(workers * IN_FLIGHT_PER_WORKER):
            submit()
        interrupted = False
        try:
            for future in flight:
                unit = futures[future.key]
                if future.cancelled():
                    continue
                try:
                    result = future.result()
                except Exception as error:  # a lost worker fails its unit: a toolkit error, reported as such
                    result = UnitResult(unit, Coverage(), 0.0, error=f"{type(error).__name__}: {error}")
                results[unit.index] = result
                if on_progress is not None:
                    on_progress("soak" if unit.kind == "soak" else "examples", result.done)
                if result.failed and (first_failure is None or unit.index < first_failure):
                    first_failure = unit.index
                    for other in list(flight.futures):
                        if futures[other.key].index > unit.index:
                            other.cancel()
                stopped |= result.stopped
                submit()
        except KeyboardInterrupt:
            interrupted = True
            client.cancel(list(flight.futures))
        if first_failure is not None:
            results = {i: r for i, r in results.items() if i <= first_failure}
        return results, interrupted
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
