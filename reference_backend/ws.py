"""The WebSocket protocol `/v1/ws` (seeds Impl_WebSocket, SPEC section 10): live thread state without polling.

Why it is built this way: a subscriber must end up with exactly the state the REST API would show it, in order,
without ever seeing what `choir_model.privacy` hides from it, and one slow client must not cost the server memory.

Connection: the client's first frame is `auth` (user, timestamp, nonce, ed25519 signature over
`canonical_request(user, "WS", "/v1/ws", timestamp, nonce, b"")`, the same scheme, freshness and replay rules as REST).
The server answers `authenticated` with the heartbeat settings, or `ErrorNotification` (`AuthenticationFailed`)
and closes (4401). Then: `subscribe` / `unsubscribe` / `resync` a thread, and `pong` to each `ping`.

Every server frame is the seeds' Message `{id, type, payload, timestamp, thread_id}`; thread frames add `seq`
and `journal_seq`. Types are the seeds' WSEvent names: `StateSync` (a snapshot: the thread view the REST API
gives this user, `seq` 0), `ThreadUpdate` (a model event, from `choir_model.events`), `ApprovalRequest` (a spec
submitted or a public request, for those who vote on it), `ErrorNotification`; and control frames
(`authenticated`, `ping`, `unsubscribed`).

Ordering and gaps: per subscription, deltas after a snapshot are numbered 1, 2, 3, ... in journal order; a
client that sees a number out of turn asks `resync` and gets a fresh snapshot (numbering restarts at 0). A delta
is sent only if its journal position is after the snapshot's, so nothing is applied twice or missed.

Privacy: the writer's listener reads, on the writer thread (the model's only mutator), the facts each event's
visibility depends on (co-authors; each message's privacy, state, author); the hub then decides per subscriber
with `choir_model.privacy`: message events go to whoever may read the message (`view_of`), in full only to those
who read it in full (a summary reader learns only that something changed: no hash, no author); stakes go to
co-authors and the spec's author; votes, co-authors, balances, temperature and settlements to co-authors only.

Back-pressure: each client has a bounded buffer (`buffer_limit` frames). When it is full the buffer is dropped
and every subscription of that client is resynced with a fresh snapshot: a slow consumer costs one snapshot per
thread, never unbounded memory. Heartbeat: a `ping` every `heartbeat` seconds; no `pong` within `pong_deadline`
closes the connection (4408), and the client reconnects with backoff (`reference_backend.ws_client`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from solders.keypair import Keypair
from starlette.concurrency import run_in_threadpool

from choir_model import events as ev
from choir_model.privacy import Role, View, role_of, view_of
from choir_model.state import ChoirState, MessageState, Privacy
from reference_backend.auth import NONCE, SIGNATURE, TIMESTAMP, USER, AuthFailure, sign_headers
from reference_backend.errors import ApiError
from reference_backend.schemas import unicode_text

if TYPE_CHECKING:
    from reference_backend.commands import Accepted
    from reference_backend.service import Backend

log = logging.getLogger("reference_backend")

WS_PATH = "/v1/ws"
WS_METHOD = "WS"
CO_AUTHOR_EVENTS = (
    ev.ThreadCreated, ev.CoAuthorAdded, ev.TokensDivested, ev.TemperatureChanged, ev.FrequencyChanged,
    ev.StakeSettled, ev.ApprovalReceived,
)  # fmt: skip
MESSAGE_EVENTS = (
    ev.MessageCreated, ev.MessagePrivate, ev.PublicRequested, ev.MessagePublic, ev.MessageRejected,
    ev.MessageExpired,
)  # fmt: skip
APPROVAL_REQUESTS = (ev.SpecSubmitted, ev.PublicRequested)
CLOSE_AUTH, CLOSE_PONG = 4401, 4408


@dataclass
class WsSettings:
    """Seeds: heartbeat every 30 s, pong within 5 s. Tests shorten them; `buffer_limit` bounds each client."""

    heartbeat: float = 30.0
    pong_deadline: float = 5.0
    buffer_limit: int = 256
    auth_timeout: float = 10.0


def ws_auth_message(user: str, keypair: Keypair, timestamp: int) -> dict[str, Any]:
    """The client's first frame: a signature over the WS handshake (fresh nonce)."""
    headers = sign_headers(WS_METHOD, WS_PATH, b"", user, keypair, timestamp)
    return {
        "type": "auth",
        "user": headers[USER],
        "timestamp": int(headers[TIMESTAMP]),
        "nonce": headers[NONCE],
        "signature": headers[SIGNATURE],
    }


