"""`choir mutate`: mutation testing of the Choir program's C source (or of the model's rules) against the
property suite's default campaign (`properties.mutation`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from properties.mutation.mutant import Mutant

console = Console()
err = Console(stderr=True, soft_wrap=True)

SOURCE_DIR = Path("programs/choir")
DEFAULT_CACHE = Path(".choir-mutate/verdicts.jsonl")


def mutate(
    target: Annotated[
        str, typer.Option("--target", help="program (mutants of programs/choir/*.c) or model.")
    ] = "program",
    workers: Annotated[int, typer.Option("--workers", help="Dask LocalCluster worker processes; 0 runs here.")] = 2,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="An existing Dask scheduler (tcp://host:8786) to run on.")
    ] = None,
    files: Annotated[
        list[str] | None, typer.Option("--file", help="Only files matching this glob (relative to --source).")
    ] = None,
    operators: Annotated[list[str] | None, typer.Option("--operator", help="Only this operator (repeatable).")] = None,
    mutant_ids: Annotated[
        list[str] | None, typer.Option("--mutant", help="Only this mutant (its id or its key; repeatable).")
    ] = None,
    sample: Annotated[int | None, typer.Option("--sample", help="Run N mutants drawn with --seed.", min=1)] = None,
    profile: Annotated[
        str, typer.Option("--profile", help="Campaign profile each mutant faces: ci or thorough.")
    ] = "ci",
    seed: Annotated[int, typer.Option("--seed", help="Campaign seed (and the sample's).")] = 0,
    examples: Annotated[int | None, typer.Option("--examples", help="Hypothesis examples (profile default).")] = None,
    soak: Annotated[int | None, typer.Option("--soak", help="Soak steps (profile default).")] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds per mutant before it counts as timed out.")
    ] = 600,
    cache: Annotated[
        Path, typer.Option("--cache", help="Verdict cache (JSON lines); a rerun resumes.")
    ] = DEFAULT_CACHE,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the verdict cache.")] = False,
    source: Annotated[Path, typer.Option("--source", help="The program's C source folder.")] = SOURCE_DIR,
    equivalents: Annotated[
        Path | None,
        typer.Option("--equivalents", help="Equivalent mutants (TOML; default: SOURCE/mutation-equivalents.toml)."),
    ] = None,
    min_score: Annotated[
        float | None, typer.Option("--min-score", help="Exit 1 when the mutation score (percent) is below this.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (for CI) instead of tables.")
    ] = False,
    list_only: Annotated[bool, typer.Option("--list", help="List the mutants (id and edit) and exit.")] = False,
) -> None:
    """Mutate the program (or the model), run the default campaign against every mutant, report the score."""
    from properties.campaign import PROFILES
    from properties.mutation import session as sessions
    from properties.mutation.execute import CampaignSettings
    from properties.mutation.report import passes, print_report, print_stale, to_json

    if target not in ("program", "model"):
        _bad(f"unknown target {target!r}; choose program or model")
    if profile not in PROFILES:
        _bad(f"unknown profile {profile!r}; choose one of: {', '.join(PROFILES)}")
    if min_score is not None and not 0 <= min_score <= 100:
        _bad("--min-score is a percentage, 0 to 100")
    if workers < 0 or timeout <= 0:
        _bad("--workers must be 0 or more and --timeout positive")
    settings = CampaignSettings(profile, seed, examples, None, soak)
    runner = sessions.on_dask(workers, scheduler) if workers or scheduler else sessions.in_process
    verdict_cache = sessions.VerdictCache(None if no_cache else cache)
    if target == "model":
        names = _model_names(mutant_ids, operators)
        if list_only:
            for name in names:
                typer.echo(name)
            return
        with _progress(len(names)) as advance:
            result = sessions.model_session(
                names, sessions.Execution(settings, timeout, runner, verdict_cache, advance)
            )
    else:
        mutants, known, stale = _program_mutants(source, files, operators, mutant_ids, sample, seed, equivalents)
        if list_only:
            for mutant in mutants:
                mark = "  [equivalent]" if mutant.key in known else ""
                typer.echo(f"{mutant.id}  {mutant.description}{mark}")
            print_stale(err, stale)
            return
        with _progress(len([m for m in mutants if m.key not in known]) + 1) as advance:
            execution = sessions.Execution(settings, timeout, runner, verdict_cache, advance)
            result = sessions.program_session(source, mutants, known, execution, stale)
        _check_toolchain(result.baseline)
    if as_json:
        typer.echo(json.dumps(to_json(result, min_score), indent=2))
    else:
        print_report(result, console, min_score)
    if not passes(result, min_score):
        raise typer.Exit(1)


def _bad(message: str) -> None:
    err.print(f"[red]{message}[/red]")
    raise typer.Exit(2)


def _model_names(mutant_ids: list[str] | None, operators: list[str] | None) -> list[str]:
    from properties.mutation.model_mutants import MODEL_MUTANTS

    wanted = [*(mutant_ids or []), *(operators or [])]
    unknown = sorted(set(wanted) - set(MODEL_MUTANTS))
    if unknown:
        _bad(f"unknown model mutant(s) {', '.join(unknown)}; known: {', '.join(MODEL_MUTANTS)}")
    return [name for name in MODEL_MUTANTS if not wanted or name in wanted]


def _program_mutants(
    source: Path,
    files: list[str] | None,
    operators: list[str] | None,
    mutant_ids: list[str] | None,
    sample: int | None,
    seed: int,
    equivalents: Path | None,
) -> tuple[list[Mutant], dict[str, tuple[str, str]], list[str]]:
    """The mutants to run (filtered, then sampled), the equivalents file's entries, and its stale entries."""
    from properties.mutation import session as sessions
    from properties.mutation.c_mutants import GeneratorError, generate

    if not source.is_dir():
        _bad(f"--source {source}: no such folder")
    try:
        mutants = generate(source, files or (), operators or ())
        known = sessions.load_equivalents(equivalents or source / sessions.EQUIVALENTS_FILE)
    except ValueError as error:
        _bad(str(error))
    except GeneratorError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(3) from None
    stale = sessions.stale_entries(known, mutants, files or (), operators or ())
    if mutant_ids:
        wanted = {m.rsplit(":", 1)[-1] for m in mutant_ids}
        missing = sorted(wanted - {m.key for m in mutants})
        if missing:
            _bad(f"no mutant with key {', '.join(missing)} (see choir mutate --list)")
        mutants = [m for m in mutants if m.key in wanted]
    if not mutants:
        _bad("no mutant matches --file/--operator")
    return sessions.sample(mutants, sample, seed), known, stale


def _check_toolchain(baseline: object) -> None:
    """A program that does not build unmutated is a missing or broken toolchain, not a verdict (exit 3)."""
    from properties.mutation.mutant import NOT_BUILT, Verdict

    if isinstance(baseline, Verdict) and baseline.status == NOT_BUILT:
        err.print(f"[red]the unmutated program does not build: {baseline.detail}[/red] (choir program build says why)")
        raise typer.Exit(3)


class _progress:
    """A progress bar on stderr (the report, or its JSON, stays alone on stdout)."""

    def __init__(self, total: int) -> None:
        self.total = total

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.tally: dict[str, int] = {}
        self.task = self.bar.add_task("mutants", total=self.total, status="")
        self.bar.start()

        def advance(name: str, verdict, cached: bool) -> None:
            self.tally[verdict.status] = self.tally.get(verdict.status, 0) + 1
            status = ", ".join(f"{count} {status}" for status, count in sorted(self.tally.items()))
            self.bar.update(self.task, advance=1, status=status)

        return advance

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
