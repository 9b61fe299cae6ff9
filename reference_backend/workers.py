"""`choir serve --workers N`: N HTTP worker processes around the one writer, for throughput beyond one process.

Why: one process spends about 0.8 ms of CPU per request, half of it in the HTTP framework, and one interpreter
uses one core. The writer stays single (SPEC section 10: the journal is the truth, operations apply in one order),
so the process `choir serve` starts keeps everything that changes the world: the model, the Choir program
(LiteSVM), the journal, the search index, the replay guard and the rate limiter (`WriterHost`). It serves no HTTP;
it starts N workers (`python -m reference_backend.workers FD`), each on a socketpair of its own, and answers their
calls (`reference_backend.ipc` frames).

Each worker (`run_worker`) serves on a listening socket of its own that the writer's process bound for it on the
server's port with SO_REUSEPORT (`reference_backend.ports`: after proving nobody else held the port), so the
kernel spreads connections over the workers with no front process to pay for; it verifies signatures, answers
reads from its `Replica` of the writer's state (`reference_backend.replica`), and sends the writer what only the
writer can decide:

* **writes** (`submit`): the writer applies and commits them; the answer carries the commit's seq;
* **replay and rate limits** (`admit`, one call per signed request): a nonce is remembered, then the request
  counted, in the writer's `ReplayGuard` and `RateLimiter`, so both hold per user across workers, whichever
  worker a request reaches (a worker remembers nonces too, to refuse a replay it saw itself without asking);
* **searches** (`search`): the index is the writer's (one engine, written once per commit);
* the chain's consistency check, and on test servers the clock.

Consistency. After each commit, before answering any caller of it, the writer sends every worker a feed frame
(`("feed", generation, seq, users, clock, indexed)`); the worker applies it (reading the rows up to `seq` from the
journal) as it reads it. Frames on one socket arrive in order, so when a worker reads the writer's answer to a
call, it has already applied every commit the writer published before answering. Every signed request calls the
writer (`admit`) before it reads, so it is answered from a state at least as new as every commit any client had
an answer for when the request was checked: a client reads its own writes and never an older state than it saw
before (read-your-writes, monotonic reads), whichever worker serves each of its requests.

WebSocket subscriptions live in the worker that accepted them; its replica replays every committed row, so its
hub sees every event once, in journal order, with the facts read right after each row (as the writer's does).

Faults: a worker that dies is started again on the same listening socket (its in-flight requests are lost, never a
committed write: commits are the writer's; connections the kernel queued on its socket meanwhile wait for the new
worker, since the writer's process holds the socket); workers die with the writer (PR_SET_PDEATHSIG, and the end of
their socket).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import gc
import inspect
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.loops.auto import auto_loop_factory

from reference_backend.auth import AuthFailure, Principal, ReplayGuard, parse_public_key
from reference_backend.clock import ManualClock, SystemClock
from reference_backend.commands import Command, UserRecord
from reference_backend.config import BackendConfig
from reference_backend.content import StatisticsSummarizer
from reference_backend.errors import ApiError
from reference_backend.ipc import FrameProtocol, connect, decode_error, encode_error
from reference_backend.journal import Journal
from reference_backend.readstate import ReadState
from reference_backend.replica import Replica
from reference_backend.schemas import SearchResults
from reference_backend.service import Backend
from reference_backend.texts import TextCache
from reference_backend.ws import WsSettings

log = logging.getLogger("reference_backend")

START_TIMEOUT = 120.0
"""Seconds a worker may take to load its replica and listen (100,000 messages: about 2 s on a quiet core)."""
CALL_TIMEOUT = 60.0
"""Seconds a thread of a worker waits for the writer's answer (searches, the clock, the consistency check)."""


class WorkerStartError(RuntimeError):
    """A worker exited before it served (the port taken, the data directory unreadable): `choir serve` stops."""


# -- the writer's process ------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    link: FrameProtocol | None = None


