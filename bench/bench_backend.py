"""Benchmark of the reference backend (spec section 10), loopback only and bounded in time.

1. **Mixed load**: 50 concurrent clients (one keep-alive connection each, closed loop) send a realistic mix to a
   `choir serve` process (the Choir program in LiteSVM in front of the model, the embedded default): 45% thread
   reads, 20% searches, 20% message submissions, 5% public requests (a sole co-author's request: Public at once, so
   each is a write that settles), 10% wallet reads, every request signed. The same clients then hit a bare FastAPI
   endpoint (same uvicorn settings, a constant envelope) in another process. Reported: requests/s, p50/p99 latency
   and server CPU per request for each, and the backend's figures as ratios to the bare ones (goal: throughput >=
   40% of bare, p99 < 100 ms at 50 clients). Rate limits are on but set high, so the limiter runs without refusing.
2. **Search at N messages** (`--messages`, default 100,000): a data directory with N messages in N/50 threads (60%
   public, 20% premium, 20% thread-only; half made Public) is built through `Backend` in this process (the same
   writer, journal and indexer as over HTTP, without the HTTP cost), then served by `choir serve --chain none` (the
   chain takes no part in reads); searches by a public user, a premium user, a co-author of several threads and
   inside one thread are timed one at a time over HTTP, signing included (goal: p95 < 5 ms at 100,000 messages,
   privacy filtered inside Qdrant's embedded engine and checked again on the model).
3. **Restart** on that data directory: `choir serve` started `--restarts` times, each timed from the process's start
   to the first `/v1/health` answer (goal: listening within 2 s with 100,000 journal rows), with its CPU seconds;
   with `--chain none` and with the default chain (the program in LiteSVM, brought level with the journal).

The load generator is a small raw HTTP/1.1 client on asyncio (requests pre-signed just before each phase, well
inside the signature freshness window) so the measurement is the servers', not httpx's. Each server is one process,
one uvicorn worker. The machine's load average is printed: the figures are only comparable on a quiet machine.

    .venv/bin/python bench/bench_backend.py [--clients 50] [--requests 80] [--messages 100000] [--searches 300]
                                            [--restarts 3] [--keep DIR] [--record docs/BENCHMARKS.md]
                                            [--only mixed|search|restart] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from choir_model import CHOIR  # noqa: E402
from choir_model.privacy import View  # noqa: E402,F401 - imported so a broken privacy module fails fast
from choir_model.state import Privacy  # noqa: E402
from choir_model.steps import CreateThread, Fund, RequestPublic, SubmitMessage  # noqa: E402
from reference_backend.auth import dev_keypair, sign_headers  # noqa: E402
from reference_backend.client import ChoirClient, encode_body  # noqa: E402
from reference_backend.config import BackendConfig  # noqa: E402
from reference_backend.content import content_hash  # noqa: E402
from reference_backend.server import ServerProcess, free_port  # noqa: E402
from reference_backend.service import Backend, PremiumCommand, RegisterCommand, StepCommand  # noqa: E402

AUTHORITIES = (("treasury1", dev_keypair("treasury1")), ("treasury2", dev_keypair("treasury2")))
HIGH_LIMITS = ["--rate-limit", "create_thread=1000000", "--rate-limit", "submit_message=1000000",
               "--rate-limit", "search=1000000"]  # fmt: skip
BARE_APP = """
from fastapi import FastAPI
from starlette.responses import Response
import json, secrets, time
app = FastAPI()
@app.get("/bare")
async def bare() -> Response:
    body = {"data": {"ok": True}, "error": None,
            "metadata": {"api_version": "v1", "request_id": secrets.token_hex(8), "server_time": int(time.time())}}
    return Response(json.dumps(body, separators=(",", ":")).encode(), media_type="application/json")
