"""The `choir` command line. Each command group imports its part lazily, so `choir --help` stays instant.

Every way out of a command is decided here, once (spec section 12): 0 success, 1 a property violated or a
difference found (the commands exit 1 themselves), 2 bad arguments or input, 3 the tool failed or an optional part
is missing. A bad option is one line naming it, not a usage panel; a missing optional extra is one line with the
command that installs it; anything else unexpected is one line too (`CHOIR_DEBUG=1` shows the traceback).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

try:  # typer carries its own copy of click since 0.25
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer on click
    from click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # type: ignore[assignment]

from choir import check_cli, coercion, demo, helptext, load_cli, model_cli, mutate_cli, program_cli, serve_cli, sim_cli
from choir.interrupts import INTERRUPTED, sigterm_interrupts
from choir_dask import ClusterUnavailable

helptext.install()
coercion.install()

DISTRIBUTION = "choir-toolkit"

# Top-level module -> the optional extra of pyproject.toml that installs it.
EXTRA_OF_MODULE: dict[str, str] = {
    "hypothesis": "properties",
    "solders": "program",
    "solana": "program",
    "elftools": "program",
    "simpy": "sim",
    "pandas": "sim",
    "pyarrow": "sim",
    "dask": "sim",
    "distributed": "sim",
    "matplotlib": "sim",
    "networkx": "sim",
    "fastapi": "backend",
    "uvicorn": "backend",
    "httpx": "backend",
    "qdrant_client": "backend",
    "pydantic": "backend",
    "websockets": "backend",
    "clang": "mutation",
}


def version() -> str:
    """The installed distribution's version (importlib.metadata is imported here: only `--version` needs it)."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def missing_extra_message(error: ModuleNotFoundError) -> str:
    """One line saying which optional part is missing and the command that installs it."""
    module = (error.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return f"choir: a module is missing: {module or error} (reinstall {DISTRIBUTION})"
    checkout = (Path(__file__).resolve().parent.parent / "pyproject.toml").exists()
    return (
        f"choir: this command needs the optional '{extra}' part ({module} is not installed): "
        f"pip install '{DISTRIBUTION}[{extra}]'" + (" (in this checkout: make .venv/.synced)" if checkout else "")
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


class ChoirApp(typer.Typer):
    """`typer.Typer` whose entry point turns every exception into an exit code and one line on stderr."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        command = typer.main.get_command(self)
        try:
            with sigterm_interrupts():  # a CI's cancel stops every command as Ctrl-C does (`choir.interrupts`)
                code = command.main(*args, standalone_mode=False, **kwargs)
        except NoArgsIsHelpError as error:
            error.show()  # the help text is the answer to a bare group
            code = error.exit_code
        except ClickException as error:
            where = error.ctx.command_path if isinstance(error, UsageError) and error.ctx else "choir"
            hint = f" (see {where} --help)" if isinstance(error, UsageError) else ""
            sys.stderr.write(f"{where}: {_one_line(error.format_message())}{hint}\n")
            code = error.exit_code
        except typer.Abort:
            sys.stderr.write("choir: aborted\n")
            code = INTERRUPTED
        except ClusterUnavailable as error:  # the toolkit's failure, with an address to check: no traceback
            sys.stderr.write(f"choir: {_one_line(str(error))}\n")
            code = 3
        except ModuleNotFoundError as error:
            if os.environ.get("CHOIR_DEBUG"):
                raise
            sys.stderr.write(missing_extra_message(error) + "\n")
            code = 3
        except Exception as error:
            if os.environ.get("CHOIR_DEBUG"):
                raise
            sys.stderr.write(
                f"choir: internal error: {type(error).__name__}: {_one_line(str(error))} "
                "(CHOIR_DEBUG=1 shows the traceback)\n"
            )
            code = 3
        sys.exit(code if isinstance(code, int) else 0)


app = ChoirApp(
    name="choir",
    help="choir-toolkit: the executable, property-checked model of Choir (specification: docs/spec.md).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"{DISTRIBUTION} {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
    ] = False,
) -> None:
    """choir-toolkit: the executable, property-checked model of Choir (specification: docs/spec.md)."""


app.add_typer(model_cli.app, name="model", help="Run the reference model on traces.")
app.add_typer(sim_cli.app, name="sim", help="Agent-based simulations: scenarios, sweeps, plots, report.")
app.add_typer(program_cli.app, name="program", help="Build the Choir Solana program (C, our own SBF linker).")
app.add_typer(check_cli.app, name="check", help="Property-check a target against the model; replay failures.")
app.command("stake", help="Print the recommended stake for a thread's balance and co-authors.")(model_cli.stake)
app.command("demo", help="Replay the example traces under every policy and check their expected results.")(demo.demo)
app.command("serve", help="Serve the reference backend (REST API over the model).")(serve_cli.serve)
app.command("load", help="Bounded loopback load test of the backend, then consistency checks.")(load_cli.load)
app.command("mutate", help="Mutation testing: does the default campaign catch mutants of the program (or model)?")(
    mutate_cli.mutate
)


if __name__ == "__main__":
    app()
