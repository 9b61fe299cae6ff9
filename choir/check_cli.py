"""`choir check`: property campaigns against a target, and `choir check replay` of a failing trace."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from choir_model import Params
    from programs.transport import RpcTransport

app = typer.Typer(no_args_is_help=False)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # error lines stay whole: scripts and logs grep them

TargetOption = Annotated[str, typer.Option("--target", help="model, model-trace, program or backend.")]
PolicyOption = Annotated[
    str,
    typer.Option(
        "--policy", help="Settlement policy: a name or module:Class, as the simulator takes (the program: seeds only)."
    ),
]
FormulaOption = Annotated[
    str,
    typer.Option(
        "--formula",
        help="Stake formula (name or module:Class): the generator sizes stakes by it, the model's analytics use it.",
    ),
]
ParamsOption = Annotated[
    str | None, typer.Option("--params", help="Model parameters: a JSON object or file (choir_model.Params fields).")
]


def rpc_option(scope: str) -> Any:
    """`--rpc`, shared by `choir check` (scope "program target") and `choir serve` (scope "rpc chain"), so the two
    commands name and describe a deployed program the same way."""
    return typer.Option("--rpc", help=f"{scope}: a validator's JSON-RPC URL.")


def program_id_option(scope: str) -> Any:
    """`--program-id` (see `rpc_option`)."""
    return typer.Option("--program-id", help=f"{scope}: the deployed program id.")


def keypair_option(scope: str) -> Any:
    """`--keypair` (see `rpc_option`)."""
    return typer.Option("--keypair", help=f"{scope}: fee payer keypair file (JSON array).", exists=True)


CAMPAIGN_RPC = "refused by a campaign, exit 2 (use `choir check replay`)"
RpcOption = Annotated[str | None, rpc_option("program target")]
ProgramIdOption = Annotated[str | None, program_id_option("program target")]
KeypairOption = Annotated[Path | None, keypair_option("program target")]


def rpc_transport(rpc: str, program_id: str, keypair: Path) -> RpcTransport:
    """The `RpcTransport` the three options describe; ValueError (saying which option) if one cannot be parsed."""
    from solders.keypair import Keypair
    from solders.pubkey import Pubkey

    from programs.transport import RpcTransport as Transport

    try:
        key = Pubkey.from_string(program_id)
    except ValueError as error:
        raise ValueError(f"--program-id {program_id!r} is not a base58 public key: {error}") from None
    try:
        payer = Keypair.from_json(keypair.read_text())
    except (ValueError, OSError) as error:
        raise ValueError(f"--keypair {keypair}: not a keypair file (a JSON array of 64 bytes): {error}") from None
    return Transport(rpc, key, payer)


def driver_options(target: str, rpc: str | None, program_id: str | None, keypair: Path | None) -> dict[str, Any]:
    """Options for the target's driver: a JSON-RPC transport when `--rpc` is given (program target only)."""
    if rpc is None:
        return {}
    if target != "program" or program_id is None or keypair is None:
        err.print("[red]--rpc needs --target program, --program-id and --keypair[/red]")
        raise typer.Exit(2)
    try:
        return {"transport": rpc_transport(rpc, program_id, keypair)}
    except ValueError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None


ProgramOption = Annotated[
    Path | None,
    typer.Option("--program", help="program target: a prebuilt .so to check instead of building programs/choir."),
]
IdlOption = Annotated[
    Path | None, typer.Option("--idl", help="program target: the program's Anchor-format IDL (JSON) to drive it by.")
]


def read_idl(path: Path) -> dict[str, Any]:
    """`--idl`: the program's Anchor-format IDL as JSON, once its every type and instruction compiled; ValueError
    naming the file when it cannot be read or used."""
    from programs.client.coder import IdlCoder

    try:
        idl = json.loads(path.read_text(encoding="utf-8"))
        IdlCoder(idl)
    except (OSError, ValueError, KeyError, TypeError) as error:
        detail = f"not an Anchor IDL: no field {error}" if isinstance(error, KeyError) else str(error)
        raise ValueError(f"--idl {path}: {detail}") from None
    return idl


def program_options(target: str, program: Path | None, idl: Path | None) -> dict[str, Any]:
    """Options for the program target's driver from `--program` (the image's bytes, so a Dask worker elsewhere
    runs the same build) and `--idl` (its parsed JSON); exit 2 naming the file when one cannot be used."""
    if program is None and idl is None:
        return {}
    if target != "program":
        err.print("[red]--program and --idl need --target program[/red]")
        raise typer.Exit(2)
    options: dict[str, Any] = {}
    try:
        if program is not None:
            image = program.read_bytes()
            if not image.startswith(b"\x7fELF"):
                raise ValueError(f"--program {program}: not an ELF shared object (build it with `choir program build`)")
            options["image"] = image
        if idl is not None:
            options["idl"] = read_idl(idl)
    except (OSError, ValueError) as error:
        err.print(f"[red]{error}[/red] (nothing was run)")
        raise typer.Exit(2) from None
    return options


