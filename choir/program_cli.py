"""`choir program ...`: build the Choir Solana program with our own toolchain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True, soft_wrap=True)  # error lines stay whole: scripts and logs grep them


@app.command("build")
def build(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder (default: $CHOIR_BUILD_DIR, else build/ of the source checkout, else the user cache).",
        ),
    ] = None,
    install_clang: Annotated[
        bool, typer.Option("--install-clang/--no-install-clang", help="apt-get clang-16 if no clang is found.")
    ] = True,
) -> None:
    """Compile the C program with Debian's clang and link it into an SBPF v0 .so (reproducible; an unchanged
    build is reused). Exit 2 when --out is not a folder it can write to (bad input); exit 3 when it cannot be built
    (no compiler: the message names the install command)."""
    from programs.toolchain.build import BuildError
    from programs.toolchain.build import build as build_program

    if out is not None:
        check_out_dir(out)
    try:
        result = build_program(out, allow_install=install_clang)
    except BuildError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(3) from None
    verb = "built" if result.link is not None else "up to date:"
    console.print(f"{verb} {result.path} ({result.size:,} bytes, sha256 {result.sha256})")


def check_out_dir(out: Path) -> None:
    """`--out` is a folder this user can write to, created if missing; else one line naming it and exit 2 (the
    user's path is wrong, not the tool)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        writable = os.access(out, os.W_OK | os.X_OK)
    except OSError as error:
        err.print(f"[red]--out {out}: cannot create the folder: {error.strerror or error}[/red]")
        raise typer.Exit(2) from None
    if not writable:
        err.print(f"[red]--out {out}: the folder is not writable[/red]")
        raise typer.Exit(2)
