"""The `choir` command line. Each command group imports its part lazily, so `choir --help` stays instant."""

from __future__ import annotations

import typer

from choir import check_cli, load_cli, model_cli, program_cli, serve_cli, sim_cli

app = typer.Typer(
    name="choir",
    help="choir-toolkit: the executable, property-checked model of Choir.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(model_cli.app, name="model", help="Run the reference model on traces.")
app.add_typer(sim_cli.app, name="sim", help="Agent-based simulations: scenarios, sweeps, plots, report.")
app.add_typer(program_cli.app, name="program", help="Build the Choir Solana program (C, our own SBF linker).")
app.add_typer(check_cli.app, name="check", help="Property-check a target against the model; replay failures.")
app.command("stake", help="Print the recommended stake for a thread's balance and co-authors.")(model_cli.stake)
app.command("demo", help="The main job: replay the example traces and print their outcome.")(model_cli.demo)
app.command("serve", help="Serve the reference backend (REST API over the model).")(serve_cli.serve)
app.command("load", help="Bounded loopback load test of the backend, then consistency checks.")(load_cli.load)


if __name__ == "__main__":
    app()
