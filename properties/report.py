"""The end-of-campaign report: a rich table for people and a JUnit XML file for CI systems."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from choir_model.invariants import INVARIANTS
from properties.campaign import CampaignResult
from properties.coverage import MODEL_ERRORS
from properties.generate import OPS


def print_report(result: CampaignResult, console: Console) -> None:
    c = result.coverage
    campaign = result.campaign
    head = Table(title=f"choir check --target {campaign.target} --policy {campaign.policy} --seed {campaign.seed}",
                 title_justify="left", show_header=False)  # fmt: skip
    head.add_row("steps run", f"{c.steps:,}")
    head.add_row("examples / soak runs", f"{c.examples:,}")
    head.add_row("steps per second", f"{result.steps_per_second:,.0f}")
    head.add_row("elapsed", f"{result.elapsed:.1f} s")
    console.print(head)

    ops = Table(title="operations", title_justify="left")
    for column in ("operation", "attempted", "succeeded", "errors reached"):
        ops.add_column(column)
    for op in OPS:
        reached = sorted(name for (o, name) in c.op_errors if o == op)
        ops.add_row(op, f"{c.ops[op]:,}", f"{c.ok[op]:,}", ", ".join(reached))
    console.print(ops)

    errors = Table(title="error names", title_justify="left")
    errors.add_column("error")
    errors.add_column("times", justify="right")
    for name in MODEL_ERRORS:
        count = c.errors[name]
        errors.add_row(name, f"{count:,}" if count else "[red]0[/red]")
    outcomes = Table(title="settlement outcomes", title_justify="left")
    outcomes.add_column("outcome")
    outcomes.add_column("times", justify="right")
    for kind in ("spec", "request"):
        for outcome in ("approved", "denied", "mixed", "expired"):
            count = c.outcomes[f"{kind} {outcome}"]
            outcomes.add_row(f"{kind} {outcome}", f"{count:,}" if count or kind == "request" else "[red]0[/red]")
    console.print(errors)
    console.print(outcomes)

    verdicts = Table(title="invariants", title_justify="left")
    for column in ("#", "invariant", "verdict"):
        verdicts.add_column(column)
    for name, verdict in c.invariant_verdicts().items():
        style = "green" if verdict == "held" else "bold red"
        verdicts.add_row(str(INVARIANTS[name].number), name, f"[{style}]{verdict}[/{style}]")
    if campaign.target != "model":
        verdict = "VIOLATED" if c.violations["difference"] else "held"
        verdicts.add_row("", f"agreement with {campaign.target}", verdict)
    console.print(verdicts)

    gaps = c.missing()
    if gaps:
        console.print(f"[yellow]not reached:[/yellow] {', '.join(gaps)}")
    if result.failure is not None:
        console.print(f"[bold red]FAILED[/bold red]: {result.failure}")
        if result.trace is not None:
            console.print(
                f"shrunk trace: {result.trace}\nreplay it with: [bold]{campaign.replay_command(result.trace)}"
            )
    else:
        console.print("[bold green]every invariant held[/bold green]")


def write_junit(result: CampaignResult, path: Path) -> None:
    """One test case per invariant (and one for agreement with the target, one for coverage)."""
    c = result.coverage
    suite = ET.Element("testsuite", name=f"choir-check-{result.campaign.target}", time=f"{result.elapsed:.3f}")
    cases: list[tuple[str, str | None]] = []
    for name in INVARIANTS:
        cases.append(
            (f"invariant {INVARIANTS[name].number} {name}", str(result.failure) if c.violations[name] else None)
        )
    if result.campaign.target != "model":
        cases.append(("agreement", str(result.failure) if c.violations["difference"] else None))
    gaps = c.missing()
    cases.append(("coverage", f"not reached: {', '.join(gaps)}" if gaps else None))
    failures = 0
    for name, failure in cases:
        case = ET.SubElement(suite, "testcase", classname="choir.check", name=name)
        if failure is not None:
            failures += 1
            element = ET.SubElement(case, "failure", message=failure.splitlines()[0][:200])
            element.text = failure + (
                f"\nreplay: {result.campaign.replay_command(result.trace)}" if result.trace else ""
            )
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(failures))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