@dataclass(frozen=True, slots=True)
class MessageFacts:
    privacy: Privacy
    state: MessageState
    author: str


@dataclass(frozen=True, slots=True)
class Delta:
    """One model event of a thread, with what its visibility depends on (read on the writer thread)."""

    journal_seq: int
    thread_id: str
    event: ev.Event
    co_authors: frozenset[str]
    message: MessageFacts | None


EventFacts = tuple[str, ev.Event, frozenset[str], MessageFacts | None]
"""A Delta without its journal position: (thread, event, co-authors, message facts)."""


def event_facts(state: ChoirState, events: list[ev.Event]) -> list[EventFacts]:
    """What the visibility of one operation's thread events depends on, read from the state right after that
    operation applied (the service's `witness`): the thread's co-authors, and for a message event the message's
    privacy, state and author. Read per operation, not per group commit, so a message approved later in the same
    commit is not shown to anyone as public before its approval. The load test's replay uses the same function."""
    out: list[EventFacts] = []
    threads = state.threads
    for event in events:
        thread_id = getattr(event, "thread_id", None)
        thread = threads.get(thread_id) if thread_id is not None else None
        if thread is None:
            continue
        facts = None
        content_hash = getattr(event, "content_hash", None)
        if content_hash is not None and content_hash in thread.messages:
            m = thread.messages[content_hash]
            facts = MessageFacts(m.privacy, m.state, m.author)
        out.append((thread_id, event, frozenset(thread.co_authors), facts))  # type: ignore[arg-type]
    return out


def visible(delta: Delta, user: str, premium: bool) -> dict[str, Any] | None:
    """The event payload `user` may receive, or None (`choir_model.privacy`; see the module docstring)."""
    role = role_of(user, delta.co_authors, premium)
    event = delta.event
    message = delta.message
    is_author = message is not None and message.author == user
    if isinstance(event, ev.SpecSubmitted):
        return event.to_json() if role is Role.CO_AUTHOR or is_author else None
    if isinstance(event, CO_AUTHOR_EVENTS):
        return event.to_json() if role is Role.CO_AUTHOR else None
    if isinstance(event, MESSAGE_EVENTS) and message is not None:
        view = view_of(role, message.privacy, message.state, is_author)
        if view is View.NONE:
            return None
        if view is View.FULL:
            return event.to_json()
        return {"event": event.kind, "thread_id": delta.thread_id, "view": view.value}
    return None


@dataclass
class Subscription:
    seq: int = 0
    as_of: int | None = None  # journal position of the last snapshot (None: a snapshot is due)


@dataclass(eq=False)
class Session:
    """One authenticated connection: its subscriptions, bounded buffer and pending snapshots."""

    user: str
    send: Callable[[dict[str, Any]], Awaitable[None]]
    limit: int
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    buffer: deque[Delta] = field(default_factory=deque)
    snapshots_due: dict[str, None] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resyncs: int = 0
    sent: int = 0
    closed: bool = False

    def offer(self, delta: Delta) -> None:
        if len(self.buffer) >= self.limit:  # a slow consumer: drop what it has not read, resync every thread
            self.buffer.clear()
            self.resyncs += 1
            for thread_id in self.subscriptions:
                self.snapshots_due[thread_id] = None
        else:
            self.buffer.append(delta)
        self.wake.set()

    def request_snapshot(self, thread_id: str) -> None:
        self.snapshots_due[thread_id] = None
        self.wake.set()


