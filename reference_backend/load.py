"""A bounded load test of the reference backend that also checks what it delivered (issue 7, item 5).

Why: throughput figures alone say nothing about whether the backend kept its promises under load. This module
drives a real `choir serve` child process on a free 127.0.0.1 port (fresh temporary data directory, real clock,
rate limits off) with `users` simulated users at once, over HTTP (`ChoirClient`, signed) and WebSocket (`WsClient`),
for `seconds`, and then verifies two things from the clients' side:

* **acknowledged operations**: every operation the server acknowledged (an `OperationResult` with its journal
  `seq` and `now`) is replayed, in journal order, through a fresh `choir_model.Model`; its snapshot must equal the
  server's `GET /v1/admin/snapshot` (`properties.compare.diff_snapshots`). A lost or extra operation shows as a
  difference.
* **events**: the replay also yields each operation's events; `reference_backend.ws.visible` (the server's own
  filter) says which of them each subscriber is entitled to after its snapshot. Every subscriber must have received
  exactly those, in journal order, with contiguous per-thread `seq`, one snapshot and no gap.

The workload: user `i` registers, is funded (co-signed by the treasury authorities) and creates thread `load-i`, of
which it is the sole co-author. It subscribes to its own thread and to its neighbour's (`load-(i+1)`, as an
outsider). Then, until the deadline, it repeatedly either posts a public message and makes it public (a sole
co-author's request settles at once), posts a `thread_only` message (which its neighbour must never receive),
reads its neighbour's thread, or reads its wallet. Each user's operations on its thread are sequential, so the
message facts the server's fan-out reads are those after each operation, as in the replay.

Everything is bounded: the load phase by `seconds`, setup and draining by timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from choir_model import CHOIR, ChoirError, CreateThread, Fund, Model, Privacy, RequestPublic, Step, SubmitMessage
from properties.compare import diff_snapshots
from reference_backend.auth import dev_keypair
from reference_backend.client import ChoirApiError, ChoirClient
from reference_backend.schemas import OperationResult
from reference_backend.server import ServerProcess
from reference_backend.ws import Delta, event_facts, visible
from reference_backend.ws_client import WsClient

AUTHORITIES = ("treasury1", "treasury2")
FUNDS = 1000 * CHOIR
DEPOSIT = 2 * CHOIR
R = TypeVar("R")


@dataclass
class LoadReport:
    """What a load run measured and what its consistency checks found."""

    users: int
    seconds: float
    requests: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    acknowledged: int = 0
    connected: int = 0
    delivered_events: int = 0
    expected_events: int = 0
    missing_events: int = 0
    unexpected_events: int = 0
    reordered_events: int = 0
    gaps: int = 0
    resyncs: int = 0
    ws_failures: int = 0
    state_differences: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def throughput(self) -> float:
        """Requests per second during the load phase."""
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, q: int) -> float:
        """The q-th percentile of request latency, ms (q in 1..99)."""
        if len(self.latencies) < 2:
            return 1000 * self.latencies[0] if self.latencies else float("nan")
        return 1000 * statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]

    @property
    def consistent(self) -> bool:
        """No lost acknowledged operation, no lost, extra or reordered event, no gap or resync."""
        return not (
            self.state_differences
            or self.missing_events
            or self.unexpected_events
            or self.reordered_events
            or self.gaps
            or self.resyncs
            or self.ws_failures
            or self.connected != self.users
        )

    def summary(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "seconds": round(self.elapsed, 2),
            "requests": self.requests,
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(self.percentile_ms(50), 2),
            "p95_ms": round(self.percentile_ms(95), 2),
            "p99_ms": round(self.percentile_ms(99), 2),
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "acknowledged_operations": self.acknowledged,
            "ws_connected": self.connected,
            "delivered_events": self.delivered_events,
            "expected_events": self.expected_events,
            "missing_events": self.missing_events,
            "unexpected_events": self.unexpected_events,
            "reordered_events": self.reordered_events,
            "gaps": self.gaps,
            "resyncs": self.resyncs,
            "state_differences": len(self.state_differences),
            "consistent": self.consistent,
        }


def _caught_up(client: WsClient, want: dict[str, int]) -> bool:
    return all(len(client.threads[t].events) >= n for t, n in want.items())


@dataclass
class _User:
    index: int
    name: str
    thread: str
    neighbour: str
    http: ChoirClient
    ws: WsClient | None = None


class _Run:
    """One load run against a server at `url` (see the module docstring)."""

    def __init__(self, url: str, users: int, seconds: float, seed: int, timeout: float) -> None:
        self.url = url
        self.seconds = seconds
        self.timeout = timeout
        self.random = random.Random(seed)
        self.report = LoadReport(users, seconds)
        self.acked: list[tuple[OperationResult, Step]] = []
        self.pool = ThreadPoolExecutor(max_workers=max(4, min(64, users)), thread_name_prefix="load")
        self.http = httpx.Client(
            base_url=url, timeout=timeout, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)
        )
        self.users = [
            _User(i, f"load{i}", f"load-{i}", f"load-{(i + 1) % users}", self._client(f"load{i}")) for i in range(users)
        ]
        self.measuring = False

    def _client(self, name: str) -> ChoirClient:
        return ChoirClient(self.url, name, dev_keypair(name), http=self.http)

    async def _call(self, fn: Callable[[], R]) -> R | None:
        """Run one blocking client call on the pool; count it, time it, and return None on an error."""
        loop = asyncio.get_running_loop()

        def timed() -> tuple[float, R]:
            start = time.perf_counter()
            result = fn()
            return time.perf_counter() - start, result

        try:
            elapsed, result = await loop.run_in_executor(self.pool, timed)
        except (ChoirApiError, httpx.HTTPError) as error:
            kind = error.code if isinstance(error, ChoirApiError) else type(error).__name__
            self.report.error_kinds[kind] = self.report.error_kinds.get(kind, 0) + 1
            if self.measuring:
                self.report.requests += 1
                self.report.errors += 1
            return None
        if self.measuring:
            self.report.requests += 1
            self.report.latencies.append(elapsed)
        return result

    async def _op(
        self, fn: Callable[[], OperationResult], step: Callable[[OperationResult], Step]
    ) -> OperationResult | None:
        """Like `_call`; an acknowledged operation is remembered with the model step it stands for (`now` and the
        content hash come from the server's answer)."""
        result = await self._call(fn)
        if result is not None:
            self.acked.append((result, step(result)))
        return result

    async def setup(self, user: _User) -> None:
        authorities = [(name, dev_keypair(name)) for name in AUTHORITIES]
        if await self._call(user.http.register) is None:
            raise RuntimeError(f"could not register {user.name}")
        funded = await self._op(
            lambda: user.http.fund(user.name, FUNDS, authorities),
            lambda r: Fund(user.name, r.now, FUNDS, AUTHORITIES),
        )
        created = await self._op(
            lambda: user.http.create_thread(user.thread, DEPOSIT),
            lambda r: CreateThread(user.name, r.now, user.thread, DEPOSIT),
        )
        if funded is None or created is None:
            raise RuntimeError(f"could not set up {user.name}: {self.report.error_kinds}")

    async def subscribe(self, user: _User) -> None:
        try:
            user.ws = await WsClient(self.url, user.name, dev_keypair(user.name)).start()
        except (OSError, PermissionError, TimeoutError):
            self.report.ws_failures += 1
            return
        self.report.connected += 1
        await user.ws.subscribe(user.thread)
        await user.ws.subscribe(user.neighbour)

    async def post(self, user: _User, text: str, privacy: Privacy) -> OperationResult | None:
        """A co-author's message on the user's own thread."""
        return await self._op(
            lambda: user.http.submit_message(user.thread, text, privacy.value),  # type: ignore[arg-type]
            lambda r: SubmitMessage(user.name, r.now, user.thread, r.content_hash or "", privacy),
        )

    async def publish(self, user: _User, digest: str) -> OperationResult | None:
        """The sole co-author's public request: settles at once."""
        return await self._op(
            lambda: user.http.request_public(user.thread, digest),
            lambda r: RequestPublic(user.name, r.now, user.thread, digest),
        )

    async def act(self, user: _User, deadline: float) -> None:
        for n in itertools.count(1):
            if time.monotonic() >= deadline:
                return
            choice = self.random.random()
            if choice < 0.4:
                posted = await self.post(user, f"load message {user.name} {n}: public", Privacy.PUBLIC)
                if posted is not None and posted.content_hash:
                    await self.publish(user, posted.content_hash)
            elif choice < 0.6:
                await self.post(user, f"load message {user.name} {n}: thread only", Privacy.THREAD_ONLY)
            elif choice < 0.85:
                await self._call(lambda: user.http.thread(user.neighbour))
            else:
                await self._call(user.http.wallet)

    async def run(self) -> LoadReport:
        asyncio.get_running_loop().set_default_executor(self.pool)
        try:
            await asyncio.wait_for(asyncio.gather(*(self.setup(u) for u in self.users)), self.timeout)
            await asyncio.wait_for(asyncio.gather(*(self.subscribe(u) for u in self.users)), self.timeout)
            await asyncio.wait_for(self._snapshots_arrived(), self.timeout)
            self.measuring = True
            start = time.monotonic()
            await asyncio.gather(*(self.act(u, start + self.seconds) for u in self.users))
            self.report.elapsed = time.monotonic() - start
            self.measuring = False
            await self.verify()
        finally:
            for user in self.users:
                if user.ws is not None:
                    await user.ws.close()
            self.http.close()
            self.pool.shutdown(wait=False, cancel_futures=True)
        return self.report

    async def _snapshots_arrived(self) -> None:
        for user in self.users:
            if user.ws is not None:
                await user.ws.wait_for(lambda c: all(not m.stale for m in c.threads.values()), self.timeout)

    def replay(self) -> tuple[Model, dict[str, list[Delta]]]:
        """The model after the acknowledged operations in journal order, and each thread's deltas. An acknowledged
        operation the model refuses is itself an inconsistency, recorded with the state differences."""
        model = Model(policy="seeds")
        deltas: dict[str, list[Delta]] = {}
        for result, step in sorted(self.acked, key=lambda pair: pair[0].seq):
            try:
                events = model.apply(step)
            except ChoirError as error:
                self.report.state_differences.append(f"acknowledged {step.op} (seq {result.seq}) refused: {error}")
                continue
            for facts in event_facts(model.state, events):
                deltas.setdefault(facts[0], []).append(Delta(result.seq, *facts))
        return model, deltas

    async def verify(self) -> None:
        report = self.report
        report.acknowledged = len(self.acked)
        seqs = [result.seq for result, _ in self.acked]
        if len(set(seqs)) != len(seqs):
            report.state_differences.append("two acknowledged operations share a journal seq")
        model, deltas = self.replay()
        admin = self._client(AUTHORITIES[0])
        actual = await asyncio.to_thread(admin.call, "GET", "/v1/admin/snapshot")
        report.state_differences.extend(diff_snapshots(model.snapshot(), actual))
        expected: dict[tuple[int, str], list[tuple[int, str]]] = {}
        for user in self.users:
            if user.ws is None:
                continue
            for thread_id in (user.thread, user.neighbour):
                as_of = next(
                    f["journal_seq"]
                    for f in reversed(user.ws.frames)
                    if f.get("type") == "StateSync" and f.get("thread_id") == thread_id
                )
                expected[(user.index, thread_id)] = [
                    (d.journal_seq, d.event.kind)
                    for d in deltas.get(thread_id, [])
                    if d.journal_seq > as_of and visible(d, user.name, False) is not None
                ]
        deadline = time.monotonic() + self.timeout
        for user in self.users:
            if user.ws is None:
                continue
            want = {t: len(expected[(user.index, t)]) for t in (user.thread, user.neighbour)}
            remaining = max(0.1, deadline - time.monotonic())
            with contextlib.suppress(TimeoutError):  # counted below as missing events
                await user.ws.wait_for(lambda c, w=want: _caught_up(c, w), remaining)
        for user in self.users:
            if user.ws is None:
                continue
            report.gaps += user.ws.gaps
            if user.ws.failed is not None:
                report.ws_failures += 1
            for thread_id in (user.thread, user.neighbour):
                mirror = user.ws.threads[thread_id]
                report.resyncs += max(0, mirror.snapshots - 1)
                got = [(f["journal_seq"], f["payload"].get("event")) for f in mirror.events]
                want_list = expected[(user.index, thread_id)]
                report.delivered_events += len(got)
                report.expected_events += len(want_list)
                report.missing_events += len(set(want_list) - set(got))
                report.unexpected_events += len(set(got) - set(want_list))
                common = set(got) & set(want_list)
                in_got = [e for e in got if e in common]
                in_want = [e for e in want_list if e in common]
                report.reordered_events += sum(1 for a, b in zip(in_got, in_want, strict=False) if a != b)
                report.reordered_events += sum(
                    1 for a, b in itertools.pairwise(mirror.events) if b["seq"] != a["seq"] + 1
                )


def run_load(users: int = 20, seconds: float = 5.0, seed: int = 0, timeout: float = 120.0) -> LoadReport:
    """Start a fresh backend on 127.0.0.1, run the load, verify it and stop the backend; return the report.

    The load phase lasts `seconds`; setup (registration, funding, thread creation, WebSocket snapshots) and the
    final draining of events are each bounded by `timeout`."""
    if users < 2 or seconds <= 0:
        raise ValueError("a load needs at least 2 users and a positive duration")
    with (
        tempfile.TemporaryDirectory(prefix="choir-load-") as tmp,
        ServerProcess(Path(tmp) / "data", ["--no-rate-limits"]) as server,
    ):
        return asyncio.run(_Run(server.url, users, seconds, seed, timeout).run())