EXIT_CODES = (
    "Exit codes: 0 every property held; 1 an invariant was violated, the target disagreed with the model, or (with "
    "--require-coverage) something was not reached; 2 bad arguments or an unreadable input (nothing ran); 3 the "
    "toolkit itself failed (a crash, a driver error, a missing compiler: the message says how to install it); 130 "
    "interrupted (Ctrl-C, SIGTERM) before any of those: what finished is reported, and in the JUnit file."
)


def rules_options(policy: str, formula: str | None, params: str | None) -> Params:
    """Check `--policy` and `--formula` (names or module:Class, loaded as the simulator loads them) and read
    `--params`; exit 2 naming what is wrong, before anything runs."""
    from choir_model import Params
    from choir_model.resolve import load_params, resolve_formula, resolve_policy

    try:
        resolve_policy(policy)
        if formula is not None:
            resolve_formula(formula)
        return load_params(params) if params is not None else Params()
    except ValueError as error:
        err.print(f"[red]{error}[/red] (nothing was run)")
        raise typer.Exit(2) from None


def replay_flags(**given: object) -> tuple[str, ...]:
    """The options a failure's replay command repeats: those given, as `--name value`."""
    return tuple(item for name, value in given.items() if value is not None for item in (f"--{name}", str(value)))


def parse_seed(text: str) -> int:
    """`--seed`: an integer, or `random` (a fresh 32-bit seed, printed so the run can be repeated)."""
    if text == "random":
        import secrets

        seed = secrets.randbelow(2**32)
        err.print(f"seed: {seed} (drawn; repeat this run with --seed {seed})")
        return seed
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither an integer nor 'random'") from None


def preflight(factory: Any) -> None:
    """Start the target's driver once and close it, before anything runs: a wrong option is exit 2, a part that
    cannot start (a missing compiler, a server that does not come up) exit 3."""
    if factory is None:
        return
    try:
        factory().close()
    except ValueError as error:
        err.print(f"[red]{error}[/red] (nothing was run)")
        raise typer.Exit(2) from None
    except Exception as error:  # a part is missing or broken: say so, no traceback
        err.print(f"[red]the target could not start: {type(error).__name__}: {error}[/red]")
        raise typer.Exit(3) from None


