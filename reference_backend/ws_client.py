"""`WsClient`: the WebSocket client of `/v1/ws` (seeds Impl_WebSocket: connection lifecycle, sequence checks,
resync, reconnection with backoff).

Why a client in the repository: the protocol's guarantees (in-order deltas, resync on a gap, reconnect and
resubscribe) are only worth something if a client keeps its side, and the tests and the load generator need one
that does. It keeps a `ThreadMirror` per subscribed thread: the last snapshot, the deltas since, and the next
expected `seq`. A delta out of turn is a gap: the mirror is marked stale and the client sends `resync`; the next
`StateSync` replaces it. It answers `ping` with `pong` (tests can switch that off to provoke the server's
pong deadline). `on_frame` lets an application react to each frame (the load test's voters answer
`ApprovalRequest`s). When the connection drops it reconnects after 1 s, 5 s, 30 s (the seeds' backoff; injectable),
then gives up; after each successful reconnect the backoff starts over, it authenticates afresh and resubscribes
every thread, receiving fresh snapshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import websockets
from solders.keypair import Keypair

from reference_backend.ws import WS_PATH, ws_auth_message

SEED_BACKOFF = (1.0, 5.0, 30.0)


@dataclass
class Segment:
    """What one snapshot began: its journal position and the deltas applied after it, until the next snapshot."""

    as_of: int
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ThreadMirror:
    """A client's copy of one thread: snapshot, deltas since, next expected sequence number. `segments` keeps
    every snapshot's deltas (a checker can see that nothing between two snapshots was lost or reordered)."""

    thread_id: str
    state: dict[str, Any] | None = None
    journal_seq: int = 0
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    stale: bool = True
    snapshots: int = 0
    segments: list[Segment] = field(default_factory=list)

    def apply(self, frame: dict[str, Any]) -> bool:
        """Apply a thread frame; False on a gap (the caller resyncs)."""
        if frame["type"] == "StateSync":
            self.state, self.seq, self.journal_seq = frame["payload"], 0, frame["journal_seq"]
            self.events = []
            self.segments.append(Segment(self.journal_seq, self.events))
            self.stale = False
            self.snapshots += 1
            return True
        if self.stale:
            return True  # waiting for a snapshot: deltas before it are covered by it
        if frame["seq"] != self.seq + 1:
            self.stale = True
            return False
        self.seq = frame["seq"]
        self.journal_seq = frame["journal_seq"]
        self.events.append(frame)
        return True


class WsClient:
    """One user's WebSocket session; `await client.start()`, `subscribe`, `wait_for`, `await client.close()`."""

    def __init__(
        self,
        base_url: str,
        user: str,
        keypair: Keypair,
        *,
        clock: Callable[[], int] | None = None,
        backoff: Sequence[float] = SEED_BACKOFF,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        auto_pong: bool = True,
        lose: Callable[[dict[str, Any]], bool] | None = None,
        on_frame: Callable[[WsClient, dict[str, Any]], None] | None = None,
    ) -> None:
        self.url = base_url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + WS_PATH
        self.user = user
        self.keypair = keypair
        self.clock = clock or (lambda: int(time.time()))
        self.backoff = tuple(backoff)
        self.sleep = sleep
        self.auto_pong = auto_pong
        self.lose = lose
        self.on_frame = on_frame
        self.threads: dict[str, ThreadMirror] = {}
        self.frames: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.connections = 0
        self.connect_retries = 0  # attempts that failed before the first connection and were retried
        self.gaps = 0
        self.waits: list[float] = []
        self.failed: BaseException | None = None
        self._socket: Any = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self, timeout: float = 10.0) -> WsClient:
        """Connect (retrying with the backoff); return once connected, raise what ended the attempts, or
        TimeoutError after `timeout` s, in which case the client keeps retrying in the background."""
        self._task = asyncio.create_task(self._run())
        await self.wait_for(lambda c: c.connections > 0 or c.failed is not None, timeout)
        if self.failed is not None:
            raise self.failed
        return self

    async def close(self) -> None:
        self._closing = True
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def subscribe(self, thread_id: str) -> None:
        self.threads.setdefault(thread_id, ThreadMirror(thread_id))
        await self._send({"type": "subscribe", "thread_id": thread_id})

    async def unsubscribe(self, thread_id: str) -> None:
        self.threads.pop(thread_id, None)
        await self._send({"type": "unsubscribe", "thread_id": thread_id})

    async def send_raw(self, frame: dict[str, Any]) -> None:
        await self._send(frame)

    async def wait_for(self, predicate: Callable[[WsClient], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate(self)` holds (checked after every frame and connection change)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self)), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _send(self, frame: dict[str, Any]) -> None:
        if self._socket is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await self._socket.send(json.dumps(frame))

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            try:
                async with websockets.connect(self.url, open_timeout=10, ping_interval=None) as socket:
                    await socket.send(json.dumps(ws_auth_message(self.user, self.keypair, self.clock())))
                    first = json.loads(await socket.recv())
                    if first.get("type") != "authenticated":
                        self.errors.append(first)
                        if first.get("payload", {}).get("code") == "NotReady":  # sign a new frame, reconnect
                            raise ConnectionError(first["payload"].get("message", "server not ready"))
                        raise PermissionError(first.get("payload", {}).get("message", "authentication failed"))
                    self._socket = socket
                    self.connections += 1
                    attempt = 0
                    for mirror in self.threads.values():
                        mirror.stale = True
                        await socket.send(json.dumps({"type": "subscribe", "thread_id": mirror.thread_id}))
                    await self._notify()
                    async for raw in socket:
                        await self._on_frame(json.loads(raw))
            except PermissionError as error:
                self.failed = error
                await self._notify()
                return
            except (OSError, websockets.WebSocketException, TimeoutError):
                pass
            finally:
                self._socket = None
            if self._closing:
                return
            attempt += 1
            if attempt > len(self.backoff):
                self.failed = ConnectionError(f"gave up after {len(self.backoff)} reconnection attempts")
                await self._notify()
                return
            self.waits.append(self.backoff[attempt - 1])
            if self.connections == 0:
                self.connect_retries += 1
            await self._notify()
            await self.sleep(self.backoff[attempt - 1])

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        if self.lose is not None and self.lose(frame):
            return
        self.frames.append(frame)
        kind = frame.get("type")
        if kind == "ping":
            if self.auto_pong:
                await self._send({"type": "pong", "id": frame["id"]})
        elif kind == "ErrorNotification":
            self.errors.append(frame)
        elif kind in ("StateSync", "ThreadUpdate", "ApprovalRequest"):
            mirror = self.threads.get(frame["thread_id"])
            if mirror is not None and not mirror.apply(frame):
                self.gaps += 1
                await self._send({"type": "resync", "thread_id": mirror.thread_id})
        if self.on_frame is not None:
            self.on_frame(self, frame)
        await self._notify()
