"""Durability: the journal is the truth. A restart rebuilds the same state (from snapshots plus
the journal tail, or the journal alone), the exported journal replays on the model to the same snapshot, the search
index catches up with what it missed, and a server killed with SIGKILL in the middle of a load has, after restart,
every acknowledged operation and nothing that was never sent."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path

import httpx
import pytest

from choir_model import CHOIR, Model, Params
from choir_model.trace import parse_trace
from reference_backend.auth import dev_keypair
from reference_backend.client import ChoirApiError, ChoirClient
from reference_backend.config import BackendConfig
from reference_backend.content import content_hash
from reference_backend.journal import JOURNAL_FILE, Journal
from reference_backend.search_edge import EdgeIndex
from reference_backend.server import ServerProcess
from reference_backend.service import Backend, JournalCorrupt
from reference_backend.writer import model_fingerprint
from tests.backend.conftest import AUTHORITIES, World


def populate(world: World, messages: int = 6) -> list[str]:
    world.fund("alice")
    world.fund("bob")
    alice, bob = world.client("alice"), world.client("bob")
    alice.create_thread("t1", 5 * CHOIR)
    hashes = []
    for n in range(messages):
        world.clock.advance(10)
        hashes.append(alice.submit_message("t1", f"note {n} about durable storage").content_hash or "")
    alice.request_public("t1", hashes[0])
    spec = bob.submit_spec("t1", "bob's durable spec", 2 * CHOIR)
    alice.approve("t1", spec.content_hash or "", True)
    world.client("treasury1", register=False).set_premium("bob", True)
    return hashes


def replayed(world: World) -> dict:
    """The model's snapshot after replaying the exported journal."""
    path = world.backend.journal.path.parent / "export.jsonl"
    world.backend.journal.export(path)
    model = Model(world.backend.config.params, policy=world.backend.config.policy)
    for step in parse_trace(path.read_text().splitlines()):
        assert model.try_apply(step) is None, step
    return model.snapshot()


def test_restart_rebuilds_state_users_and_search(make_world, tmp_path: Path) -> None:
    data = tmp_path / "kept"
    first = make_world(data_dir=data)
    populate(first)
    before = first.backend.snapshot()
    assert replayed(first) == before
    first.close()
    second = make_world(data_dir=data, start=first.clock.now() + 1)  # signed after the replay floor
    assert second.backend.snapshot() == before
    assert second.backend.is_premium("bob")
    bob = second.client("bob", register=False)  # still registered: the key survived
    assert bob.thread("t1").role == "co_author"
    hits = bob.search("durable storage", limit=20)
    assert hits.count == 7  # bob is a co-author now: he searches every message of t1


def test_snapshots_shorten_replay_and_stale_ones_are_ignored(make_world, tmp_path: Path) -> None:
    data = tmp_path / "kept"
    first = make_world(data_dir=data, snapshot_every=4)
    populate(first)
    seq, before = first.backend.journal_seq, first.backend.snapshot()
    first.close()
    db = sqlite3.connect(data / JOURNAL_FILE)
    snapshots = [row[0] for row in db.execute("SELECT seq FROM snapshots ORDER BY seq")]
    assert snapshots and max(snapshots) == seq - seq % 4
    second = make_world(data_dir=data, snapshot_every=4)
    assert second.backend.snapshot() == before
    second.close()
    # A snapshot from another model version (fingerprint) is skipped: the journal alone rebuilds the state.
    db.execute("UPDATE snapshots SET fingerprint = 'another model'")
    db.commit()
    db.close()
    third = make_world(data_dir=data, snapshot_every=4)
    assert third.backend.snapshot() == before


