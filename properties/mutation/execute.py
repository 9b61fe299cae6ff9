"""Judging one mutant: build it, run the property campaign against it, and say what happened.

This is what a worker process runs, one job at a time. A program job writes the C source into its own
temporary directory, applies the mutant, builds it there (so concurrent jobs never share a file), and runs the
campaign on the `program` target with that `.so`; a model job runs the campaign on the model with one broken
rule set of `model_mutants`. The verdict:

* `killed`: the campaign failed; `killed_by` names the property (an invariant, `difference` for a disagreement
  with the model, `access_control` for an attack that succeeded, or `error` when the driver itself could not run
  the mutant, for example because genesis failed);
* `survived`: the whole campaign passed;
* `timed out`: the campaign's time budget (the job's limit) ran out before it finished (the campaign stops
  between steps; a single transaction cannot run away, LiteSVM's compute budget stops it);
* `not built`: clang or our linker refused the mutant (the compiler's message is the detail).

The unmutated program is a job too (`mutant=None`): a campaign that fails on it would make every verdict
meaningless, so the session checks it first.
"""

from __future__ import annotations

import hashlib
import json
import resource
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from properties.mutation.mutant import KILLED, NOT_BUILT, SURVIVED, TIMED_OUT, Mutant, Verdict


@dataclass(frozen=True)
class CampaignSettings:
    """The campaign each mutant faces (`properties.campaign.Campaign`'s knobs; None is the profile's default)."""

    profile: str = "ci"
    seed: int = 0
    examples: int | None = None
    steps: int | None = None
    soak: int | None = None

    def canonical(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Job:
    """One unit of work for a worker: a program mutant (or the unmutated program) or a model mutant by name."""

    target: str
    key: str
    settings: CampaignSettings
    timeout: float
    mutant: Mutant | None = None
    model_mutant: str | None = None
    sources: tuple[tuple[str, str], ...] = ()
    """The program's source files (relative path, text): the job carries them, so a worker on another machine
    needs no checkout of them."""


def execute(job: Job) -> Verdict:
    """Run one job to its verdict, with its wall-clock and CPU seconds. Never raises for anything the mutant
    does."""
    started, cpu = time.perf_counter(), _cpu()
    verdict = _judge(job, started + job.timeout)
    return replace(verdict, seconds=time.perf_counter() - started, cpu_seconds=_cpu() - cpu)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (clang)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _judge(job: Job, deadline: float) -> Verdict:
    if job.target == "model":
        return _campaign(job, deadline, {}, _model_rules(job.model_mutant))
    with tempfile.TemporaryDirectory(prefix="choir-mutant-") as tmp:
        source = Path(tmp) / "src"
        for rel, text in job.sources:
            path = source / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if job.mutant is not None and job.mutant.file == rel:
                text = job.mutant.apply(text)
            path.write_text(text, encoding="utf-8")
        built = _build(source, Path(tmp) / "build")
        if isinstance(built, Verdict):
            return built
        return _campaign(job, deadline, {"image_path": str(built)}, None)


def _build(source: Path, out: Path) -> Path | Verdict:
    from programs.toolchain.build import BuildError, build
    from programs.toolchain.link import LinkError

    try:
        return build(out, source_dir=source).path
    except (BuildError, LinkError) as error:
        lines = [line for line in str(error).splitlines() if "error" in line.lower()] or str(error).splitlines()
        return Verdict(NOT_BUILT, detail=(lines[0] if lines else type(error).__name__)[-300:])


def _model_rules(name: str | None) -> Any:
    from properties.mutation.model_mutants import MODEL_MUTANTS

    if name not in MODEL_MUTANTS:
        raise ValueError(f"unknown model mutant {name!r}")
    return MODEL_MUTANTS[name]


def _campaign(job: Job, deadline: float, driver_options: dict[str, Any], rules: Any) -> Verdict:
    from properties.campaign import Campaign, profile_settings, run_campaign

    settings = job.settings
    sizes = profile_settings(job.target, settings.profile)
    with tempfile.TemporaryDirectory(prefix="choir-mutant-failures-") as tmp:
        campaign = Campaign(
            target=job.target,
            profile=settings.profile,
            examples=sizes["examples"] if settings.examples is None else settings.examples,
            steps=settings.steps,
            seed=settings.seed,
            soak=sizes["soak"] if settings.soak is None else settings.soak,
            failure_dir=Path(tmp),
            database=False,
            driver_options=driver_options,
            seconds=max(deadline - time.perf_counter(), 0.0),
            shrink=False,
        )
        if rules is not None:
            campaign.rules = rules
        result = run_campaign(campaign)
    failure = result.failure
    if failure is not None:
        where = f"step {len(failure.steps) - 1}: " if failure.steps else ""
        return Verdict(KILLED, failure.kind, (where + (failure.details[0] if failure.details else ""))[:300])
    if result.error is not None:  # the driver could not even run the mutant (a failed genesis): caught
        return Verdict(KILLED, "error", result.error[:300])
    if result.stopped:
        return Verdict(TIMED_OUT, detail=f"over {job.timeout:g} s")
    return Verdict(SURVIVED)


def program_sources(source_dir: Path | str) -> tuple[tuple[str, str], ...]:
    """Every .c and .h file of the program under `source_dir`: (relative path, text), sorted."""
    root = Path(source_dir)
    files = sorted(p for p in root.rglob("*") if p.suffix in (".c", ".h"))
    return tuple((p.relative_to(root).as_posix(), p.read_text(encoding="utf-8")) for p in files)


def source_hash(sources: tuple[tuple[str, str], ...], mutant: Mutant | None = None) -> str:
    """A hash of the program's source with `mutant` applied: the program a verdict is about."""
    digest = hashlib.sha256()
    for rel, text in sources:
        if mutant is not None and mutant.file == rel:
            text = mutant.apply(text)
        digest.update(f"{rel}\0{len(text)}\0".encode())
        digest.update(text.encode())
    return digest.hexdigest()


def checker_version() -> str:
    """A hash of the code that judges a mutant: the model, the property suite (of this package only the
    executor and the model mutants: reporting does not change a verdict), the program's client and toolchain.
    A change to any of them invalidates cached verdicts."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for package in ("choir_model", "properties", "programs"):
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            judging = path.name in ("execute.py", "model_mutants.py")
            if "__pycache__" in path.parts or (rel.startswith("properties/mutation/") and not judging):
                continue
            digest.update(rel.encode())
            digest.update(path.read_bytes())
    digest.update((root / "programs" / "choir" / "idl.json").read_bytes())
    return digest.hexdigest()[:16]