class Hub:
    """Fans the model's events out to sessions, in journal order, filtered per subscriber."""

    def __init__(self, backend: Backend, settings: WsSettings | None = None) -> None:
        self.backend = backend
        self.settings = settings or WsSettings()
        self.sessions: set[Session] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.delivered = 0
        self._ids = itertools.count(1)
        self._prefix = secrets.token_hex(4)
        backend.add_listener(self._on_accepted)
        backend.witness = self._witness

    # -- from the writer thread ------------------------------------------------------------------------------------

    def _witness(self, state: ChoirState, events: list[ev.Event]) -> list[EventFacts] | None:
        """`event_facts`, read only while someone is connected: with no session there is nobody to publish to."""
        return event_facts(state, events) if self.sessions else None

    def _on_accepted(self, accepted: list[Accepted]) -> None:
        loop = self.loop
        if loop is None or not self.sessions:
            return
        deltas = [Delta(a.seq, *facts) for a in accepted for facts in a.witnessed or ()]
        if deltas:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._publish, deltas)

    # -- on the event loop -----------------------------------------------------------------------------------------

    def _publish(self, deltas: list[Delta]) -> None:
        for session in list(self.sessions):
            if session.closed:
                continue
            for delta in deltas:
                if delta.thread_id in session.subscriptions:
                    session.offer(delta)

    def frame(self, kind: str, payload: dict[str, Any], thread_id: str | None = None, **extra: Any) -> dict[str, Any]:
        """The seeds' Message structure."""
        frame = {
            "id": f"{self._prefix}-{next(self._ids):x}",
            "type": kind,
            "payload": payload,
            "timestamp": self.backend.now(),
            "thread_id": thread_id,
        }
        frame.update(extra)
        return frame

    def _snapshot(self, user: str, thread_id: str) -> tuple[int, dict[str, Any]]:
        with self.backend.state_lock:
            seq = self.backend.journal_seq
            view = self.backend.thread_view(user, thread_id)
        return seq, view.model_dump(mode="json")

    async def pump(self, session: Session) -> None:
        """Send what is due to one session: snapshots first, then buffered deltas (runs until closed)."""
        while not session.closed:
            await session.wake.wait()
            session.wake.clear()
            while session.snapshots_due or session.buffer:
                if session.snapshots_due:
                    thread_id = next(iter(session.snapshots_due))
                    del session.snapshots_due[thread_id]
                    subscription = session.subscriptions.get(thread_id)
                    if subscription is None:
                        continue
                    try:
                        as_of, state = await run_in_threadpool(self._snapshot, session.user, thread_id)
                    except ApiError as error:
                        session.subscriptions.pop(thread_id, None)
                        await session.send(self.error("SubscriptionError", error.message, thread_id))
                        continue
                    subscription.as_of, subscription.seq = as_of, 0
                    await session.send(self.frame("StateSync", state, thread_id, seq=0, journal_seq=as_of))
                    continue
                delta = session.buffer.popleft()
                subscription = session.subscriptions.get(delta.thread_id)
                if subscription is None or subscription.as_of is None or delta.journal_seq <= subscription.as_of:
                    continue  # unsubscribed, or covered by a snapshot (sent or due)
                payload = visible(delta, session.user, self.backend.is_premium(session.user))
                if payload is None:
                    continue
                subscription.seq += 1
                kind = "ApprovalRequest" if isinstance(delta.event, APPROVAL_REQUESTS) else "ThreadUpdate"
                frame = self.frame(kind, payload, delta.thread_id, seq=subscription.seq, journal_seq=delta.journal_seq)
                await session.send(frame)
                session.sent += 1
                self.delivered += 1

    def error(self, code: str, message: str, thread_id: str | None = None) -> dict[str, Any]:
        return self.frame("ErrorNotification", {"code": code, "message": message}, thread_id)

    async def authenticate(self, frame: dict[str, Any]) -> str:
        """The user of a valid `auth` frame, or AuthFailure. Same rules as REST (`reference_backend.auth`): a frame
        signed ahead of the server clock has its nonce persisted before the session opens."""
        if frame.get("type") != "auth":
            raise AuthFailure("the first frame must be auth")
        headers = {
            USER: str(frame.get("user", "")),
            TIMESTAMP: str(frame.get("timestamp", "")),
            NONCE: str(frame.get("nonce", "")),
            SIGNATURE: str(frame.get("signature", "")),
        }
        principal = await self.backend.verify(headers, WS_METHOD, WS_PATH, b"")
        return principal.user

    def handle(self, session: Session, frame: dict[str, Any]) -> dict[str, Any] | None:
        """A client frame after auth; returns an immediate answer frame, if any."""
        kind = frame.get("type")
        thread_id = frame.get("thread_id")
        if kind in ("subscribe", "resync", "unsubscribe"):
            if not isinstance(thread_id, str):
                return self.error("SubscriptionError", "thread_id must be a string")
            try:
                unicode_text(thread_id)
            except ValueError as error:
                return self.error("ValidationError", f"thread_id: {error}")
        if kind in ("subscribe", "resync"):
            session.subscriptions.setdefault(thread_id, Subscription())
            session.request_snapshot(thread_id)
            return None
        if kind == "unsubscribe":
            session.subscriptions.pop(thread_id, None)
            session.snapshots_due.pop(thread_id, None)
            return self.frame("unsubscribed", {}, thread_id)
        return self.error("ValidationError", f"unknown frame type {kind!r}")