def test_a_row_edited_below_a_snapshot_is_found_at_start(make_world, tmp_path: Path) -> None:
    data = tmp_path / "kept"
    first = make_world(data_dir=data, snapshot_every=4)
    populate(first)
    seq = first.backend.journal_seq
    first.close()
    journal = Journal(data)
    journal.verify()
    assert journal.latest_snapshot(model_fingerprint(first.backend.config))[0] == seq - seq % 4  # rows unchanged
    journal.close()
    db = sqlite3.connect(data / JOURNAL_FILE)
    edited = db.execute("UPDATE journal SET line = replace(line, '5000000000', '9000000000000') WHERE seq = 3")
    assert edited.rowcount == 1 and seq - seq % 4 > 3  # the thread's deposit, below the newest snapshot
    db.commit()
    db.close()
    with pytest.raises(JournalCorrupt, match=r"journal row 3 .* does not replay"):
        Backend(BackendConfig(data_dir=data, snapshot_every=4)).start()


def test_a_journal_is_refused_under_other_parameters(make_world, tmp_path: Path) -> None:
    data = tmp_path / "kept"
    world = make_world(data_dir=data)
    populate(world)
    world.close()
    with pytest.raises(JournalCorrupt):
        Backend(BackendConfig(data_dir=data, params=Params(max_pending=3))).start()
    with pytest.raises(JournalCorrupt):
        Backend(BackendConfig(data_dir=data, policy="scales-2024-10")).start()


def test_the_index_catches_up_after_losing_its_store(make_world, tmp_path: Path) -> None:
    data = tmp_path / "kept"
    first = make_world(data_dir=data)
    hashes = populate(first)
    first.close()
    shutil.rmtree(data / "qdrant")
    second = make_world(data_dir=data, start=first.clock.now() + 1)
    found = second.client("alice", register=False).search("note durable", limit=20)
    assert {hit.content_hash for hit in found.results} >= set(hashes)


