"""A bounded load test of the reference backend that also checks what it delivered, with optional crashes
(spec section 10).

Why: throughput figures alone say nothing about whether the backend kept its promises under load, or across a
crash. `run_load` starts a real `choir serve` child process on a free 127.0.0.1 port (fresh temporary data
directory, real clock, rate limits off; the approval window and divest cooldown scaled to the load's time scale)
and drives it with the simulator's agents (`loadtest.remote`): a scenario from `sim/scenarios`,
its agent groups scaled to `users` identities, each identity one user with its own signed HTTP client and its own
WebSocket session.

Phases, each bounded:

1. **setup** (not measured): every user registers; the simulator's own bootstrap of the scenario (funding, the
   initial threads, the initial seats: a spec at the join stake and its unanimous approval) is planned on a local
   model and sent to the server, threads in parallel; every user opens its WebSocket, subscribed to the threads
   it co-authors and to one it does not (so the fan-out's privacy filter is exercised), and waits for its
   snapshots. A connection attempt that fails or times out is retried with the backoff, as the seeds' client
   reconnects; a socket still retrying after `connect_timeout` keeps retrying during the load (it is counted as
   late: its first snapshot covers what came before), and one that never connects is reported as such.
2. **load** (`seconds`, measured): every agent's process runs; votes come from `ApprovalRequest` frames; a
   keeper expires what times out. With `faults=N`, the server is killed with SIGKILL N times, evenly spaced, and
   restarted on the same port and data directory; clients retry (HTTP: the seeds' backoff on connection errors)
   and reconnect (WebSocket: backoff, re-authentication, resubscription and fresh snapshots).
3. **verification** (`loadtest.verify`): acknowledged operations against the journal, the model's
   replay of the journal against the server's snapshot, the chain against the model (`/v1/consistency`, when the
   server runs one), every snapshot a subscriber received against the model's view at its journal position, and
   every subscriber's events against what it may see, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from choir_model import CreateThread, Fund, ProcessApproval, Step, SubmitSpec
from loadtest.remote import Recorder, RemoteWorld, scaled_params
from loadtest.verify import (
    EventCheck,
    caught_up,
    check_events,
    check_operations,
    check_snapshots,
    expected_segments,
    read_journal,
    replay,
    snapshots_of,
)
from reference_backend.auth import dev_keypair
from reference_backend.client import ChoirApiError, ChoirClient
from reference_backend.server import ServerProcess
from reference_backend.ws_client import WsClient
from sim.agents import AGENT_KINDS
from sim.engine import TREASURY_SIGNERS, World
from sim.html import write_html
from sim.scenario import Scenario, load_scenario

DEFAULT_TIME_SCALE = 86_400.0
"""Simulated seconds per real second: one simulated day a second."""
BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""The load's retry and reconnection delays (HTTP on connection errors, WebSocket on a dropped connection): finer
than the seeds' 1 s, 5 s, 30 s, so a restart that takes a few seconds costs the users about that much, and the
load's latency figures measure the outage rather than the backoff's granularity. 31.75 s in all, then give up."""
CONNECT_TIMEOUT = 60.0
"""How long setup waits for the WebSockets to connect (with retries) before the load starts, s."""


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (q in 1..99), inclusive method; NaN for no values."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class LoadReport:
    """What a load run measured and what its consistency checks found."""

    scenario: str
    users: int
    seconds: float
    time_scale: float
    requests: int = 0
    errors: int = 0
    refused: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    request_lags: list[float] = field(default_factory=list)
    acknowledged: int = 0
    acknowledged_by_op: dict[str, int] = field(default_factory=dict)
    in_doubt: int = 0
    in_doubt_journaled: int = 0
    connected: int = 0  # sockets that connected, at once or after retries
    connect_retries: int = 0  # failed connection attempts retried before a socket's first connection
    connected_late: int = 0  # sockets that connected only during the load (after `connect_timeout`)
    never_connected: int = 0  # sockets still retrying at the end, or that gave up before connecting
    gave_up: int = 0  # sockets that connected, lost the connection and gave up reconnecting
    reconnections: int = 0
    faults: int = 0
    downtimes: list[float] = field(default_factory=list)
    events: EventCheck = field(default_factory=EventCheck)
    state_differences: list[str] = field(default_factory=list)
    snapshots_checked: int = 0
    snapshot_differences: list[str] = field(default_factory=list)
    chain: dict[str, Any] | None = None
    agent_failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    setup_seconds: float = 0.0
    verify_seconds: float = 0.0

    @property
    def throughput(self) -> float:
        """Requests per second during the load phase."""
        return self.requests / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, q: int) -> float:
        """The q-th percentile of request latency, ms (q in 1..99)."""
        return 1000 * percentile(self.latencies, q)

    @property
    def chain_consistent(self) -> bool:
        return self.chain is None or bool(self.chain.get("consistent"))

    @property
    def consistent(self) -> bool:
        """No acknowledged operation lost, every snapshot the model's view, no lost, extra or reordered event, no
        unexplained resync, the chain (if any) equal to the model, and no agent failed."""
        e = self.events
        return not (
            self.state_differences
            or self.snapshot_differences
            or e.missing
            or e.unexpected
            or e.reordered
            or e.unexplained_resyncs
            or not self.chain_consistent
            or self.agent_failures
        )

    @property
    def all_connected(self) -> bool:
        """Every user's WebSocket connected and none gave up reconnecting: a socket that did not is not a lost
        event (nothing was sent to it), but those users saw nothing live, so the load did not do what it asked."""
        return self.connected == self.users and not self.gave_up

    @property
    def passed(self) -> bool:
        return self.consistent and self.all_connected

    def lag_s(self, q: int) -> float:
        """The q-th percentile of the time from a window's opening to a voter's `ApprovalRequest`, s (the server
        stamps `now` in whole seconds, so this is good to about a second)."""
        return percentile(self.request_lags, q)

    def summary(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "users": self.users,
            "seconds": round(self.elapsed, 2),
            "setup_s": round(self.setup_seconds, 1),
            "verify_s": round(self.verify_seconds, 1),
            "time_scale": self.time_scale,
            "requests": self.requests,
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(self.percentile_ms(50), 2),
            "p95_ms": round(self.percentile_ms(95), 2),
            "p99_ms": round(self.percentile_ms(99), 2),
            "errors": self.errors,
            "refused": self.refused,
            "error_kinds": dict(sorted(self.error_kinds.items())),
            "acknowledged_operations": self.acknowledged,
            "acknowledged_by_op": dict(sorted(self.acknowledged_by_op.items())),
            "in_doubt": self.in_doubt,
            "in_doubt_journaled": self.in_doubt_journaled,
            "faults": self.faults,
            "downtime_s": [round(d, 2) for d in self.downtimes],
            "ws_connected": self.connected,
            "ws_connect_retries": self.connect_retries,
            "ws_connected_late": self.connected_late,
            "ws_never_connected": self.never_connected,
            "ws_gave_up": self.gave_up,
            "ws_reconnections": self.reconnections,
            "approval_request_lag_p50_s": round(self.lag_s(50), 2),
            "approval_request_lag_p99_s": round(self.lag_s(99), 2),
            "delivered_events": self.events.delivered,
            "expected_events": self.events.expected,
            "missing_events": self.events.missing,
            "unexpected_events": self.events.unexpected,
            "reordered_events": self.events.reordered,
            "bridged_by_snapshot": self.events.bridged,
            "abandoned_events": self.events.abandoned,
            "snapshots_checked": self.snapshots_checked,
            "snapshot_differences": len(self.snapshot_differences),
            "unexplained_resyncs": self.events.unexplained_resyncs,
            "state_differences": len(self.state_differences),
            "chain_consistent": None if self.chain is None else self.chain_consistent,
            "agent_failures": len(self.agent_failures),
            "consistent": self.consistent,
            "all_connected": self.all_connected,
        }


