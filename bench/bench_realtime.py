"""Benchmark of the real-time parts of the reference backend, loopback only, bounded in time.

1. **WebSocket fan-out**: `--subscribers` WebSocket clients (`WsClient`, signed handshake) subscribe to one
   thread of a `choir serve` process; one writer (the thread's only co-author) posts `--writes` messages over
   HTTP, one after another, and makes each public (a sole co-author's public request settles at once; only then
   may the subscribers see it). Reported: frames delivered, deliveries lost or out of order (must be 0), and the
   delivery latency (from just before the public request's POST to the `MessagePublic` frame's arrival at each
   subscriber) p50/p95/p99.
2. **Cache**: `--readers` users each read one thread view `--reads` times while the writer posts a message every
   `--write-every` reads. Reported: hit ratio (from `GET /v1/admin/cache`) and the mean latency of hits and misses.
3. **Chain**: `--chain-ops` operations (fund, create thread, messages) through `Backend` in this process, without
   and with the Choir program in LiteSVM in front of the model (`--chain litesvm`): operations per second each way.

The server is one process, one uvicorn worker; clients run in this process. Print the load average: the figures
are only comparable on a quiet machine.

    .venv/bin/python bench/bench_realtime.py [--subscribers 200] [--writes 50] [--readers 20] [--reads 50]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from choir_model import CHOIR, CreateThread, Fund, Privacy, SubmitMessage  # noqa: E402
from reference_backend.auth import dev_keypair  # noqa: E402
from reference_backend.client import ChoirClient  # noqa: E402
from reference_backend.clock import ManualClock  # noqa: E402
from reference_backend.config import BackendConfig  # noqa: E402
from reference_backend.content import content_hash  # noqa: E402
from reference_backend.server import ServerProcess  # noqa: E402
from reference_backend.service import Backend, RegisterCommand, StepCommand  # noqa: E402
from reference_backend.ws_client import WsClient  # noqa: E402

AUTHORITIES = (("treasury1", dev_keypair("treasury1")), ("treasury2", dev_keypair("treasury2")))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def fanout(url: str, writer: ChoirClient, subscribers: int, writes: int) -> dict[str, float]:
    clients = []
    for i in range(subscribers):
        name = f"sub{i}"
        ChoirClient(url, name, dev_keypair(name)).register()
        clients.append(await WsClient(url, name, dev_keypair(name)).start())
    for client in clients:
        await client.subscribe("live")
    for client in clients:
        await client.wait_for(lambda c: not c.threads["live"].stale, 60)
    sent: dict[int, float] = {}
    arrival: list[float] = []
    for i in range(writes):
        posted = await asyncio.to_thread(writer.submit_message, "live", f"live message {i}")
        start = time.perf_counter()  # the request that makes it public (and visible to the subscribers)
        result = await asyncio.to_thread(writer.request_public, "live", posted.content_hash)
        sent[result.seq] = start
    last = max(sent)
    for client in clients:
        await client.wait_for(lambda c: c.threads["live"].journal_seq >= last, 60)
    lost = disorder = delivered = 0
    for client in clients:
        mirror = client.threads["live"]
        seqs = [f["seq"] for f in mirror.events]
        disorder += sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
        seen = {f["journal_seq"] for f in mirror.events if f["payload"].get("event") == "MessagePublic"}
        lost += len(set(sent) - seen) if mirror.snapshots == 1 else 0
        delivered += len(mirror.events)
    # arrival times: frames are appended as they arrive; latency per MessagePublic frame
    for client in clients:
        for frame in client.threads["live"].events:
            if frame["payload"].get("event") == "MessagePublic" and frame["journal_seq"] in sent:
                arrival.append(frame.get("_arrived", 0.0) - sent[frame["journal_seq"]])
    for client in clients:
        await client.close()
    return {
        "subscribers": subscribers,
        "writes": writes,
        "delivered": delivered,
        "lost": lost,
        "out_of_order": disorder,
        "p50_ms": 1000 * pct(arrival, 0.5),
        "p95_ms": 1000 * pct(arrival, 0.95),
        "p99_ms": 1000 * pct(arrival, 0.99),
    }


def cache_phase(url: str, writer: ChoirClient, readers: int, reads: int, write_every: int) -> dict[str, float]:
    clients = []
    for i in range(readers):
        client = ChoirClient(url, f"reader{i}", dev_keypair(f"reader{i}"))
        client.register()
        clients.append(client)
    hits: list[float] = []
    misses: list[float] = []
    for r in range(reads):
        if r % write_every == 0:
            writer.submit_message("live", f"cache round {r}")
        for client in clients:
            start = time.perf_counter()
            response = client.send("GET", "/v1/thread/live")
            elapsed = time.perf_counter() - start
            (hits if response.headers.get("x-choir-cache") == "hit" else misses).append(elapsed)
    for client in clients:
        client.close()
    report = ChoirClient(url, "treasury1", dev_keypair("treasury1")).call("GET", "/v1/admin/cache")
    return {
        "reads": len(hits) + len(misses),
        "hit_ratio_thread_state": report["hit_ratio_by_kind"]["thread_state"],
        "hit_ms_mean": 1000 * statistics.fmean(hits) if hits else float("nan"),
        "miss_ms_mean": 1000 * statistics.fmean(misses) if misses else float("nan"),
    }


def chain_phase(ops: int, with_chain: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        clock = ManualClock(1_700_000_000)
        config = BackendConfig(data_dir=Path(tmp) / "data", manual_clock=1_700_000_000, rate_limits={})
        backend = Backend(config, clock=clock).start()
        chain = None
        if with_chain:
            from reference_backend.chain import attach, litesvm_chain

            chain = attach(backend, litesvm_chain(backend))
        backend.execute(RegisterCommand("ann", str(dev_keypair("ann").pubkey())))
        backend.execute(StepCommand(Fund("ann", 0, 10_000 * CHOIR, ("treasury1", "treasury2"))))
        backend.execute(StepCommand(CreateThread("ann", 0, "t", 2 * CHOIR)))
        start = time.perf_counter()
        for i in range(ops):
            clock.advance(1)
            text = f"chain message {i}"
            backend.execute(StepCommand(SubmitMessage("ann", 0, "t", content_hash(text), Privacy.PUBLIC), text))
        elapsed = time.perf_counter() - start
        if chain is not None:
            assert chain.check(backend).consistent
            chain.close()
        backend.close()
        return ops / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--writes", type=int, default=50)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--write-every", type=int, default=10)
    parser.add_argument("--chain-ops", type=int, default=300)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")

    import reference_backend.ws_client as wc

    original = wc.WsClient._on_frame

    async def stamped(self: WsClient, frame: dict) -> None:  # arrival time, for the latency figures
        frame["_arrived"] = time.perf_counter()
        await original(self, frame)

    wc.WsClient._on_frame = stamped  # type: ignore[method-assign]

    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp) / "data", ["--no-rate-limits"]) as server:
        writer = ChoirClient(server.url, "ann", dev_keypair("ann"))
        writer.register()
        writer.fund("ann", 1000 * CHOIR, AUTHORITIES)
        writer.create_thread("live", 2 * CHOIR)
        ws = asyncio.run(fanout(server.url, writer, args.subscribers, args.writes))
        print("websocket fan-out:", {k: round(v, 2) if isinstance(v, float) else v for k, v in ws.items()})
        cache = cache_phase(server.url, writer, args.readers, args.reads, args.write_every)
        print("cache:", {k: round(v, 3) if isinstance(v, float) else v for k, v in cache.items()})
        writer.close()
    plain = chain_phase(args.chain_ops, False)
    chained = chain_phase(args.chain_ops, True)
    print(f"chain: {plain:.0f} ops/s without, {chained:.0f} ops/s with --chain litesvm ({chained / plain:.0%})")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