class WriterHost:
    """The writer's process: a started `Backend` (and its chain), serving `count` workers; see the module
    docstring. `run` returns on SIGTERM or SIGINT, after the workers stopped."""

    def __init__(
        self,
        backend: Backend,
        sockets: list[socket.socket],
        log_level: str,
        ws: WsSettings | None,
        spawned: list[Spawned] | None = None,
    ) -> None:
        self.backend = backend
        self.sockets = sockets  # worker i serves on sockets[i] (one started again after a crash too)
        self.spawned = list(spawned or [])
        self.host, self.port = sockets[0].getsockname()[:2]
        self.log_level, self.ws = log_level, ws
        self.workers: dict[int, _Worker] = {}
        self.stopping = False
        self.failure: str | None = None
        self._stop = asyncio.Event()
        self.started = threading.Event()  # every worker listens
        self._tasks: set[asyncio.Task[Any]] = set()  # running answers and workers' loops (kept from collection)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handlers: dict[str, Callable[..., Any]] = {
            "admit": self._admit,
            "sync": self._sync,
            "submit": self._submit,
            "search": self._search,
            "clock": self._clock,
            "consistency": self._consistency,
        }

    async def run(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        if threading.current_thread() is threading.main_thread():  # `choir serve`; tests run it on a thread
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._stop.set)
        self.backend.writer.publish_hooks.append(self._on_publish)
        try:
            ready = self.spawned + [spawn(listener) for listener in self.sockets[len(self.spawned) :]]
            await asyncio.gather(*(self._start(index, ready[index], first=True) for index in range(len(self.sockets))))
            self.started.set()
            await self._stop.wait()
        finally:
            self.stopping = True
            await self._stop_workers()
        if self.failure is not None:
            raise WorkerStartError(self.failure)

    def stop(self) -> None:
        """Stop the workers and return from `run` (any thread)."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # already stopped
                self._loop.call_soon_threadsafe(self._stop.set)

    # -- workers' lifecycle ----------------------------------------------------------------------------------------

    async def _start(self, index: int, spawned: Spawned, first: bool = False) -> None:
        """Give worker `index` its start frame and wait until it listens. One of the `first` workers that exits
        first stops the server (`WorkerStartError`: the port is taken, the data directory unreadable); a worker
        started again is tried again a second later."""
        process = spawned.process
        worker = _Worker(index, process)
        worker.link = await connect(spawned.sock, lambda frame: self._on_frame(worker, frame), worker.gone.set)
        # The start frame and every feed are sent from the event loop, this one first, so the worker misses no
        # commit: what it does not load from the journal, a later feed brings.
        worker.link.send(("init", self._init()))
        self.workers[index] = worker
        self._task(self._watch(worker))
        ready = asyncio.create_task(worker.ready.wait())
        gone = asyncio.create_task(worker.gone.wait())
        await asyncio.wait({gone, ready}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        gone.cancel()
        if worker.ready.is_set():
            return
        process.kill()
        failure = f"worker {index} did not start (exit code {process.wait()}); see the log above"
        if first:
            self.failure = failure
            self._stop.set()
            raise WorkerStartError(failure)
        log.error("%s; trying again", failure)

    def _init(self) -> dict[str, Any]:
        backend = self.backend
        clock = backend.clock
        return {
            "config": backend.config,
            "host": self.host,
            "port": self.port,
            "log_level": self.log_level,
            "ws": self.ws,
            "floor": backend.replay.floor,
            "verified": backend.journal.verified,
            "generation": backend.generation,
            "authorities": backend.authorities,
            "chain": backend.chain is not None,
            "now": clock.now() if isinstance(clock, ManualClock) else None,
            "indexed": backend.indexed_seq,
        }

    def _task(self, coroutine: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_frame(self, worker: _Worker, frame: tuple[Any, ...]) -> None:
        """A call of `worker`: answered at once when its handler returns a value, else when its awaitable ends."""
        if frame[0] == "ready":
            worker.ready.set()
            return
        kind, call_id, args = frame
        try:
            result = self._handlers[kind](*args)
        except Exception as error:
            self._reply(worker, ("reply", call_id, False, encode_error(error)))
            return
        if inspect.isawaitable(result):
            self._task(self._answer(worker, call_id, result))
        else:
            self._reply(worker, ("reply", call_id, True, result))

    async def _answer(self, worker: _Worker, call_id: int, call: Awaitable[Any]) -> None:
        try:
            frame: tuple[Any, ...] = ("reply", call_id, True, await call)
        except Exception as error:
            frame = ("reply", call_id, False, encode_error(error))
        self._reply(worker, frame)

    @staticmethod
    def _reply(worker: _Worker, frame: tuple[Any, ...]) -> None:
        if worker.link is not None:
            worker.link.send(frame)  # nobody to answer if the worker is gone: the frame is dropped

    async def _watch(self, worker: _Worker) -> None:
        """When a worker's socket closes: forget it, and start it again (unless stopping or it never served)."""
        await worker.gone.wait()
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
        code = await asyncio.to_thread(worker.process.wait)
        if not self.stopping and worker.ready.is_set():
            log.warning("worker %d exited with code %d; starting it again", worker.index, code)
            await self._start(worker.index, spawn(self.sockets[worker.index]))
        elif not self.stopping and self.started.is_set():  # a worker started again that never served
            await asyncio.sleep(1)
            await self._start(worker.index, spawn(self.sockets[worker.index]))

    async def _stop_workers(self) -> None:
        workers = list(self.workers.values())
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                worker.process.terminate()
        for worker in workers:
            try:
                await asyncio.wait_for(asyncio.to_thread(worker.process.wait), 10)
            except TimeoutError:
                worker.process.kill()

    # -- calls -----------------------------------------------------------------------------------------------------

    def _admit(self, user: str, nonce: str, timestamp: int, route: str | None) -> Awaitable[int | None] | int | None:
        """A signed request, in one call: its nonce remembered (a replay is refused and counts nothing), then,
        as `Backend.admit` does in one process, the nonce persisted if it is signed ahead of the clock and the
        request counted against the limit of `route`."""
        backend = self.backend
        now = backend.now()
        if not backend.replay.remember(user, nonce, timestamp, now):
            raise AuthFailure("replayed: this user already sent this nonce")
        if timestamp > now:
            return backend.admit(Principal(user, timestamp, nonce), now, route)
        return None if route is None else backend.limiter.admit(user, route, now)

    def _sync(self) -> None:
        """Nothing: the answer itself tells the worker it has read every feed sent before it."""

    def _submit(self, command: Command) -> Awaitable[Any]:
        return asyncio.wrap_future(self.backend.submit(command))

    def _search(self, viewer: str, query: str, limit: int, within: str | None) -> Any:
        backend = self.backend
        if backend.searches_inline:
            return backend.search(viewer, query, limit, within)
        return asyncio.to_thread(backend.search, viewer, query, limit, within)

    def _clock(self, now: int) -> int:
        self.backend.set_clock(now)
        self._broadcast(self._feed(self.backend.published, []))  # the clock reaches every worker before the answer
        return now

    def _consistency(self) -> Awaitable[Any]:
        chain = self.backend.chain
        if chain is None:
            raise ApiError("NoChain", "this server runs without a chain (it was started with --chain none)")
        return asyncio.to_thread(chain.check, self.backend)

    # -- the feed --------------------------------------------------------------------------------------------------

    def _feed(self, state: ReadState, records: list[UserRecord]) -> tuple[Any, ...]:
        clock = self.backend.clock
        now = clock.now() if isinstance(clock, ManualClock) else None
        return ("feed", state.generation, state.seq, records, now, self.backend.indexed_seq)

    def _on_publish(self, state: ReadState, records: list[UserRecord]) -> None:
        """The writer published a commit (writer thread, before any caller of it is answered: those answers are
        written from the event loop after this feed)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the server is stopping
                loop.call_soon_threadsafe(self._broadcast, self._feed(state, records))

    def _broadcast(self, frame: tuple[Any, ...]) -> None:
        for worker in self.workers.values():
            self._reply(worker, frame)


@dataclass(frozen=True, slots=True)
class Spawned:
    """A worker process and the writer's end of its socket, before it has its start frame."""

    process: subprocess.Popen[bytes]
    sock: socket.socket


