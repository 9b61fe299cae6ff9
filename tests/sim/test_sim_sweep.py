"""Sweeps: points and seeds, reproducible results whatever the workers, resume from the cache, failures kept
apart with their parameters, seed and trace."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sim_testkit import LEAKY

from sim.scenario import load_scenario
from sim.sweep import RunSpec, draw, execute_run, load_sweep, run_sweep

SWEEPS = Path(__file__).resolve().parents[2] / "sim" / "sweeps"


def tiny(tmp_path: Path, body: str, name: str = "tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


GRID = """
[sweep]
name = "tiny"
scenario = "spam"
seeds = 2
days = 2

[fixed]
"world.threads" = 4
"agents.authors.count" = 10
"agents.coauthors.count" = 6

[grid]
"agents.spam.count" = [0, 2]
policy = ["seeds", "collective-2024-11"]
"""


def test_built_in_sweep_files_parse() -> None:
    files = sorted(SWEEPS.glob("*.toml"))
    assert files
    for path in files:
        sweep = load_sweep(path)
        assert sweep.runs()


def test_grid_points_times_seeds(tmp_path: Path) -> None:
    sweep = load_sweep(tiny(tmp_path, GRID))
    points = sweep.points()
    assert len(points) == 4 and points[0] == {"agents.spam.count": 0, "policy": "seeds"}
    runs = sweep.runs()
    assert [(r.point, r.seed) for r in runs] == [(p, s) for p in range(4) for s in (1, 2)]
    assert len({r.key for r in runs}) == 8
    assert runs[3].scenario["policy"] == "collective-2024-11" and runs[3].scenario["days"] == 2
    assert runs[3].scenario["world"]["threads"] == 4


def test_random_sampling_is_reproducible_and_in_bounds(tmp_path: Path) -> None:
    body = GRID.replace("seeds = 2", 'seeds = 1\nmode = "random"\nsamples = 5\nsample_seed = 3') + (
        '[random]\n"agents.authors.stake_factor" = { loguniform = [0.5, 2.0] }\n'
        '"agents.spam.specs_per_day" = { uniform = [1.0, 3.0] }\n"world.keeper_interval" = { int = [60, 600] }\n'
        '"formula" = { choice = ["quantum", "linear"] }\n'
    )
    first, second = load_sweep(tiny(tmp_path, body)).points(), load_sweep(tiny(tmp_path, body)).points()
    assert first == second and len(first) == 4 * 5
    for point in first:
        assert 0.5 <= point["agents.authors.stake_factor"] <= 2.0
        assert 1.0 <= point["agents.spam.specs_per_day"] <= 3.0
        assert isinstance(point["world.keeper_interval"], int) and 60 <= point["world.keeper_interval"] <= 600
        assert point["formula"] in ("quantum", "linear")
    assert len({p["agents.authors.stake_factor"] for p in first}) == 5
    rng = random.Random(0)
    assert {draw(rng, {"int": [1, 2]}) for _ in range(50)} == {1, 2}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (GRID.replace("seeds = 2", "seeds = 0"), "seeds must be >= 1"),
        (GRID.replace('name = "tiny"', 'name = "tiny"\nworkers = 3'), "unknown [sweep] key(s) workers"),
        (GRID + '[random]\n"days" = { uniform = [1, 2] }\n', "[random] needs mode"),
        (GRID.replace("[0, 2]", "[0, -2]"), "count: must be >= 0"),
        (GRID.replace('"seeds", "collective-2024-11"', '"seeds", "nope"'), "unknown policy 'nope'"),
        (GRID + "[extra]\nx = 1\n", "unknown table(s) extra"),
    ],
)
def test_bad_sweeps_fail_before_running(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        load_sweep(tiny(tmp_path, body))
    assert message in str(info.value)


def test_in_process_sweep_resumes_from_its_cache(tmp_path: Path) -> None:
    path = tiny(tmp_path, GRID)
    seen: list[int] = []

    def stop_after_three(result: dict) -> None:
        seen.append(result["index"])
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(path, out=tmp_path / "out", workers=0, progress=False, on_result=stop_after_three)
    assert len(list((tmp_path / "out" / "runs").glob("*.json"))) == 3
    resumed = run_sweep(path, out=tmp_path / "out", workers=0, progress=False)
    assert (resumed.cached, resumed.ran, resumed.failures) == (3, 5, [])
    fresh = run_sweep(path, out=tmp_path / "fresh", workers=0, progress=False)
    assert fresh.cached == 0 and fresh.ran == 8
    assert (tmp_path / "out" / "results.parquet").read_bytes() == (tmp_path / "fresh" / "results.parquet").read_bytes()
    again = run_sweep(path, out=tmp_path / "out", workers=0, progress=False)
    assert (again.cached, again.ran) == (8, 0)
    results = fresh.results
    assert list(results["run"]) == list(range(8)) and set(results["status"]) == {"ok"}
    assert list(results.columns[:6]) == ["run", "point", "seed", "status", "agents.spam.count", "policy"]
    no_spam = results[results["agents.spam.count"] == 0]
    assert (no_spam["attacker_identities"] == 0).all()
    assert (results.loc[results["agents.spam.count"] == 2, "attacker_identities"] == 2).all()


def test_a_failing_run_is_reported_and_the_others_kept(tmp_path: Path) -> None:
    body = GRID.replace('policy = ["seeds", "collective-2024-11"]', f'policy = ["seeds", "{LEAKY}"]')
    body = body.replace("days = 2", "days = 3")
    result = run_sweep(tiny(tmp_path, body), out=tmp_path / "out", workers=0, progress=False)
    failed = result.results[result.results["status"] == "failed"]
    assert set(failed["policy"]) == {LEAKY} and len(failed) == 4
    assert (result.results[result.results["policy"] == "seeds"]["status"] == "ok").all()
    assert len(result.failures) == 4
    for failure in result.failures:
        assert failure["params"]["policy"] == LEAKY and failure["seed"] in (1, 2)
        assert failure["error"].startswith("InvariantViolation") and "conservation" in failure["error"]
        assert Path(failure["trace_path"]).exists()
    recorded = json.loads((tmp_path / "out" / "failures.json").read_text())
    assert [f["index"] for f in recorded] == [f["index"] for f in result.failures]
    # failures are not cached: a resumed sweep retries them, and only them
    again = run_sweep(tiny(tmp_path, body), out=tmp_path / "out", workers=0, progress=False)
    assert (again.cached, again.ran) == (4, 4)


def test_an_exception_in_a_run_is_a_failure_too() -> None:
    """Anything a run raises comes back as a failure with the run's parameters and seed (never an exception that
    dask would retry or that would stop the sweep)."""
    raw = load_scenario("spam").raw
    corrupt = {**raw, "agents": {**raw["agents"], "spam": {**raw["agents"]["spam"], "count": "many"}}}
    result = execute_run(RunSpec(7, 3, {"agents.spam.count": "many"}, 5, corrupt, "k"))
    assert result["status"] == "failed" and result["error"].startswith("ValueError: agents.spam")
    assert (result["index"], result["seed"], result["params"]) == (7, 5, {"agents.spam.count": "many"})
    assert "Traceback" in result["traceback"]


def test_same_results_whatever_the_number_of_workers(tmp_path: Path) -> None:
    """No worker (in process), one LocalCluster worker, or two workers of an existing cluster reached by its
    scheduler address (what `--scheduler ADDR` does): the same bytes."""
    from sim.executors import local_cluster

    body = GRID.replace("seeds = 2", "seeds = 1")
    path = tiny(tmp_path, body)
    serial = run_sweep(path, out=tmp_path / "w0", workers=0, progress=False)
    one = run_sweep(path, out=tmp_path / "w1", workers=1, progress=False)
    cluster = local_cluster(2)
    try:
        two = run_sweep(path, out=tmp_path / "w2", scheduler=cluster.scheduler_address, progress=False)
    finally:
        cluster.close()
    assert serial.ran == one.ran == two.ran == 4 and not (one.failures or two.failures)
    reference = (tmp_path / "w0" / "results.parquet").read_bytes()
    assert (tmp_path / "w1" / "results.parquet").read_bytes() == reference
    assert (tmp_path / "w2" / "results.parquet").read_bytes() == reference


def test_editing_a_named_policy_module_invalidates_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "econ_policy_v.py"
    module.write_text("from choir_model.settlement import SeedsPolicy\n\nclass P(SeedsPolicy):\n    name = 'p'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    body = GRID.replace('policy = ["seeds", "collective-2024-11"]', 'policy = ["seeds", "econ_policy_v:P"]')
    sweep = load_sweep(tiny(tmp_path, body))
    before = [r.key for r in sweep.runs()]
    module.write_text(module.read_text() + "# a comment is a change\n")
    after = [r.key for r in sweep.runs()]
    changed = [b != a for b, a in zip(before, after, strict=True)]
    uses_module = [r.params["policy"] == "econ_policy_v:P" for r in sweep.runs()]
    assert changed == uses_module and any(changed)
