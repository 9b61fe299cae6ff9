"""`choir model ...`, `choir stake` and `choir demo`: the reference model from the command line."""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # error lines stay whole: scripts and logs grep them

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

PolicyOption = Annotated[
    str,
    typer.Option("--policy", help="Settlement policy: seeds, scales-2024-10, collective-2024-11, or module:Class."),
]
FormulaOption = Annotated[str, typer.Option("--formula", help="Stake formula: quantum, quantum-cooling, linear.")]
RunFormulaOption = Annotated[
    str, typer.Option("--formula", help="Stake formula: quantum, quantum-cooling, linear, or module:Class.")
]
ParamsOption = Annotated[
    str | None, typer.Option("--params", help="Model parameters: a JSON object or file (choir_model.Params fields).")
]


def _choose(kind: str, name: str, known: dict) -> None:
    if name not in known:
        err.print(f"[red]unknown {kind} {name!r}[/red]; choose one of: {', '.join(known)}")
        raise typer.Exit(2)


@app.command("run")
def run(
    trace: Annotated[Path, typer.Argument(help="A JSONL trace (docs/spec.md section 8).", exists=True, dir_okay=False)],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per step, then the snapshot.")
    ] = False,
    policy: PolicyOption = "seeds",
    formula: RunFormulaOption = "quantum",
    params: ParamsOption = None,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Check every invariant after every step.")] = True,
) -> None:
    """Replay a trace on the model and print each step's result and the final snapshot (exit 1 if a step breaks
    an invariant)."""
    from choir_model import Model, Params
    from choir_model.model import InvariantViolation
    from choir_model.resolve import load_params, resolve_formula, resolve_policy
    from choir_model.trace import TraceError, read_trace, results_lines, step_result

    try:
        rules, stake_formula = resolve_policy(policy), resolve_formula(formula)
        model_params = load_params(params) if params is not None else Params()
    except ValueError as error:
        err.print(f"[red]{error}[/red] (nothing was run)")
        raise typer.Exit(2) from None
    try:
        steps = read_trace(trace)
    except TraceError as error:
        err.print(f"[red]{trace}: {error}[/red] (nothing was run)")
        raise typer.Exit(2) from None
    model = Model(model_params, policy=rules, formula=stake_formula, check="step" if check else "off")
    results = []
    for index, step in enumerate(steps):
        try:
            results.append(step_result(index, model.try_apply(step)))
        except InvariantViolation as violation:
            err.print(f"[red]step {index}: invariant violated: {escape(str(violation))}[/red]")
            raise typer.Exit(1) from None
    final = model.snapshot()
    if json_out:
        for line in results_lines(results, final):
            sys.stdout.write(line + "\n")
        return
    _print_run(trace.name, policy, steps, results, final)


def _print_run(title: str, policy: str, steps: list, results: list[dict], final: dict) -> None:
    from choir_model.params import CHOIR

    table = Table(title=f"{title} [{policy}]", title_justify="left")
    for column in ("step", "op", "actor", "result"):
        table.add_column(column)
    for step, result in zip(steps, results, strict=True):
        outcome = "[green]ok[/green]" if result["ok"] else f"[yellow]{result['error']}[/yellow]"
        table.add_row(str(result["step"]), step.op, step.actor, outcome)
    console.print(table)
    threads = Table(title="threads", title_justify="left")
    for column in ("thread", "balance (CHOIR)", "co-authors", "T", "omega"):
        threads.add_column(column)
    for thread_id, thread in final["threads"].items():
        threads.add_row(
            thread_id,
            f"{thread['balance'] / CHOIR:,.9f}",
            ", ".join(thread["co_authors"]),
            f"{thread['temperature']:.4f}",
            f"{thread['frequency']:.4f}",
        )
    console.print(threads)
    wallets = ", ".join(f"{name} {amount / CHOIR:,.9f}" for name, amount in final["wallets"].items())
    console.print(f"treasury {final['treasury'] / CHOIR:,.9f} CHOIR; wallets: {wallets or 'none'}")


def _amount(text: str, base_units: bool) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number") from None
    from choir_model.params import CHOIR

    units = value if base_units else value * CHOIR
    if units < 0 or units != units.to_integral_value():
        raise typer.BadParameter(f"{text} is not a whole, non-negative number of base units")
    return int(units)


def stake(
    balance: Annotated[
        str, typer.Option("--balance", help="Thread balance in CHOIR (or base units with --base-units).")
    ],
    coauthors: Annotated[int, typer.Option("--coauthors", min=1, help="Number of co-authors N.")],
    formula: FormulaOption = "quantum",
    age: Annotated[int, typer.Option("--age", min=0, help="Thread age in seconds (cooling formulas).")] = 0,
    base_units: Annotated[bool, typer.Option("--base-units", help="Read --balance in base units.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON object.")] = False,
) -> None:
    """Print the recommended stake (docs/spec.md section 5) with the temperature and frequency it comes from."""
    import json

    from choir_model import FORMULAS, Economics, Params

    _choose("formula", formula, FORMULAS)
    units = _amount(balance, base_units)
    economics = Economics(formula=FORMULAS[formula])
    params = Params()
    unit = params.unit
    recommendation = economics.recommendation(units, coauthors, unit, params.min_stake, age)
    recommended = recommendation.amount
    figures = {
        "formula": formula,
        "balance": units,
        "coauthors": coauthors,
        "temperature": economics.temperature(units, coauthors, unit),
        "frequency": economics.frequency(coauthors),
        "recommended_stake": recommended,
        "recommended_stake_choir": recommended / unit,
        "capped": recommendation.capped,
        "below_min_stake": recommendation.below_min,
    }
    if json_out:
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    note = f" ({recommendation.note})" if recommendation.note else ""
    console.print(
        f"recommended stake: [bold]{recommended / unit:,.9f} CHOIR[/bold] ({recommended} base units){note}\n"
        f"formula {formula}; T = E/N = {figures['temperature']:.6g}; omega = {figures['frequency']:.6g}"
    )


def demo(
    examples: Annotated[Path, typer.Option("--examples", help="Folder of example traces.")] = EXAMPLES,
) -> None:
    """Replay every example trace under every policy and print a summary table."""
    from choir_model import POLICIES, Model
    from choir_model.params import CHOIR
    from choir_model.trace import read_trace

    traces = sorted(examples.glob("*.jsonl"))
    if not traces:
        err.print(f"[red]no example traces in {examples}[/red]")
        raise typer.Exit(2)
    table = Table(title="example traces replayed on the reference model (invariants checked every step)")
    for column in ("trace", "policy", "steps", "ok", "errors", "treasury (CHOIR)", "threads", "co-authors"):
        table.add_column(column, no_wrap=True)
    for path in traces:
        steps = read_trace(path)
        for policy in POLICIES:
            model = Model(policy=policy, check="audit")
            errors: dict[str, int] = {}
            for step in steps:
                error = model.try_apply(step)
                if error:
                    errors[error] = errors.get(error, 0) + 1
            snap = model.snapshot()
            table.add_row(
                path.name,
                policy,
                str(len(steps)),
                str(len(steps) - sum(errors.values())),
                "\n".join(f"{k} x{v}" for k, v in sorted(errors.items())) or "-",
                f"{snap['treasury'] // CHOIR:,}",
                str(len(snap["threads"])),
                "; ".join(f"{t}: {len(v['co_authors'])}" for t, v in snap["threads"].items()),
            )
    console.print(table)