def markdown(report: LoadReport, command: str) -> str:
    """The load's section of `out/report.md`: what ran, the figures, and each consistency check's verdict."""
    s, e = report.summary(), report.events
    verdict = "consistent" if report.consistent else "**INCONSISTENT**"
    if not report.all_connected:
        verdict += f", **{report.never_connected + report.gave_up} WebSockets not connected**"
    downtime = ", ".join(f"{d:.1f} s" for d in report.downtimes) or "none"
    chain = "no chain" if report.chain is None else ("equal" if report.chain_consistent else "**differ**")
    rows = [
        ("users (HTTP client + WebSocket each)", f"{report.users:,} ({report.connected:,} connected)"),
        ("WebSockets: connection retries / connected during the load / never connected / gave up",
         f"{report.connect_retries:,} / {report.connected_late} / {report.never_connected} / {report.gave_up}"),
        ("load phase", f"{s['seconds']} s, one simulated day per {86_400 / report.time_scale:g} s"),
        ("requests", f"{report.requests:,} ({s['throughput_rps']} req/s)"),
        ("latency p50 / p95 / p99", f"{s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']} ms"),
        ("refused by the rules (4xx)", f"{report.refused:,}"),
        ("errors (5xx, transport)", f"{report.errors:,}"),
        ("acknowledged operations", f"{report.acknowledged:,}, all in the journal as acknowledged"
         if not report.state_differences else f"{report.acknowledged:,}"),
        ("writes in doubt (answer lost in a crash)", f"{report.in_doubt} ({report.in_doubt_journaled} journaled)"),
        ("crashes (SIGKILL + restart)", f"{report.faults} (down {downtime})"),
        ("WebSocket reconnections", f"{report.reconnections:,}"),
        ("events delivered / expected", f"{e.delivered:,} / {e.expected:,}"),
        ("events missing / unexpected / reordered", f"{e.missing} / {e.unexpected} / {e.reordered}"),
        ("events skipped by a reconnection, covered by the next snapshot", f"{e.bridged:,}"),
        ("snapshots unlike the model's view at their journal position",
         f"{len(report.snapshot_differences)} of {report.snapshots_checked:,}"),
        ("unexplained resyncs", f"{e.unexplained_resyncs}"),
        ("server state vs the model replaying the journal", f"{len(report.state_differences)} differences"),
        ("Choir program (in-process SVM) vs the model", chain),
    ]  # fmt: skip
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (
        f"## Backend load: {verdict}\n\n"
        f"`{command}` started the reference backend on 127.0.0.1 (embedded defaults: SQLite journal, local Qdrant, "
        f"the Choir program in an in-process SVM) and drove it with the `{report.scenario}` scenario's agents "
        "(the `loadtest` package); then it checked every acknowledged operation against the journal, the "
        "server's state against the model's replay of the journal, every snapshot a subscriber received against "
        "the model's view, and every subscriber's events against what it may see.\n\n"
        "| measure | value |\n|---|---|\n" + table + "\n"
    )


