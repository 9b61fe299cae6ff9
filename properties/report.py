"""The end-of-campaign report: a rich table for people and a JUnit XML file for CI systems."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from choir_model.invariants import INVARIANTS
from properties.attacks import attack_table
from properties.campaign import CampaignResult
from properties.coverage import MODEL_ERRORS
from properties.creation import PROPERTY as CREATION
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
    where = f"the Dask cluster at {campaign.scheduler}" if campaign.scheduler else f"{campaign.workers} process(es)"
    started = f" (started in {result.startup:.1f} s, {result.warm_up:.1f} s of it warming the workers up)"
    head.add_row("ran on", where + (started if result.startup else ""))
    if campaign.seconds is not None:
        head.add_row("time budget", f"{campaign.seconds:g} s" + (" (spent: stopped early)" if result.stopped else ""))
    console.print(head)
    if (result.error is not None or result.interrupted) and not c.steps and not c.examples:
        # Nothing finished (no cluster to run on, a target that would not start, a signal during the first run):
        # coverage tables of zeros and invariants "held" would read as a verdict on nothing.
        if result.error is not None:
            console.print(f"[bold red]ERROR[/bold red]: the toolkit failed before any step ran: {escape(result.error)}")
        else:
            console.print("[yellow]interrupted[/yellow] before any example or soak run finished: nothing to report")
        return

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
    if campaign.target == "program":
        verdict = "VIOLATED" if c.violations[CREATION] else "held"
        verdicts.add_row("", "account creation (fewest system calls)", verdict)
    console.print(verdicts)
    attacks = attack_table(c)
    if attacks is not None:
        console.print(attacks)

    gaps = c.missing()
    if gaps:
        console.print(f"[yellow]not reached:[/yellow] {', '.join(gaps)}")
    if result.interrupted:
        console.print(
            f"[yellow]interrupted[/yellow]: stopped after {c.steps:,} steps in {c.examples:,} examples and soak runs "
            "that finished (the ones under way were dropped); the verdict below is for what ran"
        )
    elif result.stopped:
        console.print(
            f"[yellow]time budget of {campaign.seconds:g} s spent[/yellow]: stopped cleanly after {c.steps:,} steps "
            f"in {c.examples:,} examples and soak runs; the verdict below is for what ran"
        )
    if result.error is not None:
        console.print(f"[bold red]ERROR[/bold red]: the toolkit failed: {escape(result.error)}")
    elif result.failure is not None:
        console.print(f"[bold red]FAILED[/bold red]: {escape(str(result.failure))}")
        if result.trace is not None:
            command = escape(campaign.replay_command(result.trace, result.failure.params))
            what = "shrunk trace" if result.shrunk is not None else "trace (not shrunk: interrupted)"
            console.print(f"{what}: {result.trace}\nreplay it with: [bold]{command}")
    else:
        console.print("[bold green]every invariant held[/bold green]")


INTERRUPTED = 130
"""The exit code of a campaign a signal stopped before it was done: the command line's `choir.interrupts.INTERRUPTED`,
stated here because the property suite may not import the command line."""


def exit_code(result: CampaignResult, require_coverage: bool) -> int:
    """0 every property held (and, with `require_coverage`, everything was reached); 1 a violation, a difference
    or a required coverage gap; 3 the toolkit itself failed; 130 interrupted before any of those (what ran held,
    but the campaign asked for is not done)."""
    if result.error is not None:
        return 3
    if result.failure is not None:
        return 1
    if result.interrupted:
        return INTERRUPTED
    if require_coverage and result.coverage.missing():
        return 1
    return 0


def failure_text(result: CampaignResult) -> str:
    """The full message of the campaign's failure: what broke, the shrunk steps and the replay command."""
    text = str(result.failure)
    if result.shrunk is not None:
        text += "\nshrunk steps:\n" + "\n".join(f"  {i}: {step!r}" for i, step in enumerate(result.shrunk))
    if result.trace is not None:
        text += f"\nreplay: {result.campaign.replay_command(result.trace, result.failure.params)}"
    return text


def write_junit(result: CampaignResult, path: Path, require_coverage: bool = False) -> None:
    """One test case per invariant, one for agreement with the target (differential targets), one for coverage
    (a failure only with `require_coverage`, as for the exit code) and one per phase with its time; the seed,
    target, profile and policy as properties. Every invariant is checked on every step of both phases, so an
    invariant case carries the time of the phases together. A toolkit failure is an `<error>` of the phase that
    hit it (or of the campaign)."""
    c, campaign = result.coverage, result.campaign
    suite = ET.Element("testsuite", name=f"choir-check-{campaign.target}", time=f"{result.elapsed:.3f}")
    properties = ET.SubElement(suite, "properties")
    for name, value in (("seed", campaign.seed), ("target", campaign.target), ("profile", campaign.profile),
                        ("policy", campaign.policy), ("steps", c.steps), ("examples", c.examples)):  # fmt: skip
        ET.SubElement(properties, "property", name=name, value=str(value))
    checked = sum(result.phase_times.values())
    failure = failure_text(result) if result.failure is not None else None
    cases: list[tuple[str, float, str | None]] = []
    for name, invariant in INVARIANTS.items():
        cases.append((f"invariant {invariant.number} {name}", checked, failure if c.violations[name] else None))
    if campaign.target != "model":
        cases.append(("agreement", checked, failure if c.violations["difference"] else None))
    if campaign.target == "program":
        cases.append((CREATION, checked, failure if c.violations[CREATION] else None))
    if c.attacks:
        cases.append(("access_control", checked, failure if c.violations["access_control"] else None))
    gaps = c.missing()
    cases.append(("coverage", 0.0, f"not reached: {', '.join(gaps)}" if gaps and require_coverage else None))
    failures = errors = 0
    for name, seconds, message in cases:
        case = ET.SubElement(suite, "testcase", classname="choir.check", name=name, time=f"{seconds:.3f}")
        if message is not None:
            failures += 1
            ET.SubElement(case, "failure", message=message.splitlines()[0]).text = message
        elif name == "coverage" and gaps:
            ET.SubElement(case, "system-out").text = f"not reached: {', '.join(gaps)}"
    for phase, seconds in result.phase_times.items():
        ET.SubElement(suite, "testcase", classname="choir.check.phase", name=phase, time=f"{seconds:.3f}")
    if result.error is not None:
        errors += 1
        case = ET.SubElement(suite, "testcase", classname="choir.check", name="toolkit", time="0.000")
        ET.SubElement(case, "error", message=result.error).text = result.error_detail or result.error
    if result.interrupted:  # not a pass: the campaign asked for did not run to its end
        errors += 1
        case = ET.SubElement(suite, "testcase", classname="choir.check", name="interrupted", time="0.000")
        ET.SubElement(case, "error", message=f"interrupted after {c.steps:,} steps")
    suite.set("tests", str(len(suite.findall("testcase"))))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def github_annotation(result: CampaignResult) -> str | None:
    """The GitHub Actions `::error` workflow command for a failed campaign (None when it passed); newlines and
    percent signs are escaped as the runner expects, so the whole message shows in the annotation."""
    if result.error is not None:
        title, message = "choir check: the toolkit failed", result.error
    elif result.failure is not None:
        title, message = f"choir check: {result.failure.kind}", failure_text(result)
    else:
        return None
    where = f"file={_escape(str(result.trace), True)}," if result.trace is not None else ""
    return f"::error {where}title={_escape(title, True)}::{_escape(message)}"


def _escape(text: str, is_property: bool = False) -> str:
    """GitHub's workflow-command escaping (data: % CR LF; properties also : and ,)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if is_property else text