def test_a_rebuilt_index_interrupted_mid_catch_up_starts_again_from_zero(
    make_world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index store is removed, and the next server dies before its catch-up ends (here: every write after the
    first chunk fails, as a SIGKILL would leave it). The watermark lives in the index, so the half-filled index has none
    and the start after that re-indexes from the journal's first row: every message is found, and health reports
    the index at the journal's head only once it is."""
    data = tmp_path / "kept"
    first = make_world(data_dir=data)
    hashes = populate(first, messages=30)
    journal_seq = first.backend.journal_seq
    first.close()
    shutil.rmtree(data / "qdrant")
    monkeypatch.setattr("reference_backend.indexer.CATCH_UP_CHUNK", 4)
    writes = []

    def dies_on_second_write(self, docs, changes, watermark) -> None:
        writes.append(watermark)
        if len(writes) >= 2:
            raise RuntimeError("killed mid catch-up")
        EdgeIndex.write(self, docs, changes, watermark)

    monkeypatch.setattr("reference_backend.search_edge.EdgeIndex.write", dies_on_second_write)
    second = make_world(data_dir=data, search_wait=0.2, start=first.clock.now() + 1)
    health = second.send("GET", "/v1/health").json()["data"]
    assert health["indexed_seq"] == 0 < health["journal_seq"] == journal_seq  # truthful: behind
    assert writes[0] == 0  # the first chunk kept the new index's (absent) watermark
    second.close()
    monkeypatch.undo()
    third = make_world(data_dir=data, start=second.clock.now() + 1)
    found = third.client("alice", register=False).search("note durable", limit=50)
    assert {hit.content_hash for hit in found.results} >= set(hashes)
    assert third.send("GET", "/v1/health").json()["data"]["indexed_seq"] == journal_seq


def test_sigkill_during_load_keeps_every_acknowledged_operation(tmp_path: Path) -> None:
    """Eight writers submit messages as fast as they can; the server is killed with SIGKILL mid-load. After a
    restart the journal holds every acknowledged message and nothing that was never sent, and the state is exactly
    the model's replay of that journal."""
    data = tmp_path / "crash"
    workers = [f"w{n}" for n in range(8)]
    server = ServerProcess(data, ["--no-rate-limits"]).start()
    try:
        clients = {name: ChoirClient(server.url, name, dev_keypair(name), backoff=()) for name in workers}
        for name, client in clients.items():
            client.register()
            client.fund(name, 10 * CHOIR, AUTHORITIES)
            client.create_thread(f"thread-{name}", CHOIR)
        sent: set[str] = set()
        acked: set[str] = set()
        lock = threading.Lock()
        enough = threading.Event()

        def load(name: str) -> None:
            client = clients[name]
            for n in range(10_000):
                text = f"{name} message {n}"
                with lock:
                    sent.add(content_hash(text))
                try:
                    client.submit_message(f"thread-{name}", text)
                except (httpx.HTTPError, ChoirApiError):
                    return
                with lock:
                    acked.add(content_hash(text))
                    if len(acked) >= 300:
                        enough.set()

        threads = [threading.Thread(target=load, args=(name,)) for name in workers]
        for thread in threads:
            thread.start()
        assert enough.wait(120), "the load did not get going"
        server.kill()
        for thread in threads:
            thread.join(30)
        for client in clients.values():
            client.close()
    finally:
        server.kill()
    assert len(acked) >= 300 and len(sent) > len(acked) - 1

    # Restart: the same start-up path `choir serve` runs (in this process, to spare a second interpreter start).
    restarted = Backend(BackendConfig(data_dir=data, rate_limits={})).start()
    try:
        snapshot = restarted.snapshot()
    finally:
        restarted.close()
    journal = sqlite3.connect(data / JOURNAL_FILE)
    lines = [row[0] for row in journal.execute("SELECT line FROM journal ORDER BY seq")]
    journal.close()
    steps = parse_trace(lines)
    journaled = {step.hash for step in steps if step.op == "submit_message"}  # type: ignore[attr-defined]
    assert acked <= journaled, f"{len(acked - journaled)} acknowledged messages were lost"
    assert journaled <= sent, "the journal holds a message nobody sent"
    model = Model()
    for step in steps:
        assert model.try_apply(step) is None
    assert model.snapshot() == snapshot
    assert {key.split("/", 1)[1] for key in snapshot["messages"]} == journaled


def test_a_batch_larger_than_one_statement_commits_whole_and_in_order(tmp_path: Path) -> None:
    """A group commit writes each table with multi-row statements of `ROWS_PER_STATEMENT` rows: a batch spanning
    several of them gets consecutive seqs in its own order, the seq of its last row back, and a digest the next
    start verifies."""
    from reference_backend.journal import ROWS_PER_STATEMENT, Batch

    rows = 2 * ROWS_PER_STATEMENT + 7
    journal = Journal(tmp_path)
    try:
        journal.verify()
        lines = [f'{{"op":"fund","n":{n}}}' for n in range(rows)]
        batch = Batch(
            steps=[(line, "ann", f"nonce-{n}", 100 + n) for n, line in enumerate(lines)],
            contents=[(f"{n:064x}", f"text {n}") for n in range(rows)],
            users=[("ann", "key-1", False, 100), ("ann", "key-2", True, 101)],
            requests=[("ann", f"nonce-{n}", 100 + n) for n in range(rows)],
        )
        assert journal.commit(batch) == rows
        assert journal.commit(Batch(steps=[('{"op":"last"}', None, None, 999)])) == rows + 1
        assert journal.commit(Batch(requests=[("bob", "n", 5)])) == rows + 1  # no operation: the seq stays
        assert [line for _, line in journal.lines()] == [*lines, '{"op":"last"}']
        assert [seq for seq, _ in journal.lines()] == list(range(1, rows + 2))
        assert journal.users() == [("ann", "key-2", True)]  # the later row of one name wins
        assert len(journal.recent_requests(0)) == rows + 1
        assert journal.contents([f"{rows - 1:064x}"]) == {f"{rows - 1:064x}": f"text {rows - 1}"}
    finally:
        journal.close()
    again = Journal(tmp_path)
    try:
        again.verify()  # numbered 1..N with no gap
        assert again.last_seq() == rows + 1
    finally:
        again.close()
