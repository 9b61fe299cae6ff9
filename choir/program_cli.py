"""`choir program ...`: build the Choir Solana program with our own toolchain."""

from __future__ import annotations

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
    build is reused). Exit 3 when it cannot be built (no compiler: the message names the install command)."""
    from programs.toolchain.build import BuildError
    from programs.toolchain.build import build as build_program

    try:
        result = build_program(out, allow_install=install_clang)
    except BuildError as error:
        err.print(f"[red]{error}[/red]")
        raise typer.Exit(3) from None
    verb = "built" if result.link is not None else "up to date:"
    console.print(f"{verb} {result.path} ({result.size:,} bytes, sha256 {result.sha256})")
