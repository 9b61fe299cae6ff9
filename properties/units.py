"""A campaign split by seed into work units, so it runs the same on one process or on a Dask cluster.

A soak unit is `SOAK_UNIT_RUNS` whole soak runs (run `r` is seeded by the campaign seed and `r`); an examples unit
is a batch of `EXAMPLE_BATCH` Hypothesis examples seeded by the campaign seed and the batch number. The units and
their seeds depend only on the campaign, never on the number of workers: whoever runs unit `i`, it steps through
the same worlds, so the verdict, the coverage and the first failure are the same on 1 worker or 50 (see
`properties.campaign.assemble`).
"""

from __future__ import annotations

import itertools
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from properties.coverage import Coverage
from properties.lockstep import PropertyFailure

if TYPE_CHECKING:
    from properties.campaign import Campaign

SOAK_RUN = 2000
"""Steps per soak run (one fresh world)."""
SOAK_UNIT_RUNS = 5
EXAMPLE_BATCH = 25


@dataclass(frozen=True)
class Unit:
    """Unit `index` of a campaign: `kind` "soak" (`size` steps from run `number`) or "examples" (`size` examples,
    batch `number`)."""

    index: int
    kind: str
    number: int
    size: int


@dataclass
class UnitResult:
    unit: Unit
    coverage: Coverage
    seconds: float
    failure: PropertyFailure | None = None
    error: str | None = None
    error_detail: str = ""
    stopped: bool = False
    """The deadline came first: the unit ran only part of its size."""
    done: int = 0
    """Steps (soak) or examples run."""

    @property
    def failed(self) -> bool:
        return self.failure is not None or self.error is not None


def _soak_units(total: int | None) -> Iterator[tuple[str, int, int]]:
    size = SOAK_RUN * SOAK_UNIT_RUNS
    for number in itertools.count():
        start = number * size
        if total is not None and start >= total:
            return
        yield "soak", number * SOAK_UNIT_RUNS, size if total is None else min(size, total - start)


def _example_units(total: int | None) -> Iterator[tuple[str, int, int]]:
    for number in itertools.count():
        start = number * EXAMPLE_BATCH
        if total is not None and start >= total:
            return
        yield "examples", number, EXAMPLE_BATCH if total is None else min(EXAMPLE_BATCH, total - start)


def plan(soak: int | None, examples: int | None) -> Iterator[Unit]:
    """The campaign's units in their canonical order. `None` is unbounded (a time-budgeted campaign). Bounded
    phases run soak first, then examples (the cheap soak reaches far states first); when either is unbounded the
    two alternate, so a time budget is shared between them."""
    soaks, batches = _soak_units(soak), _example_units(examples)
    if soak is not None and examples is not None:
        merged: Iterator[tuple[str, int, int]] = itertools.chain(soaks, batches)
    else:
        pairs = itertools.zip_longest(soaks, batches)
        merged = (item for pair in pairs for item in pair if item is not None)
    for index, (kind, number, size) in enumerate(merged):
        yield Unit(index, kind, number, size)


def example_seed(seed: int, batch: int) -> int:
    """Hypothesis's seed for a batch: the campaign seed itself for the first, so a campaign of up to
    `EXAMPLE_BATCH` examples draws what it always drew (soak runs are seeded the same way)."""
    return seed if batch == 0 else seed * 1_000_003 + batch


def run_unit(
    campaign: Campaign,
    unit: Unit,
    deadline: float | None = None,
    on_progress: Callable[[str, int], None] | None = None,
    database: bool = False,
) -> UnitResult:
    """Run one unit on fresh coverage; never raises for a property failure or a toolkit error (both are in the
    result). Runs on a Dask worker as well as in the campaign's own process."""
    from properties.campaign import driver_factory_for, driver_factory_of, hypothesis_examples
    from properties.soak import soak

    coverage = Coverage()
    started = time.perf_counter()
    result = UnitResult(unit, coverage, 0.0)
    try:
        factory = driver_factory_of(campaign)
        if unit.kind == "soak":
            progress = (lambda n: on_progress("soak", n)) if on_progress else None
            outcome = soak(unit.size, campaign.seed, campaign.params, campaign.policy, factory, SOAK_RUN, progress,
                           coverage, campaign.rules, campaign.formula, unit.number, deadline,
                           driver_factory_for(campaign))  # fmt: skip
            result.failure, result.stopped, result.done = outcome.failure, outcome.stopped, outcome.steps
        else:
            progress_one = (lambda: on_progress("examples", 1)) if on_progress else None
            failure = hypothesis_examples(campaign, factory, coverage, unit.size,
                                          example_seed(campaign.seed, unit.number), progress_one, database)  # fmt: skip
            if failure is not None and not isinstance(failure, PropertyFailure):
                raise failure  # an assertion inside the suite itself, not a property
            result.failure, result.done = failure, coverage.examples
    except Exception as error:  # the toolkit failed: reported (exit 3), never a traceback
        result.error = f"{type(error).__name__}: {error}"
        result.error_detail = "".join(traceback.format_exception(error))
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class Assembled:
    """Unit results put together in canonical order, up to the first failing unit."""

    coverage: Coverage = field(default_factory=Coverage)
    first: UnitResult | None = None
    phase_times: dict[str, float] = field(default_factory=dict)
    stopped: bool = False


def assemble(results: dict[int, UnitResult]) -> Assembled:
    """Merge results in unit order and stop at the first unit that failed: what a single process running the
    units one after the other would have reported. Results must be contiguous from unit 0 up to that one."""
    out = Assembled()
    for index in sorted(results):
        result = results[index]
        out.coverage.merge(result.coverage)
        out.phase_times[result.unit.kind] = out.phase_times.get(result.unit.kind, 0.0) + result.seconds
        out.stopped |= result.stopped
        if result.failed:
            out.first = result
            break
    return out
