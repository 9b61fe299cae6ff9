"""A campaign split by seed: the same verdict, coverage and first failure on one process and on a Dask cluster,
and a time budget that stops cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from choir.cli import app
from choir_model.trace import read_trace
from properties.campaign import Campaign, CampaignResult, run_campaign
from properties.cluster import local_cluster
from properties.lockstep import PropertyFailure
from properties.mutation.model_mutants import CooldownIgnored
from properties.units import SOAK_RUN, SOAK_UNIT_RUNS, plan


def _passing(failure_dir: Path, **extra: object) -> Campaign:
    return Campaign(soak=25_000, examples=40, steps=50, database=False, failure_dir=failure_dir, **extra)  # type: ignore[arg-type]


def _failing(failure_dir: Path, **extra: object) -> Campaign:
    return Campaign(rules=CooldownIgnored, soak=60_000, examples=0, database=False, failure_dir=failure_dir,
                    **extra)  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CampaignResult]:
    """The campaigns run in one process, before any cluster exists in this one (as `choir check` runs them)."""
    root = tmp_path_factory.mktemp("here")
    return {"passing": run_campaign(_passing(root)), "failing": run_campaign(_failing(root))}


@pytest.fixture(scope="module")
def scheduler(here: dict[str, CampaignResult]) -> Iterator[str]:
    """A two-process LocalCluster on the loopback, as an existing cluster `--scheduler` connects to."""
    cluster = local_cluster(2)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_the_plan_depends_only_on_the_campaign() -> None:
    units = list(plan(3 * SOAK_RUN * SOAK_UNIT_RUNS + 1, 60))
    assert [(u.kind, u.number, u.size) for u in units] == [
        ("soak", 0, 10_000), ("soak", 5, 10_000), ("soak", 10, 10_000), ("soak", 15, 1),
        ("examples", 0, 25), ("examples", 1, 25), ("examples", 2, 10),
    ]  # fmt: skip
    budgeted = plan(None, None)
    assert [next(budgeted).kind for _ in range(4)] == ["soak", "examples", "soak", "examples"]


def test_a_failure_pickles_whole() -> None:
    import pickle

    failure = PropertyFailure("conservation", ["a", "b"], [])
    again = pickle.loads(pickle.dumps(failure))
    assert (again.kind, again.details, str(again)) == (failure.kind, failure.details, str(failure))


def test_a_cluster_finds_what_one_process_finds(
    here: dict[str, CampaignResult], scheduler: str, tmp_path: Path
) -> None:
    there = run_campaign(_passing(tmp_path, scheduler=scheduler))
    assert here["passing"].ok and there.ok, (here["passing"].error, there.error)
    assert here["passing"].coverage == there.coverage


def test_the_first_failure_is_the_same_and_shrunk_once(
    here: dict[str, CampaignResult], scheduler: str, tmp_path: Path
) -> None:
    there = run_campaign(_failing(tmp_path, scheduler=scheduler))
    first = here["failing"]
    assert first.failure is not None and there.failure is not None
    assert there.failure.kind == first.failure.kind == "divestment"
    assert first.shrunk == there.shrunk and read_trace(there.trace) == there.shrunk  # type: ignore[arg-type]
    assert first.coverage == there.coverage  # up to the failing step, wherever it ran


def test_check_on_a_scheduler_writes_the_same_junit(scheduler: str, tmp_path: Path) -> None:
    runner = CliRunner()
    for where, extra in (("here", []), ("there", ["--scheduler", scheduler])):
        result = runner.invoke(app, ["check", "--soak", "12000", "--examples", "30", "--steps", "40", "--junit",
                                     str(tmp_path / f"{where}.xml"), "--failures", str(tmp_path), *extra])  # fmt: skip
        assert result.exit_code == 0, result.output
    assert "the Dask cluster at tcp://127.0.0.1" in result.stdout and "warming the workers up" in result.stdout
    props = [{p.get("name"): p.get("value") for p in ET.parse(tmp_path / f"{w}.xml").iter("property")}
             for w in ("here", "there")]  # fmt: skip
    assert props[0] == props[1]


def test_an_interrupted_cluster_campaign_reports_the_units_that_finished(scheduler: str, tmp_path: Path) -> None:
    """Ctrl-C while waiting on the cluster (here: as the first unit's progress comes in): the units under way are
    cancelled, the ones that finished are the report, and the cluster is left as it was for the next campaign."""
    from properties.report import INTERRUPTED, exit_code

    def interrupt(phase: str, amount: int) -> None:
        raise KeyboardInterrupt

    result = run_campaign(Campaign(soak=10 * SOAK_RUN * SOAK_UNIT_RUNS, examples=0, database=False,
                                   failure_dir=tmp_path, scheduler=scheduler), interrupt)  # fmt: skip
    assert result.interrupted and result.ok
    assert result.coverage.steps == SOAK_RUN * SOAK_UNIT_RUNS  # the one unit whose result came in
    assert exit_code(result, require_coverage=False) == INTERRUPTED
    assert run_campaign(_passing(tmp_path, scheduler=scheduler)).ok


def test_a_time_budget_stops_cleanly_and_says_so(tmp_path: Path) -> None:
    result = run_campaign(Campaign(seconds=1.0, database=False, failure_dir=tmp_path))
    assert result.ok and result.stopped
    assert result.coverage.steps > 0 and result.elapsed < 30
    cli = CliRunner().invoke(app, ["check", "--seconds", "0.5", "--failures", str(tmp_path)])
    assert cli.exit_code == 0 and "time budget of 0.5 s spent" in cli.stdout


def test_an_unreachable_scheduler_is_a_toolkit_error(tmp_path: Path) -> None:
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = run_campaign(Campaign(soak=100, examples=0, scheduler="tcp://127.0.0.1:9", failure_dir=tmp_path))
    assert result.error is not None and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.error
    assert result.failure is None
