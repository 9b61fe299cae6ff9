"""The Dask LocalClusters the project starts (campaigns: `properties.cluster`; sweeps: `sim.executors`) hand their
workers a fork server that has already imported the code the workers run.

Why: Dask sets the fork server's preload list when it first makes its multiprocessing context, and a list set
before that is silently replaced, so each worker's first unit or run paid the imports again. Each case runs in a
process of its own: a fork server, once started, keeps its list."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

CLUSTERS = {
    "campaign": ("properties.cluster", "local_cluster(1, 'program')", ("programs.driver", "properties.soak")),
    "sweep": ("sim.executors", "local_cluster(1)", ("sim.engine", "sim.metrics", "sim.sweep")),
}


@pytest.mark.skipif("forkserver" not in multiprocessing.get_all_start_methods(), reason="no fork server here")
@pytest.mark.parametrize("kind", sorted(CLUSTERS))
def test_workers_start_with_their_code_imported(tmp_path: Path, kind: str) -> None:
    module, call, expected = CLUSTERS[kind]
    script = tmp_path / "preloaded.py"
    script.write_text(
        "import sys\n"
        "from dask.distributed import Client\n"
        f"from {module} import local_cluster\n"
        "def loaded():\n"
        f"    return sorted(m for m in {expected!r} if m in sys.modules)\n"
        "if __name__ == '__main__':\n"
        f"    with {call} as cluster, Client(cluster) as client:\n"
        "        print(list(client.run(loaded).values()))\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[1])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr([sorted(expected)])
