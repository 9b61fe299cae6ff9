"""A mutation-testing session: which mutants, which are known equivalent, which verdicts are cached, and running
the rest on several processes.

* Equivalent mutants (no behaviour change) are listed in a committed TOML file, by default
  `programs/choir/mutation-equivalents.toml`, each with its reason; they are not run and not scored. An entry
  names a mutant by id; only its last part, the line-independent key, has to match, so moving code does not
  invalidate the list. An entry that matches no mutant of the files and operators a session generated is reported
  as stale (`stale_entries`): judged against everything generated, not the sample or the mutants picked to run.
* Verdicts are cached in a JSON-lines file, one line per finished mutant, keyed by the mutated program's source
  hash, the campaign settings and the checker's version (`execute.checker_version`): an interrupted or repeated
  session resumes where it stopped, and any change to the program, the settings or the property suite reruns
  exactly what it affects. A cached time-out is retried when the time limit grew.
* Jobs run on a Dask `LocalCluster` of `workers` single-threaded processes (loopback only), on the cluster at
  `scheduler` (whose workers must have this package installed, as for `choir sim sweep`), or in this process
  with `workers=0`.
* The unmutated program runs too: if the campaign fails on it, no verdict means anything, and the session says so.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from choir_dask import connect
from properties.mutation.execute import CampaignSettings, Job, checker_version, execute, program_sources, source_hash
from properties.mutation.mutant import KILLED, SURVIVED, TIMED_OUT, Mutant, Verdict

EQUIVALENTS_FILE = "mutation-equivalents.toml"
BASELINE = "unmutated"


@dataclass(frozen=True)
class Record:
    """One row of the report: a mutant (program or model), its verdict, or the reason it is not scored."""

    id: str
    operator: str
    file: str
    account_check: bool
    description: str
    verdict: Verdict | None
    equivalent: str = ""
    cached: bool = False
    diff: str = ""
    expected: str = ""
    """Model mutants: the properties expected to catch it (`model_mutants.EXPECTED`)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operator": self.operator,
            "file": self.file,
            "account_check": self.account_check,
            "description": self.description,
            "status": "equivalent" if self.equivalent else self.verdict.status if self.verdict else "",
            "cached": self.cached,
        }
        if self.verdict is not None:
            out.update({k: v for k, v in self.verdict.to_json().items() if k != "status"})
        if self.equivalent:
            out["reason"] = self.equivalent
        if self.diff:
            out["diff"] = self.diff
        if self.expected:
            out["expected"] = self.expected
        return out


@dataclass
class SessionResult:
    target: str
    records: list[Record]
    baseline: Verdict | None
    stale_equivalents: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    ran: int = 0
    cached: int = 0


class VerdictCache:
    """The JSON-lines verdict cache (see the module docstring); `path=None` caches nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, dict[str, Any]] = {}
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[str(entry["key"])] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interrupted run: that mutant simply runs again

    def get(self, key: str, timeout: float) -> Verdict | None:
        entry = self.entries.get(key)
        if entry is None:
            return None
        verdict = Verdict.from_json(entry["verdict"])
        if verdict.status == TIMED_OUT and float(entry.get("timeout", 0)) < timeout:
            return None
        return verdict

    def put(self, key: str, mutant_id: str, verdict: Verdict, timeout: float) -> None:
        entry = {"key": key, "mutant": mutant_id, "timeout": timeout, "verdict": verdict.to_json()}
        self.entries[key] = entry
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, sort_keys=True) + "\n")


def load_equivalents(path: Path) -> dict[str, tuple[str, str]]:
    """The equivalent mutants of a TOML file: key -> (id as written, reason). ValueError names a bad entry."""
    if not path.exists():
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not TOML: {error}") from None
    unknown = sorted(set(raw) - {"equivalent"})
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {', '.join(unknown)}; expected [[equivalent]] entries")
    found: dict[str, tuple[str, str]] = {}
    for number, entry in enumerate(raw.get("equivalent", []), start=1):
        mutant, reason = entry.get("mutant"), entry.get("reason")
        extra = sorted(set(entry) - {"mutant", "reason"})
        if not isinstance(mutant, str) or not mutant or not isinstance(reason, str) or not reason.strip() or extra:
            raise ValueError(f"{path}: entry {number} needs exactly `mutant` (an id) and a non-empty `reason`")
        found[mutant.rsplit(":", 1)[-1]] = (mutant, reason.strip())
    return found


JobRunner = Callable[[Sequence[Job], Callable[[Job, Verdict], None]], None]


@dataclass
class Execution:
    """How a session's jobs run: the campaign each mutant faces, its time limit, the runner (`in_process` or
    `on_dask`), the verdict cache, and who hears of each verdict as it comes (name, verdict, from the cache)."""

    settings: CampaignSettings
    timeout: float
    run: JobRunner
    cache: VerdictCache
    on_verdict: Callable[[str, Verdict, bool], None] | None = None


def program_session(
    source_dir: Path,
    mutants: Sequence[Mutant],
    equivalents: dict[str, tuple[str, str]],
    execution: Execution,
    stale: Sequence[str] = (),
) -> SessionResult:
    """Judge `mutants` of the program at `source_dir` (equivalent ones excluded), plus the unmutated program;
    `stale` are the equivalents entries `stale_entries` found, carried into the result's report."""
    started = time.perf_counter()
    version, settings = checker_version(), execution.settings
    scored = [m for m in mutants if m.key not in equivalents]
    sources = program_sources(source_dir)

    def job(mutant: Mutant | None) -> Job:
        material = f"program\0{source_hash(sources, mutant)}\0{settings.canonical()}\0{version}"
        key = hashlib.sha256(material.encode()).hexdigest()[:32]
        return Job("program", key, settings, execution.timeout, mutant=mutant, sources=sources)

    jobs = [job(None), *(job(m) for m in scored)]
    verdicts, ran, from_cache = _judge_all(jobs, execution, lambda j: j.mutant.id if j.mutant else BASELINE)
    texts = dict(sources)
    records = []
    for mutant in mutants:
        reason = equivalents.get(mutant.key, ("", ""))[1]
        verdict, cached = verdicts.get(mutant.id, (None, False))
        diff = mutant.diff(texts[mutant.file]) if verdict is not None and verdict.status == SURVIVED else ""
        records.append(
            Record(
                mutant.id,
                mutant.operator,
                mutant.file,
                mutant.account_check,
                mutant.description,
                verdict,
                reason,
                cached,
                diff,
            )
        )
    baseline = verdicts[BASELINE][0]
    return SessionResult("program", records, baseline, list(stale), time.perf_counter() - started, ran, from_cache)


