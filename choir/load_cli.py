"""`choir load`: a bounded load test of the reference backend, with optional crashes (spec section 10).
Only flag parsing and printing live here; the run and its consistency checks are in `loadtest.run`,
imported lazily so `choir --help` stays instant. It always starts its own backend on 127.0.0.1 and stops by itself."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from choir.interrupts import INTERRUPTED

MAX_USERS = 5000
"""A bound on the load: every user holds a WebSocket, a socket in this process and one in the server, plus its HTTP
connections; 5,000 users stay well inside a usual limit of open files (`ulimit -n`, 20,000 on the CI machine)."""

err = Console(stderr=True, soft_wrap=True)  # error lines stay whole: scripts and logs grep them


def load(
    users: Annotated[
        int,
        typer.Option(
            "--users",
            min=2,
            max=MAX_USERS,
            help=f"Simulated users (HTTP and WebSocket each; at most {MAX_USERS:,}: each user's WebSocket holds a "
            "socket at both ends of the loopback, within a process's usual limit of open files).",
        ),
    ] = 1000,
    seconds: Annotated[float, typer.Option("--seconds", min=0.1, help="Duration of the load phase, s.")] = 60.0,
    scenario: Annotated[
        str, typer.Option("--scenario", help="Simulator scenario whose agents are the users (name or .toml).")
    ] = "baseline",
    faults: Annotated[
        int, typer.Option("--faults", min=0, help="SIGKILL and restart the server this many times during the load.")
    ] = 0,
    time_scale: Annotated[
        float, typer.Option("--time-scale", min=1.0, help="Simulated seconds per real second.")
    ] = 86_400.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the scenario (agents' choices).")] = 0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Bound on setup and on draining events after the load, s.")
    ] = 300.0,
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            min=0.0,
            help="How long setup waits for the WebSockets (retrying) before the load starts, s; a socket still "
            "retrying keeps retrying during the load.",
        ),
    ] = 60.0,
    workers: Annotated[
        int,
        typer.Option("--workers", min=1, help="HTTP worker processes of the server (`choir serve --workers`)."),
    ] = 1,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write load.json here; the figures go into report.md and .html (a section)."),
    ] = None,
) -> None:
    """Run a load against a fresh loopback backend, print the figures as JSON and exit 1 if it was inconsistent or
    a user's WebSocket never connected. Ctrl-C or SIGTERM stops it, and the server it started, and exits 130."""
    from loadtest.run import run_load, write_report

    try:
        report = run_load(
            users=users,
            seconds=seconds,
            seed=seed,
            timeout=timeout,
            scenario=scenario,
            faults=faults,
            time_scale=time_scale,
            connect_timeout=connect_timeout,
            server_args=("--chain", "litesvm", "--workers", str(workers)),
        )
    except (ValueError, FileNotFoundError) as error:
        err.print(str(error), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]: the load and the server it started are stopped; no figures")
        raise typer.Exit(INTERRUPTED) from None
    summary = json.dumps(report.summary(), indent=2)
    print(summary)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "load.json").write_text(summary + "\n", encoding="utf-8")
        command = shlex.join(["choir", *sys.argv[1:]])
        write_report(out, report, command)
    for line in report.state_differences[:20] + report.snapshot_differences[:20] + report.agent_failures[:20]:
        err.print(line, style="red", markup=False)
    if not report.consistent:
        err.print("[red]inconsistent: see the counts above[/red]")
    if not report.all_connected:
        err.print(
            f"[red]{report.never_connected} WebSockets never connected and {report.gave_up} gave up reconnecting "
            "(not lost events: nothing was sent to them)[/red]"
        )
    if not report.passed:
        raise typer.Exit(1)
