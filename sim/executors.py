"""Executors: where independent simulation jobs run, apart from what they compute (radCAD's split of a sweep's
specification from its execution).

Sweeps, Monte Carlo runs, `sim compare`, sensitivity analysis and the attack search all hand a list of jobs (a
picklable function and its arguments) to one of these and get each result back as it finishes, tagged with the
job's index, so their tables are assembled in job order and are the same whatever ran them:

* `InProcess`: one job after the other in this process (no start-up cost; what tests and small runs use);
* `DaskExecutor`: a dask `LocalCluster` of single-threaded worker processes on 127.0.0.1 (started once and
  reused for every batch until the executor is closed), an existing cluster at `scheduler`, or a given client.

A job that raises, or whose worker is lost, comes back as a `JobError` with the exception's text and traceback:
it fails alone, never the batch. Use an executor as a context manager, or call `close()`.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import choir_dask

Done = Callable[[int, Any], None]
"""Called once per job as it finishes: (job index, its result or a `JobError`)."""


@dataclass(frozen=True)
class JobError:
    """A job that raised (or whose worker died): the exception as text and its traceback."""

    error: str
    traceback: str

    @classmethod
    def of(cls, error: BaseException) -> JobError:
        return cls(f"{type(error).__name__}: {error}", "".join(traceback.format_exception(error)))


class Executor(Protocol):
    """Runs `function(*args)` for each args tuple; calls `done(index, result)` as each finishes."""

    parallelism: int

    def run(
        self, function: Callable[..., Any], jobs: Sequence[tuple], done: Done, keys: Sequence[str] = ()
    ) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class InProcess:
    """Every job in this process, in order."""

    parallelism = 1

    def run(self, function: Callable[..., Any], jobs: Sequence[tuple], done: Done, keys: Sequence[str] = ()) -> None:
        for index, args in enumerate(jobs):
            try:
                result = function(*args)
            except Exception as error:  # a failing job is reported, never lost
                result = JobError.of(error)
            done(index, result)

    def close(self) -> None:
        return None

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DaskExecutor:
    """Jobs on dask.distributed: a LocalCluster of `workers` processes (started on first use, kept until
    `close`), the cluster at `scheduler` (`tcp://host:8786`), or an existing `client` (left open)."""

    def __init__(self, workers: int = 2, scheduler: str | None = None, client: Any | None = None) -> None:
        self.workers, self.scheduler = workers, scheduler
        self._client, self._owned, self._cluster = client, client is None, None

    @property
    def parallelism(self) -> int:
        if self._client is not None:
            return max(1, len(self._client.scheduler_info().get("workers", {})))
        return max(1, self.workers)

    @property
    def client(self) -> Any:
        if self._client is None:
            if self.scheduler:
                self._client = choir_dask.connect(self.scheduler)
            else:
                self._cluster = local_cluster(self.workers)
                self._client = choir_dask.connect(self._cluster)
        return self._client

    def run(self, function: Callable[..., Any], jobs: Sequence[tuple], done: Done, keys: Sequence[str] = ()) -> None:
        from dask.distributed import as_completed

        if not jobs:
            return
        client = self.client
        futures = {}
        for index, args in enumerate(jobs):
            key = f"{keys[index]}-{index}" if keys else None
            futures[client.submit(function, *args, key=key, pure=False)] = index
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as error:  # a lost worker fails its job, not the batch
                result = JobError.of(error)
            done(futures[future], result)

    def close(self) -> None:
        if self._owned and self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(workers: int = 0, scheduler: str | None = None, client: Any | None = None) -> Executor:
    """`InProcess` for `workers=0` with no scheduler or client; otherwise a `DaskExecutor`."""
    if client is not None or scheduler or workers > 0:
        return DaskExecutor(workers, scheduler, client)
    return InProcess()


WORKER_PRELOAD = ("distributed", "sim.sweep", "sim.engine", "sim.metrics")


def local_cluster(workers: int, start_method: str | None = None) -> Any:
    """Our LocalCluster (`choir_dask.local_cluster`) for the simulator's jobs: its workers' fork server has
    already imported dask, pandas and the simulator (`WORKER_PRELOAD`); `start_method` chooses another way to
    start them."""
    return choir_dask.local_cluster(workers, WORKER_PRELOAD, method=start_method)
