"""`choir demo`: replay the example traces under every policy and check each against its expected result.

Each `examples/NN_name.jsonl` may have a hand-computed `NN_name.expect.json`: per policy, the outcome of every
step (`"ok"` or the error name) and selected values of the final snapshot, keyed like `treasury`,
`wallets.alice`, `threads.t1.balance` or `messages.t1/<hash>.state` (a wallet absent from the snapshot reads 0).
The demo prints what each run did and whether it matched, and exits 1 if any expectation failed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from choir.tables import Column, print_table

err = Console(stderr=True, soft_wrap=True)  # error lines stay whole: scripts and logs grep them


def examples_dir() -> Path:
    """The example traces: shipped inside the package when installed from a wheel (`choir/examples`), the
    repository's `examples/` when run from a checkout."""
    packaged = Path(__file__).resolve().parent / "examples"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "examples"


def lookup(snapshot: dict[str, Any], key: str) -> Any:
    """The value an expectation key points at in a snapshot (None when absent; a missing wallet holds 0)."""
    head, _, rest = key.partition(".")
    node = snapshot.get(head)
    if not rest:
        return node
    if head == "wallets":
        return (node or {}).get(rest, 0)
    name, _, field = rest.rpartition(".")
    return ((node or {}).get(name) or {}).get(field)


def mismatches(expected: dict[str, Any], outcomes: list[str], snapshot: dict[str, Any]) -> list[str]:
    """What differs between one policy's expectation and a run (step outcomes, then final values); [] if none."""
    problems = [
        f"step {i}: {got}, expected {want}"
        for i, (got, want) in enumerate(zip(outcomes, expected["steps"], strict=False))
        if got != want
    ]
    if len(outcomes) != len(expected["steps"]):
        problems.append(f"{len(outcomes)} steps, expected {len(expected['steps'])}")
    for key, want in expected["final"].items():
        got = lookup(snapshot, key)
        if got != want or type(got) is not type(want):
            problems.append(f"{key}: {got!r}, expected {want!r}")
    return problems


@dataclass
class Run:
    """One trace replayed under one policy."""

    policy: str
    outcomes: list[str]
    snapshot: dict[str, Any]
    problems: list[str] | None  # None: no expectation for this policy


def replay(path: Path) -> tuple[str, list[Run]]:
    """Replay a trace under every policy, every invariant audited after every step; with the expectation's
    description."""
    from choir_model import POLICIES, Model
    from choir_model.trace import read_trace

    expect_path = path.with_name(path.name.removesuffix(".jsonl") + ".expect.json")
    document = _expectation(expect_path) if expect_path.exists() else {}
    expect = document.get("expect", {})
    steps = read_trace(path)
    runs = []
    for policy in POLICIES:
        model = Model(policy=policy, check="audit")
        outcomes = [model.try_apply(step) or "ok" for step in steps]
        snapshot = model.snapshot()
        problems = mismatches(expect[policy], outcomes, snapshot) if policy in expect else None
        runs.append(Run(policy, outcomes, snapshot, problems))
    return document.get("about", ""), runs


def _expectation(path: Path) -> dict[str, Any]:
    """An expectation file, its shape checked (`{"about": str, "expect": {policy: {"steps": [...], "final":
    {...}}}}`); ValueError naming the file and what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not readable JSON ({error})") from None
    expect = document.get("expect", {}) if isinstance(document, dict) else None
    if not isinstance(expect, dict) or not isinstance(document.get("about", ""), str):
        raise ValueError(f'{path}: expected {{"about": text, "expect": {{policy: ...}}}}')
    for policy, wanted in expect.items():
        if not (isinstance(wanted, dict) and isinstance(wanted.get("steps"), list)
                and isinstance(wanted.get("final"), dict)):  # fmt: skip
            raise ValueError(f'{path}: the expectation of {policy!r} needs "steps" (a list) and "final" (an object)')
    return document


def _errors(outcomes: list[str]) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        if outcome != "ok":
            counts[outcome] = counts.get(outcome, 0) + 1
    return ", ".join(f"{name} x{n}" for name, n in sorted(counts.items())) or "none"


def demo(
    examples: Annotated[
        Path | None, typer.Option("--dir", help="Folder of example traces [default: the shipped examples].")
    ] = None,
) -> None:
    """Replay every example trace under every policy and check it against its expected result."""
    from choir_model.fmt import choir_amount

    console = Console()
    folder = examples or examples_dir()
    traces = sorted(folder.glob("*.jsonl"))
    if not traces:
        err.print(f"[red]no example traces (*.jsonl) in {folder}[/red]")
        raise typer.Exit(2)
    from choir_model.trace import TraceError

    replayed = []
    for path in traces:  # all read and run before anything is printed: a bad file is exit 2 and nothing else
        try:
            replayed.append((path, *replay(path)))
        except ValueError as error:  # a trace that is not one (TraceError), or an expectation file
            line = f"{path}: {error}" if isinstance(error, TraceError) else str(error)
            err.print(line, style="red", markup=False)
            raise typer.Exit(2) from None
    console.print(
        "[bold]Example traces replayed on the reference model[/bold] (every invariant audited after every step)"
    )
    failed = []
    for path, about, runs in replayed:
        rows = []
        for run in runs:
            ok = sum(outcome == "ok" for outcome in run.outcomes)
            verdict = "-" if run.problems is None else "[red]FAILED[/red]" if run.problems else "[green]holds[/green]"
            rows.append([run.policy, f"{ok}/{len(run.outcomes)}", verdict, choir_amount(run.snapshot["treasury"])])
            failed += [f"{path.name} [{run.policy}]: {problem}" for problem in run.problems or []]
        console.print()
        if about:
            console.print(f"[dim]{escape(about)}[/dim]")
        print_table(
            console,
            escape(path.name),
            ["policy", Column("ok", right=True), "expected", Column("treasury (CHOIR)", right=True)],
            rows,
        )
        errors = {_errors(run.outcomes) for run in runs}
        if len(errors) == 1:
            console.print(f"errors: {errors.pop()}")
        else:
            for run in runs:
                console.print(f"errors ({run.policy}): {_errors(run.outcomes)}")
    if failed:
        for line in failed:
            err.print(f"[red]{escape(line)}[/red]")
        raise typer.Exit(1)