@app.callback(invoke_without_command=True, epilog=EXIT_CODES)
def check(
    ctx: typer.Context,
    target: TargetOption = "model",
    examples: Annotated[
        int | None, typer.Option("--examples", min=0, help="Hypothesis examples (profile default; 0: none).")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Maximum steps per Hypothesis example.")] = None,
    seed: Annotated[
        int, typer.Option("--seed", parser=parse_seed, metavar="INT|random", help="Seed of every random choice.")
    ] = "0",  # type: ignore[assignment]
    policy: PolicyOption = "seeds",
    formula: FormulaOption = "quantum",
    params: ParamsOption = None,
    profile: Annotated[str, typer.Option("--profile", help="ci (default) or thorough (20x longer).")] = "ci",
    soak: Annotated[
        int | None,
        typer.Option(
            "--soak",
            min=0,
            help="Soak steps (0: no soak phase); alone, it runs no Hypothesis examples unless --examples is given too.",
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write a JUnit XML report here.")] = None,
    failures: Annotated[Path, typer.Option("--failures", help="Where failing traces are written.")] = Path("failures"),
    require_coverage: Annotated[
        bool, typer.Option("--require-coverage", help="Also fail when an operation, error or outcome was not reached.")
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Dask LocalCluster worker processes (1: run in this process).")
    ] = 1,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Address of an existing Dask scheduler (tcp://host:8786).")
    ] = None,
    seconds: Annotated[
        float | None,
        typer.Option(
            "--seconds", min=0.001, help="Time budget: phases without an explicit --soak/--examples run until it ends."
        ),
    ] = None,
    program: ProgramOption = None,
    idl: IdlOption = None,
    rpc: Annotated[str | None, rpc_option(CAMPAIGN_RPC)] = None,
    program_id: Annotated[str | None, program_id_option(CAMPAIGN_RPC)] = None,
    keypair: Annotated[Path | None, keypair_option(CAMPAIGN_RPC)] = None,
) -> None:
    """Run the property suite against a target and print the coverage and the verdict per invariant.

    The campaign is split by seed into units (soak runs, batches of Hypothesis examples): on --workers N or a
    --scheduler's cluster it finds the same verdict, coverage and first failure as on one process.

    Under GITHUB_ACTIONS a failure is also printed as an `::error` annotation."""
    if ctx.invoked_subcommand is not None:
        return
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from properties.campaign import PROFILES, Campaign, run_campaign
    from properties.report import exit_code, github_annotation, print_report, write_junit
    from properties.targets import TARGETS, driver_factory

    for kind, value, known in (("target", target, TARGETS), ("profile", profile, PROFILES)):
        if value not in known:
            err.print(f"[red]unknown {kind} {value!r}[/red]; choose one of: {', '.join(known)}")
            raise typer.Exit(2)
    if (rpc, program_id, keypair) != (None, None, None):
        err.print(
            "[red]a campaign cannot run over --rpc[/red]: each of its runs starts a fresh program and sets the time "
            "of every step, and a deployed program keeps one state and the cluster's clock. Check your build in "
            "LiteSVM (--program FILE.so --idl FILE.json), and replay a trace written in cluster time against the "
            "deployment with `choir check replay TRACE --target program --rpc URL --program-id ID --keypair FILE`."
        )
        raise typer.Exit(2)
    model_params = rules_options(policy, formula, params)
    options = program_options(target, program, idl)
    campaign = Campaign(target, profile, examples, steps, seed, policy, model_params, soak=soak, failure_dir=failures,
                        driver_options=options, formula=formula, replay_flags=replay_flags(params=params,
                        formula=None if formula == "quantum" else formula, program=program, idl=idl))  # fmt: skip
    campaign.workers, campaign.scheduler, campaign.seconds = workers, scheduler, seconds
    if soak and examples is None:  # a soak run alone, unless --examples asks for both
        campaign.examples = 0
    if campaign.n_soak == 0 and campaign.n_examples == 0:
        err.print("[red]nothing to run[/red]: --soak 0 and --examples 0 leave no phase")
        raise typer.Exit(2)
    for path, what in ((junit, "--junit"), (failures / "x", "--failures")):
        if path is not None and path.parent.exists() and not path.parent.is_dir():
            err.print(f"[red]{what} {path.parent} is not a directory[/red] (nothing was run)")
            raise typer.Exit(2)
    preflight(driver_factory(target, campaign.params, policy, **campaign.driver_options))
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
        transient=True,
    ) as progress:  # fmt: skip
        tasks = {}
        if campaign.n_examples != 0:
            tasks["examples"] = progress.add_task("Hypothesis examples", total=campaign.n_examples)
        if campaign.n_soak != 0:
            tasks["soak"] = progress.add_task("soak steps", total=campaign.n_soak)
        result = run_campaign(campaign, lambda phase, n: progress.advance(tasks[phase], n))
    print_report(result, console)
    if junit is not None:
        write_junit(result, junit, require_coverage)
    annotation = github_annotation(result) if os.environ.get("GITHUB_ACTIONS") == "true" else None
    if annotation is not None:
        sys.stdout.write(annotation + "\n")
    code = exit_code(result, require_coverage)
    if code:
        raise typer.Exit(code)


@app.command("replay")
def replay(
    trace: Annotated[Path, typer.Argument(help="A JSONL trace (docs/spec.md section 8), e.g. a failure.", exists=True)],
    target: TargetOption = "model",
    policy: PolicyOption = "seeds",
    formula: FormulaOption = "quantum",
    params: ParamsOption = None,
    compare: Annotated[
        bool, typer.Option("--compare/--no-compare", help="Also report where target and model part.")
    ] = True,
    shrink_to: Annotated[
        Path | None, typer.Option("--shrink", help="On a failure, shrink the trace and write the result here.")
    ] = None,
    program: ProgramOption = None,
    idl: IdlOption = None,
    rpc: RpcOption = None,
    program_id: ProgramIdOption = None,
    keypair: KeypairOption = None,
) -> None:
    """Replay a trace on a target; print the same JSON as `choir model run --json`, then any disagreement (exit
    1), shrunk into `--shrink FILE` if asked."""
    from choir_model.trace import TraceError, results_lines
    from properties.attacks import read_steps
    from properties.replay import replay as run_replay

    model_params = rules_options(policy, formula, params)
    try:
        steps = read_steps(trace)
    except TraceError as error:
        err.print(f"{trace}: {error} (nothing was run)", style="red", markup=False)
        raise typer.Exit(2) from None
    params = model_params
    options = driver_options(target, rpc, program_id, keypair) | program_options(target, program, idl)
    if rpc is not None and shrink_to is not None:
        err.print("[red]--shrink needs a fresh program per candidate: shrink in process (without --rpc)[/red]")
        raise typer.Exit(2)
    try:
        outcome = run_replay(steps, target, params, policy, compare, formula, **options)
    except ValueError as error:
        err.print(str(error), style="red", markup=False)
        raise typer.Exit(2) from None
    for line in results_lines(outcome.results, outcome.final):
        sys.stdout.write(line + "\n")
    if compare:
        failure = outcome.failure
        if failure is not None:
            err.print(f"[red]{escape(str(failure))}[/red]")
            if shrink_to is not None:
                from choir_model.trace import write_trace
                from properties.replay import shrink_failure

                shrunk = shrink_failure(failure, target, params, policy, formula, **options)
                shrink_to.parent.mkdir(parents=True, exist_ok=True)
                write_trace(shrunk, shrink_to)
                err.print(f"shrunk from {len(failure.steps)} to {len(shrunk)} steps: {shrink_to}")
            raise typer.Exit(1)
        err.print(json.dumps({"replay": str(trace), "target": target, "verdict": "every invariant held"}))
