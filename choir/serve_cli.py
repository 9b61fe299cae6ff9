"""`choir serve`: run the reference backend (spec section 10). Only flag parsing lives here; everything else is in
`reference_backend`, imported lazily so `choir --help` stays instant."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from choir.check_cli import keypair_option, program_id_option, read_idl, rpc_option, rpc_transport

err = Console(stderr=True, soft_wrap=True)  # error lines stay whole: scripts and logs grep them
CHAINS = ("litesvm", "rpc", "none")


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="TCP port (0: a free one, printed on stderr).")
    ] = 8000,
    data: Annotated[
        Path, typer.Option("--data", help="Data directory: journal (SQLite WAL) and the embedded search index.")
    ] = Path("choir-data"),
    qdrant_url: Annotated[
        str | None,
        typer.Option("--qdrant-url", help="Use a Qdrant server instead of the embedded engine under --data."),
    ] = None,
    params: Annotated[
        str | None,
        typer.Option("--params", help="Model parameters: a JSON object or a JSON file (choir_model.Params)."),
    ] = None,
    policy: Annotated[str, typer.Option("--policy", help="Settlement policy.")] = "seeds",
    check: Annotated[
        str, typer.Option("--invariants", help="Model invariant checks per operation: step, audit or off.")
    ] = "step",
    manual_clock: Annotated[
        int | None,
        typer.Option("--manual-clock", help="Start a manual clock at this Unix time; admins set it (tests only)."),
    ] = None,
    rate_limit: Annotated[
        list[str] | None,
        typer.Option("--rate-limit", help="ROUTE=COUNT or ROUTE=COUNT/SECONDS, repeatable; overrides the defaults."),
    ] = None,
    no_rate_limits: Annotated[
        bool, typer.Option("--no-rate-limits", help="Disable rate limits (differential runs replay trace time).")
    ] = False,
    max_content: Annotated[int, typer.Option("--max-content", help="Largest message, bytes of UTF-8.")] = 32 * 1024,
    max_skew: Annotated[int, typer.Option("--max-skew", help="Accepted clock skew of signed requests, s.")] = 120,
    sync: Annotated[str, typer.Option("--sync", help="SQLite synchronous mode: full or normal.")] = "full",
    embedder: Annotated[
        str,
        typer.Option(
            "--embedder",
            help="Dense vectors fused with BM25: none (BM25 only), hashing[:DIM] or sentence-transformers:NAME.",
        ),
    ] = "none",
    authorities: Annotated[
        Path | None,
        typer.Option("--authorities", help="JSON file {name: base58 public key} of the treasury authorities."),
    ] = None,
    snapshot_every: Annotated[int, typer.Option("--snapshot-every", help="Journal rows between snapshots.")] = 10_000,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    chain: Annotated[
        str | None,
        typer.Option(
            "--chain",
            help="Send every operation to the Choir program first: litesvm (in process; the default with --policy "
            "seeds), rpc (deployed at --rpc) or none.",
        ),
    ] = None,
    program: Annotated[
        Path | None,
        typer.Option(
            "--program", help="litesvm chain: the program's .so (default: build/choir.so, `choir program build`)."
        ),
    ] = None,
    idl: Annotated[
        Path | None,
        typer.Option(
            "--idl",
            help="litesvm or rpc chain: the program's Anchor-format IDL (JSON) to drive it by (default: the IDL of "
            "programs/choir).",
        ),
    ] = None,
    rpc: Annotated[str | None, rpc_option("rpc chain")] = None,
    program_id: Annotated[str | None, program_id_option("rpc chain")] = None,
    keypair: Annotated[Path | None, keypair_option("rpc chain")] = None,
    ws_heartbeat: Annotated[float, typer.Option("--ws-heartbeat", help="WebSocket ping interval, s.")] = 30.0,
    ws_pong_deadline: Annotated[float, typer.Option("--ws-pong-deadline", help="WebSocket pong deadline, s.")] = 5.0,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="HTTP worker processes around the one writer (1: everything in this process).",
        ),
    ] = 1,
    export_trace: Annotated[
        Path | None,
        typer.Option("--export-trace", help="Write the journal as a JSONL trace to this file and exit."),
    ] = None,
) -> None:
    """Serve the reference backend: the REST API of docs/spec.md section 10 over the model, durable in --data."""
    from choir_model.resolve import load_params
    from reference_backend.config import BackendConfig, parse_rate_limit
    from reference_backend.journal import JOURNAL_FILE, Journal

    if export_trace is not None:
        if not (data / JOURNAL_FILE).is_file():
            err.print(f"{data} holds no journal ({JOURNAL_FILE}): check --data", style="red", markup=False)
            raise typer.Exit(2)
        journal = Journal(data)
        count = journal.export(export_trace)
        journal.close()
        err.print(f"wrote {count} operations to {export_trace}")
        return
    try:
        limits = {} if no_rate_limits else None
        if rate_limit:
            limits = dict(parse_rate_limit(text) for text in rate_limit)
        keys = json.loads(authorities.read_text(encoding="utf-8")) if authorities else {}
        fields: dict[str, object] = {
            "data_dir": data,
            "qdrant_url": qdrant_url,
            "policy": policy,
            "check": check,
            "manual_clock": manual_clock,
            "max_content_bytes": max_content,
            "max_skew": max_skew,
            "sync": sync,
            "embedder": embedder,
            "authorities": keys,
            "snapshot_every": snapshot_every,
        }
        if params:
            fields["params"] = load_params(params)
        if limits is not None:
            fields["rate_limits"] = limits
        chain = resolve_chain(chain, policy, manual_clock, program, rpc, program_id, keypair)
        if idl is not None and chain not in ("litesvm", "rpc"):
            raise ValueError("--idl goes with --chain litesvm or --chain rpc")
        coder = None
        if idl is not None:
            from programs.client.coder import IdlCoder

            coder = IdlCoder(read_idl(idl))
        if check not in ("step", "off", "audit") or sync not in ("full", "normal"):
            raise ValueError("--invariants must be step, audit or off and --sync full or normal")
        config = BackendConfig(**fields)  # type: ignore[arg-type]
    except (ValueError, OSError) as error:
        err.print(str(error), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    if not keys:
        err.print(
            "[yellow]treasury authorities use the development keys seeded by sha256(name): anyone can sign as them. "
            "Pass --authorities in any real deployment.[/yellow]"
        )
    from reference_backend.chain import ChainStartError, litesvm_chain, program_image, rpc_chain
    from reference_backend.journal import DataDirDamaged
    from reference_backend.server import serve as run_server
    from reference_backend.ws import WsSettings

    try:
        if chain == "litesvm":
            image = program_image(program)
            make_chain = lambda backend: litesvm_chain(backend, image, coder)  # noqa: E731
        elif chain == "rpc":
            transport = rpc_transport(rpc, program_id, keypair)  # type: ignore[arg-type]
            make_chain = lambda backend: rpc_chain(backend, transport, coder)  # noqa: E731
        else:
            make_chain = None
        ws = WsSettings(heartbeat=ws_heartbeat, pong_deadline=ws_pong_deadline)
        run_server(config, host=host, port=port, log_level=log_level, chain=make_chain, ws=ws, workers=workers)
    except (ChainStartError, DataDirDamaged, ValueError) as error:
        err.print(str(error), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except RuntimeError as error:  # `reference_backend.workers.WorkerStartError`: a worker could not serve
        err.print(str(error), style="red", markup=False, highlight=False)
        raise typer.Exit(3) from None


def resolve_chain(
    chain: str | None,
    policy: str,
    manual_clock: int | None,
    program: Path | None,
    rpc: str | None,
    program_id: str | None,
    keypair: Path | None,
) -> str:
    """The chain to serve with, or ValueError saying which flags disagree. Why the default depends on the policy:
    the program implements the seeds policy only, so a server of another policy (the differential campaigns run
    them) has no program to put in front of its model."""
    if chain is None:
        chain = "litesvm" if policy == "seeds" else "none"
        if chain == "none":
            err.print(f"[yellow]no chain: the Choir program implements the seeds policy only, not {policy}[/yellow]")
    if chain not in CHAINS:
        raise ValueError(f"--chain must be one of {', '.join(CHAINS)}, not {chain!r}")
    if chain != "none" and policy != "seeds":
        raise ValueError(
            f"--chain {chain}: the Choir program implements the seeds policy only; use --policy seeds or --chain none"
        )
    if chain != "litesvm" and program is not None:
        raise ValueError("--program goes with --chain litesvm")
    if chain != "rpc" and (rpc, program_id, keypair) != (None, None, None):
        raise ValueError("--rpc, --program-id and --keypair go with --chain rpc")
    if chain == "rpc" and None in (rpc, program_id, keypair):
        raise ValueError("--chain rpc needs --rpc, --program-id and --keypair")
    if chain == "rpc" and manual_clock is not None:
        raise ValueError(
            "--manual-clock cannot move a validator's clock (the program stamps the cluster's time): "
            "use it with --chain litesvm or none"
        )
    return chain
