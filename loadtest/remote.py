"""The simulator's agents as load-test users: `RemoteWorld` is the `sim.world.AgentWorld` they act on, backed by
a running backend over HTTP and WebSocket instead of an in-process model.

Why: the load's users should behave like the simulator's (thread creators, honest authors staking near the
recommended stake, co-authors voting with the simulator's approval curve, spammers, Sybil rings, griefers,
drainers), so the same agent classes, configurations and scenario files drive both. An agent never knows which
world it acts on: it reads state through the world's methods and acts through them. What an action means (the
content and ballot recorded for a spec, the draws that pick a thread, the size of a divestment) is the simulator's
own `sim.world.AgentActions`; this module supplies only its primitives: the clock, reads as requests, and `act`,
which sends a typed model step as the request that asks the server for it.

How the simulator's world maps onto a server:

* **Reads** are requests a client would make: `wallet` is `GET /v1/wallet`; `pick_open_thread` and
  `recommended_stake` ask `GET /v1/thread/{id}/stake` (the recommended stake and whether a spec fits now);
  `divest_max` reads the co-author's view of the thread for its balance and co-authors.
* **Acts** are model steps sent as signed requests through a `Recorder`, which times them and keeps every
  acknowledged operation with the model step it stands for (its `now` from the answer; content hashes are
  computed client-side from the text, as the server does), and every write whose answer was lost (in doubt: it
  may or may not be in the journal; the checker decides from the journal).
* **Votes** come from WebSocket: each identity subscribes to the threads it co-authors; an `ApprovalRequest`
  frame becomes the simulator's `Ballot` (latent quality and stake ratio are recorded by the submitting agent,
  as the simulator's world records them) and the agent's `vote` decides whether and when to approve.
* **Membership** (who co-authors what, which threads exist) is learned from acknowledged `create_thread` answers
  and from `CoAuthorAdded` frames; a new co-author subscribes to its new thread, so it votes there from then on.
* **Expiry**: a keeper expires messages whose deadline passed (deadlines from the `ApprovalRequest` frames).
* **Time**: agents' processes yield `world.env.timeout(seconds)` in simulated seconds; here each pause sleeps
  `seconds / time_scale` real seconds, and each process step (the agent's code up to its next pause, including
  its blocking requests) runs on a worker thread. The server runs on real time; its approval window and divest
  cooldown are the scenario's divided by the time scale (`scaled_params`; the window at least `MIN_WINDOW`), so
  windows open and close during a load as they do over simulated days.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx

from choir_model import (
    CreateThread,
    Divest,
    Expire,
    Fund,
    Params,
    ProcessApproval,
    RequestPublic,
    Step,
    SubmitMessage,
    SubmitSpec,
)
from reference_backend.auth import dev_keypair
from reference_backend.client import ChoirApiError, ChoirClient
from reference_backend.content import content_hash
from reference_backend.schemas import OperationResult, StakeQuote
from reference_backend.ws_client import WsClient
from sim.agents import Agent
from sim.world import Actor, AgentActions, Ballot

R = TypeVar("R")
KEEPER = "load-keeper"
READER = "load-reader"
QUOTE_TTL = 1.0
"""Seconds a stake quote stays fresh for the same agent step (pick a thread, then size the stake)."""
MIN_WINDOW = 30
"""The shortest approval window the load gives the server, s: the bootstrap's joins (a spec, then each co-author's
approval, one after another) must close within it on a saturated server."""
_FINISHED = object()  # next()'s default: StopIteration cannot cross a Future


def scaled_params(params: Params, time_scale: float) -> Params:
    """The server's parameters: the scenario's with the approval window and divest cooldown in real seconds."""
    return replace(
        params,
        approval_window=max(MIN_WINDOW, round(params.approval_window / time_scale)),
        divest_cooldown=max(1, round(params.divest_cooldown / time_scale)),
    )


@dataclass
class Recorder:
    """Every request of the load: latencies and failures while measuring; acknowledged and in-doubt writes always.
    Once `closed`, nothing more is sent (the load's end: work queued behind a saturated server is dropped).

    Thread-safe: agents' steps run on a pool. A request refused with a 4xx is `refused` (the rules or the API said
    no: an expected outcome of concurrent users); a 5xx or a transport failure is an `error`. A write whose request
    may have reached the server but whose answer never came back (the server died mid-request) is `in_doubt`."""

    measuring: bool = False
    closed: bool = False
    requests: int = 0
    errors: int = 0
    refused: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    acked: list[tuple[OperationResult, Step]] = field(default_factory=list)
    in_doubt: list[Step] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def call(self, fn: Callable[[], R]) -> R | None:
        """One client call: its result, or None if it failed (counted by kind)."""
        return self._timed(fn, None)

    def op(self, fn: Callable[[], OperationResult], step: Callable[[int], Step]) -> OperationResult | None:
        """A write: remember the model step it stands for (`step(now)`) if acknowledged or in doubt."""
        return self._timed(fn, step)

    def _timed(self, fn: Callable[[], R], step: Callable[[int], Step] | None) -> R | None:
        if self.closed:  # the load is over: agents still in a step finish it without sending anything
            return None
        start = time.perf_counter()
        try:
            result = fn()
        except ChoirApiError as error:
            self._failed(error.code, refused=error.status < 500)
            return None
        except httpx.HTTPError as error:
            lost = not isinstance(error, httpx.ConnectError)  # a ConnectError never reached the server
            self._failed(type(error).__name__, refused=False, in_doubt=step(0) if step and lost else None)
            return None
        elapsed = time.perf_counter() - start
        with self.lock:
            if self.measuring:
                self.requests += 1
                self.latencies.append(elapsed)
            if step is not None:
                self.acked.append((result, step(result.now)))  # type: ignore[attr-defined]
        return result

    def _failed(self, kind: str, refused: bool, in_doubt: Step | None = None) -> None:
        with self.lock:
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if in_doubt is not None:
                self.in_doubt.append(in_doubt)
            if self.measuring:
                self.requests += 1
                if refused:
                    self.refused += 1
                else:
                    self.errors += 1


@dataclass(frozen=True, slots=True)
class Pause:
    """What `env.timeout` returns here: a pause of `seconds` simulated seconds."""

    seconds: float


class RemoteEnv:
    """The part of `simpy.Environment` agents use: `timeout` and `process` (they read the time as `world.now`)."""

    def __init__(self, world: RemoteWorld) -> None:
        self.world = world

    def timeout(self, seconds: float) -> Pause:
        return Pause(seconds)

    def process(self, generator: Generator[Any, Any, None]) -> None:
        self.world.spawn(generator)


class RemoteWorld(AgentActions):
    """The simulator's `sim.world.AgentWorld` over a backend (see the module docstring): the agent API is
    `AgentActions`', over the primitives below.

    `agents` are the scenario's (built by the simulator's own `World`, so names, configurations and random streams
    are the simulator's); `params` are the scenario's (what agents reason with), `server_params` the server's."""

    def __init__(
        self,
        url: str,
        agents: list[Agent],
        params: Params,
        epoch: int,
        time_scale: float,
        recorder: Recorder,
        http: httpx.Client,
        pool: ThreadPoolExecutor,
        backoff: tuple[float, ...],
    ) -> None:
        self.url = url
        self.agents = agents
        self.params = params
        self.server_params = scaled_params(params, time_scale)
        self.unit = params.unit
        self.epoch = epoch
        self.time_scale = time_scale
        self.recorder = recorder
        self.pool = pool
        # Votes and expiries have their own workers: a voter answers its ApprovalRequest as its own client would,
        # not after every other user's queued reads (which, past the server's capacity, outlast the window).
        self.urgent = ThreadPoolExecutor(max_workers=16, thread_name_prefix="load-vote")
        self.env = RemoteEnv(self)
        self.agents_by_identity = {identity: agent for agent in agents for identity in agent.identities}
        self.clients = {name: self._client(name, http, backoff) for name in [*self.agents_by_identity, KEEPER, READER]}
        self.sockets: dict[str, WsClient] = {}
        self.thread_ids: list[str] = []
        self._coauthored: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._texts = itertools.count(1)
        self._text_of: dict[str, str] = {}  # content hash -> the text of a message not sent yet
        self._new_threads = itertools.count(0)
        self._quotes: dict[tuple[str, str], tuple[float, StakeQuote]] = {}
        self._last_quote: dict[str, tuple[float, StakeQuote]] = {}  # per thread, whoever asked
        self._ballots: dict[str, tuple[str, float, float | None]] = {}  # hash -> (author, quality, stake ratio)
        self._voted: set[tuple[str, str]] = set()
        self._due: list[tuple[int, str, str]] = []
        self._seen_requests: set[str] = set()
        self._last_divest: dict[tuple[str, str], float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.failures: list[str] = []
        self.request_lags: list[float] = []  # s from a window's opening (server clock) to a voter hearing of it
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = time.monotonic()
        self.deadline = float("inf")

    @staticmethod
    def _client(name: str, http: httpx.Client, backoff: tuple[float, ...]) -> ChoirClient:
        return ChoirClient(str(http.base_url), name, dev_keypair(name), http=http, backoff=backoff)

    # -- the primitives of the agent API (sim.world.AgentActions) ----------------------------------------------

    @property
    def now(self) -> int:
        """Simulated seconds: the epoch plus real time since the load started, times the time scale."""
        return self.epoch + int((time.monotonic() - self.started) * self.time_scale)

    def act(self, step: Step) -> str | None:
        """Send the step as its actor's signed request (recorded with the `now` the server answers); on an
        acknowledgement, learn what it changed that this world keeps (a new thread, a divestment's time)."""
        request = self._request(self.clients[step.actor], step)
        if self.recorder.op(request, lambda now: replace(step, now=now)) is None:
            return "refused"
        if isinstance(step, CreateThread):
            self.joined(step.actor, step.thread, new=True)
        elif isinstance(step, Divest):
            self._last_divest[(step.actor, step.thread)] = time.monotonic()
        return None

    def _request(self, client: ChoirClient, step: Step) -> Callable[[], OperationResult]:
        """The client call that asks the server for `step` (spec section 9's routes)."""
        if isinstance(step, SubmitSpec | SubmitMessage):
            text = self._text_of.pop(step.hash)
            if isinstance(step, SubmitSpec):
                return lambda: client.submit_spec(step.thread, text, step.stake)
            return lambda: client.submit_message(step.thread, text)
        if isinstance(step, RequestPublic):
            return lambda: client.request_public(step.thread, step.hash)
        if isinstance(step, ProcessApproval):
            return lambda: client.approve(step.thread, step.hash, step.approve)
        if isinstance(step, Expire):
            return lambda: client.expire(step.thread, step.hash)
        if isinstance(step, CreateThread):
            return lambda: client.create_thread(step.thread, step.deposit)
        if isinstance(step, Divest):
            return lambda: client.divest(step.thread, step.amount)
        if isinstance(step, Fund):
            authorities = [(name, dev_keypair(name)) for name in step.signers]
            return lambda: client.fund(step.actor, step.amount, authorities)
        raise ValueError(f"the load test does not send {step.op}")

    def content(self, text: str) -> str:
        """Remember `text` for the message about to be sent; its content hash (computed client-side, as the
        server does)."""
        digest = content_hash(text)
        self._text_of[digest] = text
        return digest

    def new_content(self, agent: Actor, identity: str, description: str) -> str:
        return self.content(f"{description} ({next(self._texts)})")

    def note_ballot(self, identity: str, thread_id: str, content_hash: str, quality: float, stake: int) -> None:
        """What voters' `ApprovalRequest` frames will be judged by: the quality, and the stake's ratio to the
        recommendation this identity was just quoted (the simulator reads the model's analytics instead)."""
        quote = self._quotes.get((identity, thread_id))
        recommended = quote[1].recommended_stake if quote is not None else 0
        self._ballots[content_hash] = (identity, quality, stake / recommended if stake and recommended else None)

    def new_thread_id(self) -> str:
        return f"load-{next(self._new_threads):05d}"

    def open_threads(self) -> list[str]:
        """Every thread known to exist (whether one is open is asked of the server, per draw)."""
        with self._lock:
            return list(self.thread_ids)

    def divest_view(self, identity: str, thread_id: str) -> tuple[int, int] | None:
        """The co-author's own view of the thread, once the server's cooldown since its last divestment here is
        over."""
        last = self._last_divest.get((identity, thread_id))
        if last is not None and time.monotonic() < last + self.server_params.divest_cooldown:
            return None
        view = self.recorder.call(lambda: self.clients[identity].thread(thread_id))
        if view is None or view.balance is None:
            return None
        return view.balance, len(view.co_authors)

    def wallet(self, identity: str) -> int:
        found = self.recorder.call(self.clients[identity].wallet)
        return found.balance if found is not None else 0

    def coauthored(self, identity: str) -> list[str]:
        with self._lock:
            return list(self._coauthored.get(identity, ()))

    def _quote(self, identity: str, thread_id: str) -> StakeQuote | None:
        key = (identity, thread_id)
        cached = self._quotes.get(key)
        if cached is not None and time.monotonic() - cached[0] < QUOTE_TTL:
            return cached[1]
        quote = self.recorder.call(lambda: self.clients[identity].stake_quote(thread_id))
        if quote is not None:
            self._quotes[key] = self._last_quote[thread_id] = (time.monotonic(), quote)
        return quote

    def recommended_stake(self, thread_id: str) -> int:
        """The recommended stake as the agent was just quoted it (or as a neutral reader is quoted it now)."""
        last = self._last_quote.get(thread_id)
        fresh = last is not None and time.monotonic() - last[0] < QUOTE_TTL
        quote = last[1] if fresh else self._quote(READER, thread_id)
        return quote.recommended_stake if quote is not None else self.server_params.min_stake

    def open_for_spec(self, identity: str, thread_id: str) -> bool:
        quote = self._quote(identity, thread_id)
        return quote is not None and quote.open

    # -- membership and WebSocket ---------------------------------------------------------------------------------

    def joined(self, identity: str, thread_id: str, new: bool = False) -> None:
        """`identity` co-authors `thread_id` (and the thread exists if `new`): remember it and subscribe."""
        with self._lock:
            threads = self._coauthored.setdefault(identity, [])
            if thread_id in threads:
                return
            threads.append(thread_id)
            if new:
                self.thread_ids.append(thread_id)
        socket = self.sockets.get(identity)
        if socket is not None and self.loop is not None and thread_id not in socket.threads:
            self.loop.call_soon_threadsafe(self._start, socket.subscribe(thread_id))

    def on_frame(self, client: WsClient, frame: dict[str, Any]) -> None:
        """Membership from `CoAuthorAdded`, ballots from `ApprovalRequest` (on the event loop)."""
        payload = frame.get("payload") or {}
        event = payload.get("event")
        if event == "CoAuthorAdded" and payload.get("co_author") in self.agents_by_identity:
            self.joined(payload["co_author"], payload["thread_id"])
        elif frame.get("type") == "ApprovalRequest" and "content_hash" in payload:
            self._ballot(client.user, payload)

    def _ballot(self, voter: str, payload: dict[str, Any]) -> None:
        digest, thread_id = payload["content_hash"], payload["thread_id"]
        self.request_lags.append(time.time() - (payload["deadline"] - self.server_params.approval_window))
        if digest not in self._seen_requests:
            self._seen_requests.add(digest)
            heapq.heappush(self._due, (payload["deadline"], thread_id, digest))
        author, quality, ratio = self._ballots.get(digest, ("", 0.5, None))
        agent = self.agents_by_identity.get(voter)
        if agent is None or voter == author or (voter, digest) in self._voted:
            return
        self._voted.add((voter, digest))
        is_spec = payload.get("event") == "SpecSubmitted"
        ballot = Ballot(thread_id, digest, author, quality, is_spec, payload["deadline"], ratio)
        decision = agent.vote(self, voter, ballot)
        if decision is not None:
            delay, approve = decision
            self._start(self._vote(voter, ballot, max(0, delay) / self.time_scale, approve))

    async def _vote(self, voter: str, ballot: Ballot, delay: float, approve: bool) -> None:
        if time.monotonic() + delay >= self.deadline:
            return
        await asyncio.sleep(delay)
        step = ProcessApproval(voter, self.now, ballot.thread_id, ballot.content_hash, approve)
        await self._run(lambda: self.act(step), urgent=True)

    async def keeper(self, interval: float = 0.5) -> None:
        """The crank: expire every message whose deadline (server time) has passed."""
        while time.monotonic() < self.deadline:
            await asyncio.sleep(interval)
            while self._due and self._due[0][0] < time.time() and time.monotonic() < self.deadline:
                _, thread_id, digest = heapq.heappop(self._due)
                step = Expire(KEEPER, self.now, thread_id, digest)
                await self._run(lambda step=step: self.act(step), urgent=True)

    # -- running agents' processes --------------------------------------------------------------------------------

    def _start(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, fn: Callable[[], R], urgent: bool = False) -> R:
        assert self.loop is not None
        return await self.loop.run_in_executor(self.urgent if urgent else self.pool, fn)

    def close(self) -> None:
        self.urgent.shutdown(wait=False, cancel_futures=True)

    def spawn(self, generator: Generator[Any, Any, None]) -> None:
        """Run an agent's process (from any thread)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self._start, self._drive(generator))

    async def _drive(self, generator: Generator[Any, Any, None]) -> None:
        """Advance a process one step at a time on the pool; sleep its pauses; stop it at the deadline."""
        with contextlib.closing(generator):
            while True:
                try:
                    pause = await self._run(lambda: next(generator, _FINISHED))
                except Exception as bug:  # an agent's own failure: record it, stop that agent only
                    self.failures.append(f"{type(bug).__name__}: {bug}")
                    return
                if pause is _FINISHED:
                    return
                if not isinstance(pause, Pause):
                    self.failures.append(f"an agent yielded {pause!r}, not env.timeout(...)")
                    return
                delay = max(0.0, pause.seconds) / self.time_scale
                if time.monotonic() + delay >= self.deadline:
                    return
                await asyncio.sleep(delay)

    async def run_agents(self, deadline: float) -> None:
        """Start every agent's process and the keeper; at the deadline close the recorder (nothing more is sent) and
        return when every process has finished the step it was in."""
        self.loop = asyncio.get_running_loop()
        self.deadline = deadline
        self.started = time.monotonic()
        for agent in self.agents:
            process = agent.process(self)
            if process is not None:
                self._start(self._drive(process))
        self._start(self.keeper())
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        self.recorder.closed = True
        while self._tasks:
            await asyncio.wait(list(self._tasks))