def write_section(page: Path, section: str, marker: str = "choir load") -> None:
    """Put `section` into `page` between HTML comment markers, replacing an earlier one (a rerun does not repeat
    it); create the page if needed."""
    begin, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    text = page.read_text(encoding="utf-8") if page.exists() else ""
    if begin in text and end in text:
        text = text[: text.index(begin)] + text[text.index(end) + len(end) :].lstrip("\n")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text.rstrip("\n") + ("\n\n" if text else "") + f"{begin}\n{section}{end}\n", encoding="utf-8")


def write_report(out: Path, report: LoadReport, command: str) -> Path:
    """Put the load's section into `out/report.md` (the economists' page, or a new one) and render the page again
    as `out/report.html`, so the HTML shows what the Markdown says, the load included; return the HTML's path."""
    page = out / "report.md"
    write_section(page, markdown(report, command))
    return write_html(page)


def scaled_scenario(scenario: Scenario, users: int, seed: int) -> Scenario:
    """The scenario with its agent groups scaled to exactly `users` identities (proportions kept, each group at
    least one agent; the largest single-identity group absorbs the rounding) and its initial threads alike."""
    per_agent = {
        g.name: len(AGENT_KINDS[g.kind]("probe", g.name, g.config, random.Random(0)).identities)
        for g in scenario.groups
    }
    groups = [g for g in scenario.groups if g.config.count > 0]
    total = sum(g.config.count * per_agent[g.name] for g in groups)
    if not total:
        raise ValueError(f"scenario {scenario.name!r} has no agents")
    factor = users / total
    counts = {g.name: max(1, round(g.config.count * factor)) for g in groups}
    singles = [g.name for g in groups if per_agent[g.name] == 1]
    if not singles:
        raise ValueError(f"scenario {scenario.name!r} needs a group of single-identity agents to scale")
    largest = max(singles, key=lambda name: counts[name])
    counts[largest] += users - sum(counts[name] * per_agent[name] for name in counts)
    if counts[largest] < 1:
        raise ValueError(f"{users} users are too few for scenario {scenario.name!r}")
    overrides: dict[str, Any] = {f"agents.{name}.count": count for name, count in counts.items()}
    overrides["world.threads"] = max(1, round(scenario.world.threads * factor)) if scenario.world.threads else 0
    overrides["seed"] = seed
    return scenario.with_overrides(overrides)