_HUBS: weakref.WeakKeyDictionary[Any, Hub] = weakref.WeakKeyDictionary()


def hub_of(backend: Backend) -> Hub:
    """The backend's one hub (created on first use; tests change its `settings` before connecting)."""
    hub = _HUBS.get(backend)
    if hub is None:
        hub = _HUBS[backend] = Hub(backend)
    return hub


async def serve_connection(hub: Hub, websocket: Any) -> None:
    """Run one `/v1/ws` connection (a Starlette WebSocket) until either side closes it."""
    from starlette.websockets import WebSocketDisconnect

    hub.loop = asyncio.get_running_loop()
    settings = hub.settings
    await websocket.accept()
    try:
        first = await asyncio.wait_for(websocket.receive_json(), settings.auth_timeout)
        user = await hub.authenticate(first if isinstance(first, dict) else {})
    except (AuthFailure, TimeoutError, ValueError, KeyError, ApiError) as failure:
        reason = failure.reason if isinstance(failure, AuthFailure) else "no valid auth frame in time"
        # NotReady: signed at or before a restart's replay floor; the client signs a new frame and reconnects.
        retry = isinstance(failure, AuthFailure) and failure.retry_after is not None
        if isinstance(failure, ApiError):  # the nonce could not be persisted (storage failing)
            reason, retry = failure.message, True
        with contextlib.suppress(Exception):
            await websocket.send_json(hub.error("NotReady" if retry else "AuthenticationFailed", reason))
            await websocket.close(CLOSE_AUTH)
        return
    except WebSocketDisconnect:
        return
    lock = asyncio.Lock()

    async def send(frame: dict[str, Any]) -> None:
        async with lock:
            await websocket.send_json(frame)

    session = Session(user, send, settings.buffer_limit)
    hub.sessions.add(session)
    pong = asyncio.Event()
    pong_id: list[str] = [""]

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(settings.heartbeat)
            pong.clear()
            ping = hub.frame("ping", {})
            pong_id[0] = ping["id"]
            await send(ping)
            try:
                await asyncio.wait_for(pong.wait(), settings.pong_deadline)
            except TimeoutError:
                await websocket.close(CLOSE_PONG)
                return

    async def receive() -> None:
        while True:
            try:
                frame = json.loads(await websocket.receive_text())
            except ValueError:
                frame = None
            if not isinstance(frame, dict):
                await send(hub.error("ValidationError", "frames are JSON objects"))
            elif frame.get("type") == "pong":
                if frame.get("id") == pong_id[0]:
                    pong.set()
            else:
                answer = hub.handle(session, frame)
                if answer is not None:
                    await send(answer)

    await send(
        hub.frame(
            "authenticated",
            {"user": user, "heartbeat": settings.heartbeat, "pong_deadline": settings.pong_deadline},
        )
    )
    tasks = [asyncio.create_task(t) for t in (hub.pump(session), heartbeat(), receive())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        session.closed = True
        hub.sessions.discard(session)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        with contextlib.suppress(Exception):
            await websocket.close()