def stale_entries(
    equivalents: dict[str, tuple[str, str]],
    generated: Sequence[Mutant],
    files: Sequence[str] = (),
    operators: Sequence[str] = (),
) -> list[str]:
    """The equivalents entries that name no mutant any more: those whose file and operator (from their id) are
    within `files` and `operators` (what `generated` was generated for; empty means all) and whose key is none of
    `generated`'s. `generated` is the whole generation, before any sample or `--mutant` choice: an entry is stale
    because the program changed, never because a sample left its mutant out."""
    known = {m.key for m in generated}
    stale = []
    for key, (mutant_id, _) in equivalents.items():
        parts = mutant_id.split(":")
        file, operator = parts[0], parts[-2] if len(parts) > 2 else ""
        in_scope = (not files or any(Path(file).match(g) for g in files)) and (not operators or operator in operators)
        if in_scope and key not in known:
            stale.append(mutant_id)
    return sorted(stale)


def model_session(names: Sequence[str], execution: Execution) -> SessionResult:
    """Judge the model mutants `names` of `model_mutants` (the true model is the baseline)."""
    from properties.mutation.model_mutants import EXPECTED, MODEL_MUTANTS

    started = time.perf_counter()
    version, settings = checker_version(), execution.settings

    def job(name: str | None) -> Job:
        key = hashlib.sha256(f"model\0{name}\0{settings.canonical()}\0{version}".encode()).hexdigest()[:32]
        return Job("model", key, settings, execution.timeout, model_mutant=name)

    jobs = [job(name) for name in names]
    verdicts, ran, from_cache = _judge_all(jobs, execution, lambda j: str(j.model_mutant))
    records = []
    for name in names:
        rules = MODEL_MUTANTS[name]
        verdict, cached = verdicts[name]
        doc = (rules.__doc__ or "").strip().splitlines()[0]
        expected = ", ".join(sorted(EXPECTED[rules]))
        records.append(Record(name, name, "model_mutants.py", False, doc, verdict, cached=cached, expected=expected))
    return SessionResult("model", records, None, [], time.perf_counter() - started, ran, from_cache)


def _judge_all(
    jobs: Sequence[Job], execution: Execution, name: Callable[[Job], str]
) -> tuple[dict[str, tuple[Verdict, bool]], int, int]:
    cache, on_verdict = execution.cache, execution.on_verdict
    verdicts: dict[str, tuple[Verdict, bool]] = {}
    todo = []
    for job in jobs:
        hit = cache.get(job.key, job.timeout)
        if hit is None:
            todo.append(job)
            continue
        verdicts[name(job)] = (hit, True)
        if on_verdict is not None:
            on_verdict(name(job), hit, True)

    def finish(job: Job, verdict: Verdict) -> None:
        if verdict.killed_by != "lost":
            cache.put(job.key, name(job), verdict, job.timeout)
        verdicts[name(job)] = (verdict, False)
        if on_verdict is not None:
            on_verdict(name(job), verdict, False)

    execution.run(todo, finish)
    return verdicts, len(todo), len(jobs) - len(todo)


def sample(mutants: Sequence[Mutant], count: int | None, seed: int) -> list[Mutant]:
    """`count` mutants drawn with `seed` (all when `count` is None), in generation order."""
    if count is None or count >= len(mutants):
        return list(mutants)
    chosen = set(random.Random(seed).sample(range(len(mutants)), count))
    return [m for i, m in enumerate(mutants) if i in chosen]


# ------------------------------------------------------------------------------------------------- runners


def in_process(jobs: Sequence[Job], finish: Callable[[Job, Verdict], None]) -> None:
    """Run jobs one after another in this process."""
    for job in jobs:
        finish(job, execute(job))


def on_dask(workers: int, scheduler: str | None = None) -> JobRunner:
    """A runner on a Dask LocalCluster of `workers` single-threaded processes on 127.0.0.1, or on the cluster
    at `scheduler`. The unmutated program's job is submitted first, at a higher priority."""

    def run(jobs: Sequence[Job], finish: Callable[[Job, Verdict], None]) -> None:
        if not jobs:
            return
        from dask.distributed import as_completed

        from properties.cluster import local_cluster

        cluster = None if scheduler is not None else local_cluster(workers)
        client = connect(scheduler or cluster)
        try:
            futures = {
                client.submit(execute, job, key=f"choir-mutant-{job.key}", pure=False, priority=len(jobs) - i): job
                for i, job in enumerate(jobs)
            }
            for future in as_completed(futures):
                job = futures[future]
                try:
                    verdict = future.result()
                except Exception as error:  # a lost worker: reported, never cached, so a rerun retries it
                    verdict = Verdict(KILLED, "lost", f"{type(error).__name__}: {error}"[:300])
                finish(job, verdict)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    return run