class _Run:
    """One load run against `server` (see the module docstring)."""

    def __init__(
        self,
        server: ServerProcess,
        plan: World,
        seconds: float,
        faults: int,
        time_scale: float,
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self.server = server
        self.plan = plan
        self.seconds = seconds
        self.faults = faults
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.recorder = Recorder()
        users = sum(len(agent.identities) for agent in plan.agents)
        self.report = LoadReport(plan.scenario.name, users, seconds, time_scale)
        self.pool = ThreadPoolExecutor(max_workers=max(4, min(64, users)), thread_name_prefix="load")
        self.http = httpx.Client(
            base_url=server.url, timeout=30.0, limits=httpx.Limits(max_connections=96, max_keepalive_connections=96)
        )
        self.world = RemoteWorld(
            server.url, plan.agents, plan.params, plan.epoch, time_scale, self.recorder, self.http, self.pool, BACKOFF
        )
        self.random = random.Random(plan.scenario.seed)

    async def _each(self, calls: list[Any]) -> list[Any]:
        """Run blocking calls on the pool, all at once, bounded by the timeout."""
        loop = asyncio.get_running_loop()
        futures = [loop.run_in_executor(self.pool, call) for call in calls]
        return await asyncio.wait_for(asyncio.gather(*futures), self.timeout)

    async def setup(self) -> None:
        world = self.world
        await self._each([client.register for client in world.clients.values()])
        await self.bootstrap(self.plan.steps[: self.plan.bootstrap_steps])
        identities = [identity for agent in self.plan.agents for identity in agent.identities]
        for identity in identities:
            for thread_id in self.plan.coauthored(identity):
                world.joined(identity, thread_id)
        world.thread_ids[:] = self.plan.thread_ids  # the plan's order: the threads were created in parallel
        deadline = time.monotonic() + self.connect_timeout
        await asyncio.gather(*(self.connect(identity, deadline) for identity in identities))

    async def bootstrap(self, steps: list[Step]) -> None:
        """Send the simulator's bootstrap: funding and threads at once, then each thread's joins in order (each
        join's spec gets a text, hence the content hash the server computes; its approvals follow that hash)."""
        world = self.world
        digests: dict[str, str] = {}  # the plan's content hash -> the sent text's

        def join(step: Step) -> str | None:
            if isinstance(step, SubmitSpec):
                digests[step.hash] = world.content(f"{step.actor} asks to join {step.thread}")
            return world.act(replace(step, hash=digests[step.hash]))  # type: ignore[call-arg]

        def joins(sequence: list[Step]) -> str | None:
            return next((error for error in map(join, sequence) if error is not None), None)

        by_thread: dict[str, list[Step]] = defaultdict(list)
        for step in steps:
            if isinstance(step, SubmitSpec | ProcessApproval):
                by_thread[step.thread].append(step)
        phases = (
            [partial(world.act, s) for s in steps if isinstance(s, Fund)],
            [partial(world.act, s) for s in steps if isinstance(s, CreateThread)],
            [partial(joins, q) for q in by_thread.values()],
        )
        for calls in phases:
            if any(error is not None for error in await self._each(calls)):
                raise RuntimeError(f"the scenario's bootstrap was refused: {self.recorder.kinds}")

    async def connect(self, name: str, deadline: float) -> None:
        """Open `name`'s WebSocket, subscribed to its threads and one other; retry with the backoff until
        `deadline`, then leave it retrying in the background (whether and when it connected is read at the end)."""
        world = self.world
        client = WsClient(world.url, name, dev_keypair(name), backoff=BACKOFF, on_frame=world.on_frame)
        mine = world.coauthored(name)
        others = [t for t in world.thread_ids if t not in mine]
        for thread_id in [*mine, *([self.random.choice(others)] if others else [])]:
            await client.subscribe(thread_id)  # sent once connected, and again on every reconnection
        world.sockets[name] = client
        with contextlib.suppress(OSError):  # still retrying (TimeoutError), or gave up: counted in `verify`
            await client.start(timeout=max(0.0, deadline - time.monotonic()))

    async def inject_faults(self, start: float) -> None:
        for k in range(1, self.faults + 1):
            await asyncio.sleep(max(0.0, start + self.seconds * k / (self.faults + 1) - time.monotonic()))
            self.report.downtimes.append(await asyncio.to_thread(self.server.crash_and_restart))
            self.report.faults += 1

    async def run(self) -> LoadReport:
        asyncio.get_running_loop().set_default_executor(self.pool)
        self.world.loop = asyncio.get_running_loop()
        began = time.monotonic()
        try:
            await self.setup()
            for client in self.world.sockets.values():
                await client.wait_for(
                    lambda c: not c.connections or all(not m.stale for m in c.threads.values()), self.timeout
                )
            late = [client for client in self.world.sockets.values() if not client.connections]
            self.recorder.measuring = True
            start = time.monotonic()
            self.report.setup_seconds = start - began
            faults = asyncio.create_task(self.inject_faults(start))
            await asyncio.wait_for(self.world.run_agents(start + self.seconds), self.seconds + self.timeout)
            await faults
            self.report.elapsed = time.monotonic() - start
            self.recorder.measuring = False
            verifying = time.monotonic()
            await self.verify()
            self.report.connected_late = sum(1 for client in late if client.connections)
            self.report.verify_seconds = time.monotonic() - verifying
        finally:
            for client in self.world.sockets.values():
                await client.close()
            self.http.close()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.world.close()
        return self.report

    async def verify(self) -> None:
        report, recorder = self.report, self.recorder
        report.requests, report.errors, report.refused = recorder.requests, recorder.errors, recorder.refused
        report.error_kinds, report.latencies = dict(recorder.kinds), recorder.latencies
        report.acknowledged, report.in_doubt = len(recorder.acked), len(recorder.in_doubt)
        report.acknowledged_by_op = dict(Counter(step.op for _, step in recorder.acked))
        report.agent_failures = list(self.world.failures)
        report.request_lags = list(self.world.request_lags)
        admin = ChoirClient(self.server.url, TREASURY_SIGNERS[0], dev_keypair(TREASURY_SIGNERS[0]), http=self.http)
        actual = await asyncio.to_thread(admin.call, "GET", "/v1/admin/snapshot")
        with contextlib.suppress(ChoirApiError):  # 404 NoChain: a server without a chain
            report.chain = await asyncio.to_thread(admin.call, "GET", "/v1/consistency")
        rows = read_journal(self.server.data_dir)
        operations = check_operations(rows, recorder.acked, recorder.in_doubt)
        report.in_doubt_journaled = operations.in_doubt_journaled
        deltas, differences = replay(rows, self.world.server_params, "seeds", actual)
        report.state_differences = operations.differences + differences
        deadline = time.monotonic() + self.timeout
        sockets = {name: client for name, client in self.world.sockets.items() if client.connections}
        expected = {name: expected_segments(client, deltas) for name, client in sockets.items()}
        for name, client in sockets.items():
            with contextlib.suppress(TimeoutError):  # counted below as missing events
                remaining = max(0.1, deadline - time.monotonic())
                await client.wait_for(lambda c, want=expected[name]: caught_up(c, want), remaining)
            expected[name] = expected_segments(client, deltas)  # a late resync adds a segment
        report.snapshots_checked, report.snapshot_differences = check_snapshots(
            rows, self.world.server_params, "seeds", snapshots_of(sockets.values())
        )
        for client in self.world.sockets.values():
            report.connect_retries += client.connect_retries
        report.connected = len(sockets)
        report.never_connected = report.users - report.connected
        for name, client in sockets.items():
            report.reconnections += client.connections - 1
            report.gave_up += client.failed is not None
            check_events(client, expected[name], report.events)


def run_load(
    users: int = 20,
    seconds: float = 5.0,
    seed: int = 0,
    timeout: float = 120.0,
    scenario: str = "baseline",
    faults: int = 0,
    time_scale: float = DEFAULT_TIME_SCALE,
    server_args: tuple[str, ...] = ("--chain", "litesvm"),
    connect_timeout: float = CONNECT_TIMEOUT,
) -> LoadReport:
    """Start a fresh backend on 127.0.0.1, run the scenario's agents against it for `seconds` (killing and
    restarting it `faults` times), verify, stop it; return the report. Setup and the final draining of events are
    each bounded by `timeout`; the WebSockets' connection in setup by `connect_timeout` (see the module
    docstring). `server_args` go to `choir serve` (the embedded chain by default)."""
    if users < 2 or seconds <= 0 or faults < 0 or time_scale <= 0 or connect_timeout < 0:
        raise ValueError(
            "a load needs at least 2 users, a positive duration and time scale, faults >= 0 and connect_timeout >= 0"
        )
    plan = World(scaled_scenario(load_scenario(scenario), users, seed), check="off")
    plan.bootstrap()
    params = scaled_params(plan.params, time_scale)
    args = ["--no-rate-limits", "--params", json.dumps(asdict(params)), *server_args]
    with (
        tempfile.TemporaryDirectory(prefix="choir-load-") as tmp,
        ServerProcess(Path(tmp) / "data", args) as server,
    ):
        return asyncio.run(_Run(server, plan, seconds, faults, time_scale, timeout, connect_timeout).run())