def spawn(listener: socket.socket) -> Spawned:
    """Start a worker process that will serve on `listener`. It imports and then waits for its start frame:
    `choir serve` spawns its workers before the writer rebuilds its state, so their start-up and the writer's
    overlap."""
    parent, child = socket.socketpair()
    fds = [child.fileno(), listener.fileno()]
    process = subprocess.Popen([sys.executable, "-m", "reference_backend.workers", *map(str, fds)], pass_fds=fds)
    child.close()
    return Spawned(process, parent)


def serve_workers(
    backend: Backend,
    sockets: list[socket.socket],
    log_level: str,
    ws: WsSettings | None = None,
    spawned: list[Spawned] | None = None,
) -> None:
    """Serve a started backend through one worker process per listening socket (`spawned` ones first) until
    SIGTERM or SIGINT."""
    run_loop(WriterHost(backend, sockets, log_level, ws, spawned).run())


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on the event loop uvicorn would choose (uvloop when installed), as `choir serve` runs in one
    process: the writer's process answers every worker's calls, and each worker serves HTTP."""
    loop = auto_loop_factory()()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main)
    finally:
        loop.close()


# -- a worker's process --------------------------------------------------------------------------------------------


class Channel:
    """A worker's end of its socket to the writer: calls and their answers, and the feed, applied as it arrives
    (`follow`)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.link: FrameProtocol | None = None
        self._early: list[tuple[Any, ...]] = []  # feeds read before `follow` was called
        self._on_feed: Callable[..., None] = lambda *feed: self._early.append(feed)
        self.closed = asyncio.Event()
        self.init: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any] | concurrent.futures.Future[Any]] = {}
        self._loop_thread = threading.get_ident()

    async def open(self, sock: socket.socket) -> dict[str, Any]:
        """Connect, and return the writer's start frame (`WorkerStartError` if the writer is gone first)."""
        self.link = await connect(sock, self._on_frame, self.closed.set)
        closed = asyncio.ensure_future(self.closed.wait())
        await asyncio.wait({self.init, closed}, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if not self.init.done():
            raise WorkerStartError("the writer's process closed the socket before it started this worker")
        return self.init.result()

    def follow(self, on_feed: Callable[..., None]) -> None:
        """Apply every feed with `on_feed` from now on, starting with those read since the start frame (a feed
        applied again changes nothing: the rows are read after the replica's position, user records replaced)."""
        self._on_feed = on_feed
        for feed in self._early:
            on_feed(*feed)
        self._early.clear()

    async def call(self, kind: str, *args: Any) -> Any:
        """Ask the writer (on the event loop) and wait for its answer."""
        future: asyncio.Future[Any] = self.loop.create_future()
        self._send(kind, args, future)
        return await future

    def submit(self, kind: str, *args: Any) -> concurrent.futures.Future[Any]:
        """Ask the writer from any thread; the future resolves with the answer."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if threading.get_ident() == self._loop_thread:
            self._send(kind, args, future)
        else:
            self.loop.call_soon_threadsafe(self._send, kind, args, future)
        return future

    def call_blocking(self, kind: str, *args: Any) -> Any:
        """Ask the writer from a thread other than the event loop's, and wait."""
        return self.submit(kind, *args).result(CALL_TIMEOUT)

    def send(self, frame: tuple[Any, ...]) -> None:
        assert self.link is not None
        self.link.send(frame)

    def _send(self, kind: str, args: tuple[Any, ...], future: Any) -> None:
        call_id = next(self._ids)
        self._pending[call_id] = future
        self.send((kind, call_id, args))

    def _on_frame(self, frame: tuple[Any, ...]) -> None:
        kind = frame[0]
        if kind == "feed":
            self._on_feed(*frame[1:])
        elif kind == "reply":
            _, call_id, ok, value = frame
            future = self._pending.pop(call_id)
            if future.cancelled():
                return
            if ok:
                future.set_result(value)
            else:
                future.set_exception(decode_error(value))
        elif kind == "init":
            self.init.set_result(frame[1])


class _RemoteChain:
    """The writer's chain, as `/v1/consistency` asks it from a worker."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def check(self, backend: Backend) -> Any:
        return self.channel.call_blocking("consistency")


class WorkerBackend(Backend):
    """The facade as a worker serves it: reads from its replica, everything else asked of the writer (see the
    module docstring). It does not run `Backend.__init__`: a worker has no writer, indexer or search index."""

    def __init__(self, init: dict[str, Any], replica: Replica, channel: Channel) -> None:
        config: BackendConfig = init["config"]
        self.config = config
        self.clock = ManualClock(init["now"]) if config.manual_clock is not None else SystemClock()
        self.summarizer = StatisticsSummarizer()
        self.replay = ReplayGuard(config.max_skew)
        self.replay.open(init["floor"], ())
        self.journal = replica.journal
        self.authorities = dict(init["authorities"])
        self._authority_keys = {name: parse_public_key(key) for name, key in self.authorities.items()}
        self._texts = TextCache(self.journal)
        self.writer = replica  # type: ignore[assignment]  # what the facade reads of a writer, the replica has
        self.state_lock = replica.state_lock
        self._clock_lock = threading.Lock()
        self.channel = channel
        self.replica = replica
        self._chain = _RemoteChain(channel) if init["chain"] else None
        self._indexed = int(init["indexed"])
        channel.follow(self._follow)

    def _follow(self, generation: int, seq: int, users: list[UserRecord], now: int | None, indexed: int) -> None:
        if now is not None and isinstance(self.clock, ManualClock):
            self.clock.set(now)
        self._indexed = max(self._indexed, indexed) if generation == self.generation else indexed
        self.replica.follow(generation, seq, users)

    def start(self) -> WorkerBackend:
        return self

    def close(self) -> None:
        self.journal.close()

    @property
    def chain(self) -> Any:
        return self._chain

    @property
    def indexed_seq(self) -> int:
        return self._indexed

    @property
    def searches_inline(self) -> bool:
        return False  # a search is a call to the writer: from the thread pool, never blocking the event loop

    def submit(self, command: Command) -> concurrent.futures.Future[Any]:
        return self.channel.submit("submit", command)

    def set_clock(self, now: int) -> int:
        if not isinstance(self.clock, ManualClock):
            raise ApiError("NotFound", "this server runs on the system clock")
        return int(self.channel.call_blocking("clock", now))

    def search(self, viewer: str, query: str, limit: int, within: str | None = None) -> SearchResults:
        return self._searched(self.channel.call_blocking("search", viewer, query, limit, within))

    async def search_async(self, viewer: str, query: str, limit: int, within: str | None = None) -> SearchResults:
        """One call to the writer from the event loop: no hop to a thread and back on either side of it."""
        return self._searched(await self.channel.call("search", viewer, query, limit, within))

    def _searched(self, found: SearchResults) -> SearchResults:
        self._indexed = max(self._indexed, found.indexed_seq)
        return found

    async def admit(self, principal: Principal, now: int, route: str | None) -> int | None:
        """One call to the writer: it remembers the nonce, then counts the request (`WriterHost._admit`)."""
        limited = route if route in self.config.rate_limits else None
        user, nonce, timestamp = principal.user, principal.nonce, principal.timestamp
        wait: int | None = await self.channel.call("admit", user, nonce, timestamp, limited)
        return wait

    async def caught_up(self) -> bool:
        await self.channel.call("sync")
        return True


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the writer's process dies (a crash of the writer leaves no worker
    holding the port); elsewhere the end of the socket stops it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


async def run_worker(sock: socket.socket, listener: socket.socket) -> None:
    """One worker: load the replica, serve HTTP on `listener` (the shared port) until SIGTERM or the writer's
    end."""
    from reference_backend.app import create_app
    from reference_backend.server import uvicorn_config
    from reference_backend.ws import hub_of

    channel = Channel()
    init = await channel.open(sock)
    config: BackendConfig = init["config"]
    journal = Journal(config.data_dir, config.sync)
    journal.trust(init["verified"])
    replica = Replica(config, journal)
    replica.load(init["generation"])
    backend = WorkerBackend(init, replica, channel)
    gc.freeze()  # the replica lives as long as the worker (as in `Backend.start`)
    app = create_app(backend)
    if init["ws"] is not None:
        hub_of(backend).settings = init["ws"]
    following = asyncio.create_task(channel.closed.wait())
    server = uvicorn.Server(uvicorn_config(app, init["host"], init["port"], init["log_level"]))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.01)
    channel.send(("ready",))
    await asyncio.wait({following, serving}, return_when=asyncio.FIRST_COMPLETED)
    if not serving.done():  # the writer is gone: stop at once, nothing here is durable
        os._exit(1)
    journal.close()


def main(argv: list[str]) -> None:
    _die_with_parent()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s worker %(process)d %(levelname)s %(message)s")
    try:
        run_loop(run_worker(socket.socket(fileno=int(argv[1])), socket.socket(fileno=int(argv[2]))))
    except WorkerStartError:  # the writer did not start: it says why, and exits
        sys.exit(3)


if __name__ == "__main__":
    main(sys.argv)
