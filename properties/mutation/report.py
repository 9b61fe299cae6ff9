"""The mutation report: verdicts per operator and per file, the mutation score, the account-check line, and
every surviving mutant as a diff; or the same as JSON for CI.

Score: the share of scored mutants the campaign detected, `(killed + timed out) / (killed + timed out +
survived)`, in percent. A time-out counts as detected (the mutant made the campaign run away, as mutation tools
usually count it); mutants that were not built and the listed equivalent ones are not scored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from properties.mutation.mutant import KILLED, NOT_BUILT, STATUSES, SURVIVED, TIMED_OUT
from properties.mutation.session import Record, SessionResult

EQUIVALENT = "equivalent"
COLUMNS = (*STATUSES, EQUIVALENT)


def status(record: Record) -> str:
    if record.equivalent:
        return EQUIVALENT
    return record.verdict.status if record.verdict is not None else NOT_BUILT


def counts(records: Iterable[Record]) -> Counter[str]:
    return Counter(status(r) for r in records)


def score(tally: Counter[str]) -> float | None:
    """The mutation score in percent, or None when no mutant was scored."""
    detected = tally[KILLED] + tally[TIMED_OUT]
    scored = detected + tally[SURVIVED]
    return 100.0 * detected / scored if scored else None


def grouped(records: list[Record], attribute: str) -> dict[str, Counter[str]]:
    groups: dict[str, Counter[str]] = {}
    for record in records:
        groups.setdefault(getattr(record, attribute), Counter())[status(record)] += 1
    return dict(sorted(groups.items()))


def to_json(result: SessionResult, min_score: float | None) -> dict[str, Any]:
    """The whole report as one JSON object."""
    tally = counts(result.records)
    accounts = counts(r for r in result.records if r.account_check)
    return {
        "target": result.target,
        "score": _round(score(tally)),
        "min_score": min_score,
        "passed": passes(result, min_score),
        "totals": {"mutants": len(result.records), **{k: tally[k] for k in COLUMNS}},
        "account_checks": {
            "mutants": sum(accounts.values()),
            **{k: accounts[k] for k in COLUMNS},
            "score": _round(score(accounts)),
        },
        "operators": {
            k: {**{s: v[s] for s in COLUMNS}, "score": _round(score(v))}
            for k, v in grouped(result.records, "operator").items()
        },
        "files": {
            k: {**{s: v[s] for s in COLUMNS}, "score": _round(score(v))}
            for k, v in grouped(result.records, "file").items()
        },
        "baseline": result.baseline.to_json() if result.baseline is not None else None,
        "stale_equivalents": result.stale_equivalents,
        "elapsed_seconds": round(result.elapsed, 1),
        "cpu_seconds": round(sum(r.verdict.cpu_seconds for r in result.records if r.verdict and not r.cached), 1),
        "ran": result.ran,
        "cached": result.cached,
        "mutants": [r.to_json() for r in result.records],
    }


def baseline_ok(result: SessionResult) -> bool:
    return result.baseline is None or result.baseline.status == SURVIVED


def passes(result: SessionResult, min_score: float | None) -> bool:
    """No verdict counts if the unmutated program fails; otherwise the score must reach `min_score`."""
    if not baseline_ok(result):
        return False
    value = score(counts(result.records))
    return min_score is None or (value is not None and value >= min_score)


def print_report(result: SessionResult, console: Console, min_score: float | None) -> None:
    records = result.records
    console.print(_table("by operator", grouped(records, "operator"), "operator"))
    if result.target == "program":
        console.print(_table("by file", grouped(records, "file"), "file"))
    else:  # each model mutant is its own operator: what caught it, and what was expected to
        console.print(_model_table(records))
    tally = counts(records)
    accounts = counts(r for r in records if r.account_check)
    value = score(tally)
    console.print(
        f"mutation score [bold]{_percent(value)}[/bold]: {tally[KILLED] + tally[TIMED_OUT]} of "
        f"{tally[KILLED] + tally[TIMED_OUT] + tally[SURVIVED]} scored mutants detected "
        f"({tally[NOT_BUILT]} not built, {tally[EQUIVALENT]} equivalent; {result.ran} run, "
        f"{result.cached} cached, {result.elapsed:.0f} s)"
    )
    if sum(accounts.values()):
        survivors = accounts[SURVIVED]
        style = "red" if survivors else "green"
        console.print(
            f"account, signer, owner, PDA and multisig checks: [{style}]{survivors} of "
            f"{accounts[KILLED] + accounts[TIMED_OUT] + survivors} scored mutants survived[/{style}]"
        )
    print_stale(console, result.stale_equivalents)
    if not baseline_ok(result):
        assert result.baseline is not None
        console.print(
            f"[red]the unmutated program fails the campaign ({result.baseline.killed_by}: "
            f"{result.baseline.detail}); fix that first, no verdict above means anything[/red]"
        )
    survivors_list = [r for r in records if status(r) == SURVIVED]
    if survivors_list:
        console.print(f"\n[bold]{len(survivors_list)} surviving mutant(s)[/bold]")
    for record in survivors_list:
        console.print(f"\n[bold red]survived[/bold red] {record.id}  {record.description}", highlight=False)
        if record.diff:
            console.print(record.diff.rstrip("\n"), markup=False, highlight=False)
    if min_score is not None and value is not None and value < min_score:
        console.print(f"[red]mutation score {_percent(value)} is below --min-score {min_score:g}[/red]")


HEADERS = {KILLED: "killed", SURVIVED: "survived", TIMED_OUT: "timeout", NOT_BUILT: "unbuilt", EQUIVALENT: "equiv"}


def print_stale(console: Console, stale: Iterable[str]) -> None:
    """The equivalents entries that name no mutant any more (`session.stale_entries`), one line each."""
    for mutant_id in stale:
        console.print(f"[yellow]stale equivalent entry (no such mutant any more): {mutant_id}[/yellow]")


def _table(title: str, groups: dict[str, Counter[str]], label: str) -> Table:
    table = Table(title=title, title_justify="left", pad_edge=False)
    table.add_column(label, overflow="fold", min_width=21)
    for column in COLUMNS:
        table.add_column(HEADERS[column], justify="right")
    table.add_column("score", justify="right")
    for name, tally in groups.items():
        cells = [str(tally[c]) for c in COLUMNS]
        if tally[SURVIVED]:
            cells[COLUMNS.index(SURVIVED)] = f"[red]{tally[SURVIVED]}[/red]"
        table.add_row(name, *cells, _percent(score(tally)))
    return table


def _model_table(records: list[Record]) -> Table:
    table = Table(title="model mutants", title_justify="left")
    for column in ("mutant", "verdict", "killed by", "expected"):
        table.add_column(column, overflow="fold")
    for record in records:
        verdict = status(record)
        killed_by = record.verdict.killed_by if record.verdict is not None else ""
        table.add_row(
            record.id, f"[red]{verdict}[/red]" if verdict == SURVIVED else verdict, killed_by, record.expected
        )
    return table


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
