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

from properties.coverage import Coverage
from properties.units import Unit, UnitResult, run_unit

if TYPE_CHECKING:
    from properties.campaign import Campaign

IN_FLIGHT_PER_WORKER = 2
WORKER_PRELOAD = ("distributed", "hypothesis", "choir_model", "properties.campaign")


def local_cluster(workers: int) -> Any:
    """A LocalCluster of single-threaded worker processes on the loopback interface, no dashboard. Workers start
    from a fork server that has already imported dask, Hypothesis and the suite (`WORKER_PRELOAD`), several times
    faster than dask's default `spawn`."""
    import multiprocessing

    import dask
    from dask.distributed import LocalCluster

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    if method == "forkserver":
        multiprocessing.set_forkserver_preload(list(WORKER_PRELOAD))
    with dask.config.set({"distributed.worker.multiprocessing-method": method}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, silence_logs=40)  # fmt: skip


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


def run_distributed(
    campaign: Campaign,
    units: Iterator[Unit],
    deadline: float | None,
    on_progress: Callable[[str, int], None] | None,
    on_started: Callable[[float], None] | None = None,
) -> dict[int, UnitResult]:
    """Run units on Dask until the plan ends, a unit fails or the deadline passes; results by unit index.
    `on_started(seconds)` hears how long the cluster took to start (or to connect to)."""
    from dask.distributed import Client, as_completed

    shipped = portable(campaign)
    started = time.perf_counter()
    cluster = local_cluster(campaign.workers) if campaign.scheduler is None else None
    client = Client(cluster if cluster is not None else campaign.scheduler)
    if on_started is not None:
        on_started(time.perf_counter() - started)
    try:
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
        if first_failure is not None:
            results = {i: r for i, r in results.items() if i <= first_failure}
        return results
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