"""


# -- a raw keep-alive HTTP/1.1 load generator ---------------------------------------------------------------------


def raw_request(method: str, target: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
    if body:
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def client_loop(host: str, port: int, requests: list[bytes], latencies: list[float], statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for raw in requests:
            started = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses.append(status)
    finally:
        writer.close()


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    server_cpu_ms: float = 0.0  # server CPU (all threads, and its worker processes) per request
    writer_cpu_ms: float = 0.0  # of which the writer's process (`choir serve --workers`: the serial part)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def process_cpu(pid: int, children: bool = True) -> float:
    """CPU seconds (user + system, all threads) a process and (`children`) its child processes (`choir serve
    --workers`: the HTTP workers) have used so far (Linux /proc)."""
    total = 0.0
    for stat in _stats():
        pid_text, rest = stat.split(" (", 1)
        fields = rest.rsplit(")", 1)[1].split()
        if int(pid_text) == pid or (children and int(fields[1]) == pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _stats() -> list[str]:
    stats = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats.append((entry / "stat").read_text())
            except OSError:  # exited meanwhile
                continue
    return stats


def run_load(host: str, port: int, per_client: list[list[bytes]], pid: int | None = None) -> LoadResult:
    cpu_before = process_cpu(pid) if pid else 0.0
    writer_before = process_cpu(pid, children=False) if pid else 0.0
    latencies: list[float] = []
    statuses: list[int] = []

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(host, port, reqs, latencies, statuses) for reqs in per_client))
        return time.perf_counter() - started

    try:
        import uvloop

        seconds = uvloop.run(main())
    except ImportError:
        seconds = asyncio.run(main())
    counts: dict[int, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    cpu = (process_cpu(pid) - cpu_before) * 1e3 / len(latencies) if pid else 0.0
    writer = (process_cpu(pid, children=False) - writer_before) * 1e3 / len(latencies) if pid else 0.0
    return LoadResult(len(latencies), seconds, percentile(latencies, 0.50) * 1e3, percentile(latencies, 0.99) * 1e3,
                      counts, cpu, writer)  # fmt: skip


# -- phase 1: the mixed load ----------------------------------------------------------------------------------------


def signed(method: str, path: str, host: str, user: str, body: object | None = None) -> bytes:
    content = encode_body(body) if body is not None else b""
    headers = sign_headers(method, path, content, user, dev_keypair(user), int(time.time()))
    if content:
        headers["content-type"] = "application/json"
    return raw_request(method, path, host, headers, content)


def prepare_world(url: str, clients: int) -> dict[str, list[str]]:
    """Users c0..cN, each funded with a thread of 8 messages (4 made public) and 4 private messages kept for later
    public requests. Returns user -> hashes available for request_public."""
    kept: dict[str, list[str]] = {}
    rng = random.Random(4)
    vocabulary, weights = corpus_words(5)
    for n in range(clients):
        name = f"c{n}"
        with ChoirClient(url, name, dev_keypair(name)) as client:
            client.register()
            client.fund(name, 1000 * CHOIR, AUTHORITIES)
            client.create_thread(f"thread-{name}", 10 * CHOIR)
            kept[name] = []
            for m in range(12):
                text = " ".join(rng.choices(vocabulary, weights=weights, k=rng.randint(8, 40)))
                result = client.submit_message(f"thread-{name}", text, ("public", "premium", "thread_only")[m % 3])
                if m < 4:
                    client.request_public(f"thread-{name}", result.content_hash or "")
                elif m >= 8:
                    kept[name].append(result.content_hash or "")
    return kept


def mixed_requests(
    host: str, clients: int, per_client: int, kept: dict[str, list[str]], seed: int, search_share: float = 0.20
) -> list[list[bytes]]:
    """The mix; with `search_share=0` searches are replaced by thread reads (to show what search costs)."""
    rng = random.Random(seed)
    vocabulary, weights = corpus_words(5)
    out = []
    for n in range(clients):
        name = f"c{n}"
        thread = f"thread-{name}"
        publishable = list(kept[name])
        requests = []
        for i in range(per_client):
            roll = rng.random()
            if roll < 0.65 - search_share:
                other = f"thread-c{rng.randrange(clients)}"
                requests.append(signed("GET", f"/v1/thread/{quote(other, safe='')}", host, name))
            elif roll < 0.65:
                query = urlencode({"q": " ".join(rng.choices(vocabulary, weights=weights, k=2)), "limit": 10})
                requests.append(signed("GET", f"/v1/search?{query}", host, name))
            elif roll < 0.85:
                words = " ".join(rng.choices(vocabulary, weights=weights, k=rng.randint(8, 40)))
                body = {"thread_id": thread, "content": f"{words} ({name} {seed}-{i})"}
                requests.append(signed("POST", "/v1/message/submit", host, name, body))
            elif roll < 0.90 and publishable:
                body = {"thread_id": thread, "content_hash": publishable.pop()}
                requests.append(signed("POST", "/v1/message/request-public", host, name, body))
            else:
                requests.append(signed("GET", "/v1/wallet", host, name))
        out.append(requests)
    return out


def bare_server() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    code = BARE_APP + f"\nimport uvicorn\nuvicorn.run(app, host='127.0.0.1', port={port}, log_level='warning', " \
        "access_log=False, lifespan='off', backlog=2048)\n"  # fmt: skip
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    for _ in range(400):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/bare", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the bare server did not start")


def phase_mixed(root: Path, clients: int, per_client: int, workers: list[int]) -> dict[str, LoadResult]:
    """The backend with each number of HTTP workers, then the bare endpoint."""
    runs: dict[str, LoadResult] = {}
    for count in workers:
        backend, no_search = mixed_backend(root / f"mixed-{count}", clients, per_client, count)
        runs[f"backend {count}"], runs[f"backend without search {count}"] = backend, no_search
    process, port = bare_server()
    try:
        bare_host = f"127.0.0.1:{port}"
        bare_reqs = [[raw_request("GET", "/bare", bare_host, {}) for _ in range(per_client)] for _ in range(clients)]
        run_load("127.0.0.1", port, [r[:10] for r in bare_reqs])  # warm-up
        runs["bare"] = run_load("127.0.0.1", port, bare_reqs, process.pid)
    finally:
        process.kill()
        process.wait()
    return runs


def mixed_backend(data: Path, clients: int, per_client: int, workers: int) -> tuple[LoadResult, LoadResult]:
    server = ServerProcess(data, [*HIGH_LIMITS, "--workers", str(workers)]).start()
    try:
        host = f"127.0.0.1:{server.port}"
        kept = prepare_world(server.url, clients)
        unpublishable = {name: [] for name in kept}  # the warm-up must not spend the measured run's requests
        run_load("127.0.0.1", server.port, mixed_requests(host, clients, 10, unpublishable, seed=1))  # warm-up
        pid = server.process.pid if server.process else None
        backend = run_load("127.0.0.1", server.port, mixed_requests(host, clients, per_client, kept, seed=2), pid)
        spare = {name: [] for name in kept}  # public requests were spent: this run reads its wallet instead
        no_search = run_load(
            "127.0.0.1", server.port, mixed_requests(host, clients, per_client, spare, 3, search_share=0.0), pid
        )
    finally:
        server.stop()
    return backend, no_search


# -- phase 2: search at N messages ----------------------------------------------------------------------------------


def corpus_words(seed: int) -> tuple[list[str], list[float]]:
    """The corpus vocabulary and its Zipf-like frequencies (the same for building and for queries)."""
    rng = random.Random(seed)
    vocabulary = [f"{rng.choice('bcdfghklmnprstvz')}{rng.choice('aeiou')}{rng.choice('bcdfghklmnprstvz')}{n}"
                  for n in range(3000)]  # fmt: skip
    return vocabulary, [1 / (rank + 1) for rank in range(len(vocabulary))]


def build_corpus(data: Path, messages: int, threads: int, seed: int) -> None:
    """Fill a data directory through `Backend` (model, journal, index) without HTTP."""
    rng = random.Random(seed)
    vocabulary, weights = corpus_words(seed)
    backend = Backend(BackendConfig(data_dir=data, rate_limits={}, check="off")).start()
    try:
        now = 1_700_000_000
        users = [f"u{n}" for n in range(40)]
        for future in [backend.submit(RegisterCommand(u, str(dev_keypair(u).pubkey()))) for u in users]:
            future.result(60)
        backend.execute(PremiumCommand("u1", True))
        futures = [backend.submit(StepCommand(Fund(u, now, 10**6 * CHOIR, ("treasury1", "treasury2"))))
                   for u in users]  # fmt: skip
        futures += [backend.submit(StepCommand(CreateThread(users[t % len(users)], now, f"t{t}", 10 * CHOIR)))
                    for t in range(threads)]  # fmt: skip
        for future in futures:
            future.result(60)
        futures = []
        for n in range(messages):
            t = n % threads
            text = " ".join(rng.choices(vocabulary, weights=weights, k=rng.randint(8, 40)))
            privacy = rng.choices([Privacy.PUBLIC, Privacy.PREMIUM, Privacy.THREAD_ONLY], [6, 2, 2])[0]
            step = SubmitMessage(users[t % len(users)], now, f"t{t}", content_hash(text), privacy)
            futures.append(backend.submit(StepCommand(step, text)))
            if n % 2 == 0:
                futures.append(backend.submit(StepCommand(RequestPublic(step.actor, now, step.thread, step.hash))))
            if len(futures) > 4000:
                for future in futures:
                    future.result(120)
                futures = []
        for future in futures:
            future.result(120)
        if not backend.wait_indexed(backend.journal_seq, 1800):
            raise RuntimeError("indexing did not finish")
    finally:
        backend.close()


def corpus(root: Path, messages: int, keep: Path | None) -> tuple[Path, float]:
    """The search corpus's data directory (built now unless `--keep` holds one) and the seconds building took."""
    data = (keep or root) / f"corpus-{messages}"
    if (data / "journal.sqlite3").exists():
        return data, 0.0
    started = time.perf_counter()
    build_corpus(data, messages, threads=max(1, messages // 50), seed=5)
    return data, time.perf_counter() - started


def phase_search(root: Path, messages: int, searches: int, keep: Path | None, workers: list[int]) -> dict[str, object]:
    data, built = corpus(root, messages, keep)
    results: dict[str, object] = {"messages": messages, "build_seconds": round(built, 1)}
    for count in workers:
        results.update(searches_of(data, messages, searches, count))
    return results


def searches_of(data: Path, messages: int, searches: int, workers: int) -> dict[str, object]:
    server = ServerProcess(data, ["--no-rate-limits", "--chain", "none", "--workers", str(workers)]).start()
    rng = random.Random(9)
    vocabulary, weights = corpus_words(5)
    results: dict[str, object] = {}
    try:
        viewers = {"public user": "u39", "premium user": "u1", "co-author (10 threads)": "u0"}
        for label, user in [*viewers.items(), ("inside one thread", "u0")]:
            with ChoirClient(server.url, user, dev_keypair(user)) as client:
                times = []
                for i in range(searches):
                    query = " ".join(rng.choices(vocabulary, weights=weights, k=2))
                    thread_id = f"t{rng.randrange(messages // 50)}" if label == "inside one thread" else None
                    started = time.perf_counter()
                    client.search(query, limit=10, thread_id=thread_id)
                    if i >= 10:  # the first few warm caches
                        times.append(time.perf_counter() - started)
                results[f"{label}, {plural(workers)}"] = {
                    "p50_ms": round(percentile(times, 0.50) * 1e3, 1),
                    "p95_ms": round(percentile(times, 0.95) * 1e3, 1),
                    "p99_ms": round(percentile(times, 0.99) * 1e3, 1),
                }
    finally:
        server.stop()
    return results


# -- phase 3: restart --------------------------------------------------------------------------------------------


def journal_rows(data: Path) -> int:
    import sqlite3

    db = sqlite3.connect(data / "journal.sqlite3")
    try:
        return int(db.execute("SELECT COUNT(*) FROM journal").fetchone()[0])
    finally:
        db.close()


def timed_start(data: Path, extra: list[str], timeout: float) -> dict[str, float]:
    """Start `choir serve` on `data`, time it to the first health answer, stop it cleanly."""
    server = ServerProcess(data, ["--no-rate-limits", *extra])
    started = time.perf_counter()
    server.start(timeout=timeout)
    seconds = time.perf_counter() - started
    cpu = process_cpu(server.process.pid) if server.process else 0.0
    server.stop()
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}


def phase_restart(root: Path, messages: int, restarts: int, keep: Path | None, workers: list[int]) -> dict[str, object]:
    """Restarts of the search corpus's data directory (built by `phase_search`). Each kind of server is started
    once untimed first: that start writes the bytecode cache (an installed server has one; this environment may
    set PYTHONDONTWRITEBYTECODE, which would make every start compile every module again) and stores whatever
    the data directory lacked (a snapshot at the journal's head)."""
    data, _ = corpus(root, messages, keep)
    results: dict[str, object] = {"journal_rows": journal_rows(data)}
    saved = os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        for count in workers:
            for label, chain in (("no chain", ["--chain", "none"]), ("chain (LiteSVM)", [])):
                extra = [*chain, "--workers", str(count)]
                timed_start(data, extra, timeout=600)
                results[f"{label}, {plural(count)}"] = [timed_start(data, extra, timeout=600) for _ in range(restarts)]
    finally:
        if saved is not None:
            os.environ["PYTHONDONTWRITEBYTECODE"] = saved
    return results


# -- report -------------------------------------------------------------------------------------------------------


def report(
    mixed: dict[str, LoadResult], search: dict[str, object], restart: dict[str, object], args: argparse.Namespace
) -> str:
    bare = mixed["bare"]
    counts: list[int] = args.workers
    load = os.getloadavg()

    def row(label: str, r: LoadResult) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
        cpu = f"{r.server_cpu_ms:.2f}"
        if r.writer_cpu_ms < r.server_cpu_ms - 0.005:  # worker processes: the writer's share apart
            cpu += f" (writer {r.writer_cpu_ms:.2f}, workers {r.server_cpu_ms - r.writer_cpu_ms:.2f})"
        return f"| {label} | {r.rps:,.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {cpu} | {statuses} |"

    lines = [
        f"Command: `.venv/bin/python bench/bench_backend.py --clients {args.clients} --requests {args.requests} "
        f"--messages {args.messages} --searches {args.searches} --restarts {args.restarts} "
        f"--workers {' '.join(map(str, args.workers))}`",
        "",
        f"Machine: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1, 5, 15 min) at the end of the run (the machine is shared: "
        f"figures move with the load). Python {sys.version.split()[0]}, loopback, SQLite synchronous=FULL. "
        "`choir serve --workers N`: N = 1 is one process (one uvicorn worker); N > 1 is the writer's process and N "
        "HTTP worker processes (server CPU counts all of them).",
        "",
        f"Mixed load, {args.clients} concurrent clients, {bare.requests} requests per run, the Choir program in "
        "LiteSVM in front of the model (45% thread reads, 20% searches, 20% submissions, 5% public requests, 10% "
        "wallet reads, all signed):",
        "",
        "| server | requests/s | p50 ms | p99 ms | server CPU ms/request | statuses |",
        "|---|---|---|---|---|---|",
        *(row(f"reference backend, {plural(count)}", mixed[f"backend {count}"]) for count in counts),
        *(
            row(
                f"reference backend, {plural(count)}, searches replaced by thread reads",
                mixed[f"backend without search {count}"],
            )
            for count in counts
        ),
        row("bare FastAPI endpoint", bare),
        *(ratio(f"**backend, {plural(count)} / bare**", mixed[f"backend {count}"], bare) for count in counts),
        "",
        f"Search at {search['messages']:,} indexed messages (Qdrant Edge shard, BM25, privacy filtered in the engine "
        f"and checked on the model; over HTTP, signed, one request at a time, {args.searches} per viewer):",
        "",
        "| viewer | p50 ms | p95 ms (goal < 5) | p99 ms |",
        "|---|---|---|---|",
    ]
    for label, figures in search.items():
        if isinstance(figures, dict):
            lines.append(f"| {label} | {figures['p50_ms']} | {figures['p95_ms']} | {figures['p99_ms']} |")
    if search.get("build_seconds"):
        lines += ["", f"Building the {search['messages']:,}-message corpus through `Backend` took "
                      f"{search['build_seconds']} s (journal, model and Qdrant indexing)."]  # fmt: skip
    lines += [
        "",
        f"Restart on that data directory ({restart['journal_rows']:,} journal rows): seconds from starting "
        "`choir serve` to its first `/v1/health` answer (goal < 2 s), and the server's CPU seconds by then:",
        "",
        "| server | each start: seconds (CPU seconds) |",
        "|---|---|",
    ]
    for label, starts in restart.items():
        if isinstance(starts, list):
            each = ", ".join(f"{start['seconds']} ({start['cpu_seconds']})" for start in starts)
            lines.append(f"| {label} | {each} |")
    return "\n".join(lines)


def plural(workers: int) -> str:
    return f"{workers} worker{'s' if workers > 1 else ''}"


def ratio(label: str, backend: LoadResult, bare: LoadResult) -> str:
    return (
        f"| {label} | **{backend.rps / bare.rps:.0%}** (goal >= 40%) | {backend.p50_ms / bare.p50_ms:.1f}x "
        f"| {backend.p99_ms / bare.p99_ms:.1f}x (goal: p99 < 100 ms) | "
        f"{backend.server_cpu_ms / max(bare.server_cpu_ms, 1e-9):.0f}x | |"
    )


def record(path: Path, body: str) -> None:
    """Replace (or append) only the `## Reference backend` section of the benchmarks file."""
    heading = "## Reference backend"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section = f"{heading}\n\n{body}\n\n"
    start = text.find(heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


PHASES = ("mixed", "search", "restart")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=80, help="requests per client in the measured mixed load")
    parser.add_argument("--messages", type=int, default=100_000, help="indexed messages for search and restart")
    parser.add_argument("--searches", type=int, default=300, help="searches per viewer")
    parser.add_argument("--restarts", type=int, default=3, help="timed starts per kind of server")
    parser.add_argument("--keep", type=Path, help="keep (and reuse) the search corpus in this directory")
    parser.add_argument("--record", type=Path, help="write the figures into this markdown file's backend section")
    parser.add_argument("--only", choices=PHASES, help="run one phase only (no report is recorded)")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="HTTP worker processes of each server (`choir serve`)"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="choir-bench-backend-"))
    try:
        figures: dict[str, object] = {}
        for phase in PHASES:
            if args.only in (None, phase):
                if phase == "mixed":
                    mixed = phase_mixed(root, args.clients, args.requests, args.workers)
                    figures[phase] = mixed
                    print(json.dumps({k: vars(v) | {"rps": v.rps} for k, v in mixed.items()}, indent=1), flush=True)
                else:
                    if phase == "search":
                        figures[phase] = phase_search(root, args.messages, args.searches, args.keep, args.workers)
                    else:
                        figures[phase] = phase_restart(root, args.messages, args.restarts, args.keep, args.workers)
                    print(json.dumps(figures[phase], indent=1), flush=True)
        if args.only:
            return
        text = report(figures["mixed"], figures["search"], figures["restart"], args)  # type: ignore[arg-type]
        print(text)
        if args.record:
            record(args.record, text)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
