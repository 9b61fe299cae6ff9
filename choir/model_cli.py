"""`choir model run` and `choir stake`: the reference model from the command line (`choir demo` is in `demo`)."""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from choir.tables import Column, print_table

app = typer.Typer(no_args_is_help=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one plain line on stderr (scripts and logs grep it whole) and return the Exit to raise."""
    sys.stderr.write(" ".join(message.split()) + "\n")
    return typer.Exit(code)


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
        raise fail(f"choir: unknown {kind} {name!r}; choose one of: {', '.join(known)}")


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
        raise fail(f"{error} (nothing was run)") from None
    try:
        steps = read_trace(trace)
    except TraceError as error:
        raise fail(f"{trace}: {error} (nothing was run)") from None
    model = Model(model_params, policy=rules, formula=stake_formula, check="step" if check else "off")
    results = []
    for index, step in enumerate(steps):
        try:
            results.append(step_result(index, model.try_apply(step)))
        except InvariantViolation as violation:
            raise fail(f"{trace}: step {index}: invariant violated: {violation}", 1) from None
    final = model.snapshot()
    if json_out:
        for line in results_lines(results, final):
            sys.stdout.write(line + "\n")
        return
    _print_run(Console(), trace.name, policy, steps, results, final)


def _print_run(console: Console, title: str, policy: str, steps: list, results: list[dict], final: dict) -> None:
    """The steps, the threads and the whole ledger (which adds up to the supply), each fitted to the width."""
    from choir_model.fmt import choir_amount

    rows = []
    for step, result in zip(steps, results, strict=True):
        outcome = "[green]ok[/green]" if result["ok"] else f"[yellow]{result['error']}[/yellow]"
        rows.append([str(result["step"]), step.op, escape(step.actor), outcome])
    print_table(console, escape(f"{title} [{policy}]"), [Column("step", right=True), "op", "actor", "result"], rows)
    rows = [
        [
            escape(thread_id),
            choir_amount(thread["balance"]),
            escape(", ".join(thread["co_authors"])),
            f"{thread['temperature']:.4f}",
            f"{thread['frequency']:.4f}",
        ]
        for thread_id, thread in final["threads"].items()
    ]
    columns = ["thread", Column("balance (CHOIR)", right=True), "co-authors", Column("T", right=True)]
    if rows:
        print_table(console, "threads", [*columns, Column("omega", right=True)], rows)
    # Every holder of tokens, so the column adds up to the supply (invariant 1) to the base unit.
    holdings = [("treasury", final["treasury"])]
    holdings += [(f"wallet {name}", amount) for name, amount in final["wallets"].items()]
    holdings += [(f"thread {thread_id}", thread["balance"]) for thread_id, thread in final["threads"].items()]
    holdings.append(("escrow (pending stakes)", sum(message["stake"] for message in final["messages"].values())))
    holdings.append(("total", sum(amount for _, amount in holdings)))
    rows = [[escape(holder), choir_amount(amount)] for holder, amount in holdings]
    print_table(console, "ledger", ["holder", Column("CHOIR", right=True)], rows)


def _amount(text: str, base_units: bool) -> int:
    """`--balance` in base units: a whole, non-negative number that fits in u64 (spec section 1)."""
    from choir_model.params import CHOIR, U64_MAX

    try:
        value = Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number", param_hint="'--balance'") from None
    units = value if base_units else value * CHOIR
    if not units.is_finite() or units < 0 or units != units.to_integral_value() or units > U64_MAX:
        raise typer.BadParameter(
            f"{text} is not a whole number of base units in 0..{U64_MAX:,}", param_hint="'--balance'"
        )
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
    from choir_model.fmt import choir_amount

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
    Console().print(
        f"recommended stake: [bold]{choir_amount(recommended)} CHOIR[/bold] ({recommended:,} base units){note}\n"
        f"formula {formula}; T = E/N = {figures['temperature']:.6g}; omega = {figures['frequency']:.6g}"
    )
