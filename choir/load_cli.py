"""`choir load`: a bounded load test of the reference backend (issue 7, item 5). Only flag parsing and printing
live here; the run and its consistency checks are in `reference_backend.load`, imported lazily so `choir --help`
stays instant. It always starts its own backend on 127.0.0.1 and stops by itself."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True)


def load(
    users: Annotated[int, typer.Option("--users", min=2, help="Simulated users (HTTP and WebSocket each).")] = 1000,
    seconds: Annotated[float, typer.Option("--seconds", min=0.1, help="Duration of the load phase, s.")] = 60.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the users' choices of operation.")] = 0,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Bound on setup and on draining events after the load, s.")
    ] = 300.0,
) -> None:
    """Run a load against a fresh loopback backend, print the figures as JSON and exit 1 if it was inconsistent."""
    from reference_backend.load import run_load

    report = run_load(users=users, seconds=seconds, seed=seed, timeout=timeout)
    print(json.dumps(report.summary(), indent=2))
    for line in report.state_differences[:20]:
        err.print(f"[red]state: {line}[/red]")
    if not report.consistent:
        err.print("[red]inconsistent: see the counts above[/red]")
        raise typer.Exit(1)
