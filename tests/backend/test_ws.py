"""The WebSocket protocol `/v1/ws` on a real server on 127.0.0.1: signed handshake, snapshot then
ordered deltas, privacy of delivery, resync after a gap, heartbeat and pong deadline, reconnection with backoff
(after a dropped connection and after a server restart), unauthorised handshakes and subscriptions, and a slow
consumer whose buffer stays bounded and who is resynced. Intervals are configured short; nothing waits on a sleep:
tests wait for the frames they expect (`WsClient.wait_for`) or for the writer's listener."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import websockets

from choir_model import CHOIR
from choir_model.state import Privacy
from choir_model.steps import CreateThread, Fund, RequestPublic, SubmitMessage
from reference_backend.auth import dev_keypair
from reference_backend.clock import ManualClock
from reference_backend.config import BackendConfig
from reference_backend.content import content_hash
from reference_backend.server import ServerThread
from reference_backend.service import Backend, RegisterCommand, StepCommand
from reference_backend.ws import CLOSE_AUTH, Hub, Session, Subscription, WsSettings, hub_of, ws_auth_message
from reference_backend.ws_client import WsClient
from tests.backend.conftest import T0, World


def ws_client(world: World, name: str, **kwargs: Any) -> WsClient:
    return WsClient(world.url, name, dev_keypair(name), clock=world.clock.now, **kwargs)


def thread_frames(client: WsClient, thread_id: str) -> list[dict[str, Any]]:
    return [f for f in client.frames if f.get("thread_id") == thread_id and "seq" in f]


def test_snapshot_then_ordered_private_deltas(world: World) -> None:
    for name in ("ann", "bob"):
        world.fund(name)
    ann, bob = world.client("ann"), world.client("bob")
    ann.create_thread("t1", 2 * CHOIR)

    async def main() -> None:
        ann_ws, bob_ws = await ws_client(world, "ann").start(), await ws_client(world, "bob").start()
        for client in (ann_ws, bob_ws):
            await client.subscribe("t1")
            await client.wait_for(lambda c: not c.threads["t1"].stale)
        assert ann_ws.threads["t1"].state["co_authors"] == ["ann"]
        assert "co_authors" not in bob_ws.threads["t1"].state or bob_ws.threads["t1"].state["co_authors"] is None
        secret = ann.submit_message("t1", "a private secret", "thread_only").content_hash
        hidden = ann.submit_message("t1", "a public draft").content_hash  # Private state: co-authors only
        shown = ann.submit_message("t1", "a shown message")
        ann.request_public("t1", shown.content_hash)  # ann is the only co-author: public at once
        last = ann.request_public("t1", hidden)
        for client in (ann_ws, bob_ws):  # both may see the last event (hidden is now Public), so both reach it
            await client.wait_for(lambda c: c.threads["t1"].journal_seq == last.seq)
        ann_frames, bob_frames = thread_frames(ann_ws, "t1"), thread_frames(bob_ws, "t1")
        for frames in (ann_frames, bob_frames):
            assert [f["seq"] for f in frames] == list(range(len(frames)))  # snapshot 0, then 1, 2, 3, ...
            journal = [f["journal_seq"] for f in frames]
            assert journal == sorted(journal)
        ann_events = [f["payload"]["event"] for f in ann_frames[1:]]
        assert ann_events.count("MessageCreated") == 3 and "PublicRequested" in ann_events
        assert any(f["type"] == "ApprovalRequest" for f in ann_frames)
        assert secret not in json.dumps(bob_ws.frames) and "a private secret" not in json.dumps(bob_ws.frames)
        assert secret in json.dumps(ann_ws.frames)
        bob_public = {f["payload"].get("content_hash") for f in bob_frames[1:]}
        assert bob_public >= {shown.content_hash, hidden}
        assert all(f["payload"]["event"] not in ("MessagePrivate", "TemperatureChanged") for f in bob_frames[1:])
        await ann_ws.unsubscribe("t1")
        await ann_ws.wait_for(lambda c: any(f["type"] == "unsubscribed" for f in c.frames))
        count = len(thread_frames(ann_ws, "t1"))
        final = bob.call("POST", "/v1/message/submit", {"thread_id": "t1", "content": "x", "stake": CHOIR})
        await bob_ws.wait_for(lambda c: c.threads["t1"].journal_seq == final["seq"])
        assert len(thread_frames(ann_ws, "t1")) == count  # ann unsubscribed: nothing more for t1
        await ann_ws.close()
        await bob_ws.close()

    asyncio.run(main())


def test_unauthorised_handshakes_and_subscriptions(world: World) -> None:
    world.fund("ann")
    world.client("ann").create_thread("t1", 2 * CHOIR)
    url = world.url.replace("http://", "ws://") + "/v1/ws"

    async def refused(first: dict[str, Any]) -> dict[str, Any]:
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps(first))
            answer = json.loads(await socket.recv())
            try:
                await socket.recv()
                raise AssertionError("the server must close after a failed handshake")
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == CLOSE_AUTH
            return answer

    async def main() -> None:
        forged = ws_auth_message("ann", dev_keypair("mallory"), world.clock.now())
        stale = ws_auth_message("ann", dev_keypair("ann"), world.clock.now() - 10_000)
        for first in (forged, stale, {"type": "subscribe", "thread_id": "t1"}):
            answer = await refused(first)
            assert answer["type"] == "ErrorNotification" and answer["payload"]["code"] == "AuthenticationFailed"
        replay = ws_auth_message("ann", dev_keypair("ann"), world.clock.now())
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps(replay))
            assert json.loads(await socket.recv())["type"] == "authenticated"
            await socket.send("not json")  # a bad frame is answered, and the connection stays
            assert json.loads(await socket.recv())["payload"]["code"] == "ValidationError"
            await socket.send(json.dumps({"type": "subscribe", "thread_id": "t1"}))
            assert json.loads(await socket.recv())["type"] == "StateSync"
        assert (await refused(replay))["payload"]["message"].startswith("replayed")
        stranger = WsClient(world.url, "nobody", dev_keypair("nobody"), clock=world.clock.now)
        try:
            await stranger.start()
            raise AssertionError("an unregistered user must be refused")
        except PermissionError:
            pass
        ann_ws = await ws_client(world, "ann").start()
        await ann_ws.subscribe("no-such-thread")
        await ann_ws.wait_for(lambda c: bool(c.errors))
        assert ann_ws.errors[0]["payload"]["code"] == "SubscriptionError"
        await ann_ws.send_raw({"type": "launch"})
        await ann_ws.wait_for(lambda c: len(c.errors) == 2)
        await ann_ws.close()

    asyncio.run(main())


def test_gap_triggers_resync_to_the_current_state(world: World) -> None:
    world.fund("ann")
    ann = world.client("ann")
    ann.create_thread("t1", 2 * CHOIR)
    lost: list[dict[str, Any]] = []

    def lose(frame: dict[str, Any]) -> bool:  # the network loses delta 2 once
        if frame.get("seq") == 2 and frame.get("type") != "StateSync" and not lost:
            lost.append(frame)
            return True
        return False

    async def main() -> None:
        client = await ws_client(world, "ann", lose=lose).start()
        await client.subscribe("t1")
        await client.wait_for(lambda c: not c.threads["t1"].stale)
        for text in ("one", "two", "three"):
            ann.submit_message("t1", text)
        await client.wait_for(lambda c: c.gaps == 1 and c.threads["t1"].snapshots == 2 and not c.threads["t1"].stale)
        assert lost and client.threads["t1"].state == ann.thread("t1").model_dump(mode="json")
        await client.close()

    asyncio.run(main())


def test_heartbeat_pong_deadline_and_reconnect(world: World) -> None:
    world.fund("ann")
    ann = world.client("ann")
    ann.create_thread("t1", 2 * CHOIR)
    hub_of(world.backend).settings = WsSettings(heartbeat=0.05, pong_deadline=0.3)
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    async def main() -> None:
        client = await ws_client(world, "ann", sleep=no_wait).start()
        await client.subscribe("t1")
        await client.wait_for(lambda c: sum(f["type"] == "ping" for f in c.frames) >= 3)
        assert client.connections == 1  # answering pongs keeps the connection
        client.auto_pong = False
        await client.wait_for(lambda c: c.connections == 2)  # the deadline closed it; the client came back
        client.auto_pong = True
        await client.wait_for(lambda c: c.threads["t1"].snapshots == 2 and not c.threads["t1"].stale)
        assert waits[0] == 1.0  # the seeds' first backoff step
        written = ann.submit_message("t1", "after the reconnect")
        await client.wait_for(lambda c: c.threads["t1"].journal_seq == written.seq)
        await client.close()

    asyncio.run(main())


def test_client_backs_off_and_resyncs_across_a_server_restart(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    config = BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={})
    server = ServerThread(config, clock=clock).start()
    port = server.port
    backend = server.backend
    for step in (Fund("ann", 0, 10 * CHOIR, ("treasury1", "treasury2")), CreateThread("ann", 0, "t1", 2 * CHOIR)):
        backend.execute(StepCommand(step))
    backend.execute(RegisterCommand("ann", str(dev_keypair("ann").pubkey())))
    restarted = asyncio.Event()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:  # the server comes back during the second backoff wait
            await restarted.wait()

    async def main() -> None:
        nonlocal server
        client = await WsClient(server.url, "ann", dev_keypair("ann"), clock=clock.now, sleep=sleep).start()
        await client.subscribe("t1")
        await client.wait_for(lambda c: not c.threads["t1"].stale)
        await asyncio.to_thread(server.stop)
        await client.wait_for(lambda c: len(waits) == 2)
        clock.set(clock.now() + 1)  # a restarted server accepts only requests signed after its replay floor
        again = ServerThread(config, clock=clock, port=port)
        await asyncio.to_thread(again.start)
        server = again
        await asyncio.to_thread(
            again.backend.execute,
            StepCommand(SubmitMessage("ann", 0, "t1", content_hash("back again"), Privacy.PUBLIC), "back again"),
        )
        restarted.set()
        await client.wait_for(lambda c: c.connections == 2 and not c.threads["t1"].stale)
        assert waits == [1.0, 5.0]
        assert content_hash("back again") in client.threads["t1"].state["content_hashes"]
        await client.close()

    try:
        asyncio.run(main())
    finally:
        server.stop()


def test_slow_consumer_is_resynced_with_a_bounded_buffer(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    backend = Backend(BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={}), clock=clock).start()
    backend.execute(StepCommand(Fund("ann", 0, 100 * CHOIR, ("treasury1", "treasury2"))))
    backend.execute(StepCommand(CreateThread("ann", 0, "t1", 2 * CHOIR)))
    hub = Hub(backend, WsSettings(buffer_limit=4))
    reached = threading.Event()
    texts = [f"message number {i}" for i in range(20)]
    target: list[int] = []

    def listener(accepted: list) -> None:  # runs after the hub's listener on the writer thread
        if target and accepted[-1].seq >= target[0]:
            reached.set()

    backend.add_listener(listener)

    async def main() -> None:
        hub.loop = asyncio.get_running_loop()
        gate = asyncio.Event()
        received: list[dict[str, Any]] = []
        arrived = asyncio.Event()
        longest = 0

        async def send(frame: dict[str, Any]) -> None:
            await gate.wait()  # the consumer does not read until the gate opens
            received.append(frame)
            arrived.set()

        session = Session("ann", send, hub.settings.buffer_limit)
        session.subscriptions["t1"] = Subscription()
        hub.sessions.add(session)
        pump = asyncio.create_task(hub.pump(session))
        session.request_snapshot("t1")
        target.append(backend.journal_seq + len(texts))
        for text in texts:
            step = SubmitMessage("ann", 0, "t1", content_hash(text), Privacy.PUBLIC)
            await asyncio.to_thread(backend.execute, StepCommand(step, text))
            longest = max(longest, len(session.buffer))
        await asyncio.to_thread(reached.wait, 10)
        # The hub's publish callback was scheduled before this thread's wake-up, so it has run by now.
        assert max(longest, len(session.buffer)) <= 4 and session.resyncs >= 1
        gate.set()
        while not (received and received[-1]["journal_seq"] == target[0] and not session.buffer):
            await asyncio.wait_for(arrived.wait(), 10)
            arrived.clear()
        syncs = [i for i, f in enumerate(received) if f["type"] == "StateSync"]
        assert len(syncs) >= 2  # the first snapshot, then the resync after the overflow
        tail = received[syncs[-1] :]
        assert [f["seq"] for f in tail] == list(range(len(tail)))
        created = sum(f["payload"]["event"] == "MessageCreated" for f in tail[1:])
        assert tail[0]["payload"]["message_count"] + created == backend.thread_view("ann", "t1").message_count == 20
        session.closed = True
        session.wake.set()
        await pump

    try:
        asyncio.run(main())
    finally:
        backend.close()


def test_visibility_is_read_per_operation_not_per_group_commit(tmp_path: Path) -> None:
    """A message created and made public in the same group commit: an outsider must not get its MessageCreated in
    full (it was a Private draft when created), exactly as if the two operations had been committed apart."""
    clock = ManualClock(T0)
    backend = Backend(BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={}), clock=clock).start()
    backend.execute(StepCommand(Fund("ann", 0, 100 * CHOIR, ("treasury1", "treasury2"))))
    backend.execute(StepCommand(CreateThread("ann", 0, "t1", 2 * CHOIR)))
    hub = Hub(backend)
    digest = content_hash("drafted and published at once")

    async def main() -> list[dict[str, Any]]:
        hub.loop = asyncio.get_running_loop()
        received: list[dict[str, Any]] = []

        async def send(frame: dict[str, Any]) -> None:
            received.append(frame)

        session = Session("carol", send, hub.settings.buffer_limit)
        session.subscriptions["t1"] = Subscription(as_of=backend.journal_seq)
        hub.sessions.add(session)
        pump = asyncio.create_task(hub.pump(session))
        batches = backend._batches
        with backend.state_lock:  # the writer takes the first command and waits; the next two queue up behind it
            first = backend.submit(StepCommand(Fund("carol", 0, CHOIR, ("treasury1", "treasury2"))))
            while backend._queue.qsize():
                await asyncio.sleep(0.001)
            draft = backend.submit(StepCommand(SubmitMessage("ann", 0, "t1", digest, Privacy.PUBLIC), "x"))
            public = backend.submit(StepCommand(RequestPublic("ann", 0, "t1", digest)))
        for future in (first, draft, public):
            await asyncio.wrap_future(future)
        assert backend._batches == batches + 2, "the draft and its publication should share one commit"
        while not received or received[-1]["journal_seq"] < public.result().seq:
            await asyncio.sleep(0.01)
        session.closed = True
        session.wake.set()
        await pump
        return received

    try:
        received = asyncio.run(main())
    finally:
        backend.close()
    created = [f["payload"] for f in received if f["payload"].get("event") == "MessageCreated"]
    published = [f["payload"] for f in received if f["payload"].get("event") == "MessagePublic"]
    assert created == []  # a Private draft is nothing to an outsider; after-commit facts would show it in full
    assert [payload["content_hash"] for payload in published] == [digest]


def test_the_readme_websocket_example_runs(tmp_path: Path, capsys: Any) -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Real time: WebSocket, caching, Chorus") :]
    section = section[: section.index("\n## ", 1)]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    with ServerThread(BackendConfig(data_dir=tmp_path / "data")) as server:
        backend = server.backend
        backend.execute(RegisterCommand("bob", str(dev_keypair("bob").pubkey())))
        backend.execute(StepCommand(Fund("ann", 0, 10 * CHOIR, ("treasury1", "treasury2"))))
        backend.execute(StepCommand(CreateThread("ann", 0, "t1", 2 * CHOIR)))
        exec(compile(code.replace("http://127.0.0.1:8000", server.url), "README.md", "exec"), {})
    assert "'thread_id': 't1'" in capsys.readouterr().out
