"""The Dask LocalCluster the project starts for itself, one builder for every caller (campaigns:
`properties.cluster`; sweeps and the simulator's other batches: `sim.executors`; mutation runs and benchmarks
through those).

Why a package of its own: `properties` and `sim` both start one and neither may import the other (README,
"Layout"), and the model is no place for processes, so the builder sits in the lowest layer, beside
`choir_model`, importing nothing of ours. Dask itself is imported only when a cluster is made: the extras that
start one (`properties`, `sim`) install it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def _start_method(requested: str | None = None) -> str:
    """The way worker processes start: `requested`, else the Dask configuration's
    `distributed.worker.multiprocessing-method` when set to something else than its default (`spawn`), else a
    fork server where the platform has one (`spawn` elsewhere)."""
    import multiprocessing

    import dask

    configured = dask.config.get("distributed.worker.multiprocessing-method", "spawn")
    method = requested or (configured if configured != "spawn" else None)
    if method is None:
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return method


def local_cluster(
    workers: int,
    preload: Iterable[str],
    config: Mapping[str, Any] | None = None,
    method: str | None = None,
) -> Any:
    """A LocalCluster of `workers` single-threaded worker processes on the loopback interface, no dashboard, Dask's
    logs below errors silenced.

    Workers start from a fork server (unless `method`, or `_start_method`, says otherwise) that has already
    imported the modules in `preload`: several times faster than Dask's default `spawn`, which re-imports
    everything in each worker, without the hazards of forking a process that runs threads, and a worker's first
    job does not pay the imports. Dask sets its own preload list when it first makes its multiprocessing
    context, so ours is set on that context, after it is made, or it would be replaced. `config` is Dask
    configuration set while the cluster starts (a campaign's rarer housekeeping: `properties.cluster.QUIET`)."""
    import dask
    from dask.distributed import LocalCluster
    from distributed.utils import get_mp_context

    chosen = _start_method(method)
    with dask.config.set({**(config or {}), "distributed.worker.multiprocessing-method": chosen}):
        if chosen == "forkserver":
            get_mp_context().set_forkserver_preload(list(preload))
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, silence_logs=40)  # fmt: skip


class ClusterUnavailable(RuntimeError):
    """No Dask cluster to run on: the scheduler at the address given did not answer. The toolkit's failure, not
    the user's input (the address may be right and the cluster down): the command line exits 3 with this one
    line, never an "internal error"."""


def connect(cluster: Any) -> Any:
    """A Dask client of `cluster`: one `local_cluster` made, or a scheduler's address (`tcp://host:8786`), which
    Dask tries for `distributed.comm.timeouts.connect` (30 s unless configured) before `ClusterUnavailable`."""
    from dask.distributed import Client

    try:
        return Client(cluster)
    except (OSError, TimeoutError) as error:
        if not isinstance(cluster, str):
            raise
        raise ClusterUnavailable(f"cannot reach the Dask scheduler at {cluster}: {error}") from None
