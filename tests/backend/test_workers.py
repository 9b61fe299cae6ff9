"""`choir serve --workers 2`: HTTP from two worker processes around the one writer (`reference_backend.workers`).

Every client here opens a new connection per request (no keep-alive), so the kernel's SO_REUSEPORT spreads its
requests over both workers; each property is checked over enough requests that both serve some of them (a
request lands on either with probability 1/2). What must hold whichever worker answers: a client reads its own
writes and never an older state than it saw before, a signed request is accepted once, a worker's crash loses no
committed write, and a restart rebuilds exactly the state it had. The load test (`loadtest`) at the end drives
both workers' HTTP and WebSockets and checks the events, the journal, the model and the chain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from choir_model import CHOIR
from loadtest.run import run_load
from reference_backend.auth import dev_keypair, sign_headers
from reference_backend.client import ChoirClient
from reference_backend.journal import JOURNAL_FILE
from reference_backend.schemas import Snapshot
from reference_backend.server import ServerProcess, processes
from tests.backend.conftest import AUTHORITIES

WORKERS = ["--workers", "2", "--no-rate-limits", "--chain", "none"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("workers") / "data", WORKERS).start()
    yield server
    server.stop()


def fresh(server: ServerProcess, name: str) -> ChoirClient:
    """A client of `name` that opens a new connection for every request."""
    http = httpx.Client(base_url=server.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))
    return ChoirClient(server.url, name, dev_keypair(name), http=http, backoff=())


def worker_pids(server: ServerProcess) -> set[int]:
    """The worker processes of a `choir serve` (its children)."""
    assert server.process is not None
    return {p.pid for p in processes() if p.parent == server.process.pid}


def answers(server: ServerProcess) -> bool:
    try:
        return httpx.get(f"{server.url}/v1/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def snapshot_differences(before: Snapshot, after: Snapshot) -> list[str]:
    """Each entry of the two snapshots that differs, as `section/key: before -> after`."""
    was, now = before.model_dump(), after.model_dump()
    differences = [f"treasury: {was['treasury']} -> {now['treasury']}"] if was["treasury"] != now["treasury"] else []
    for section in ("wallets", "threads", "messages"):
        for key in sorted(was[section].keys() | now[section].keys()):
            if was[section].get(key) != now[section].get(key):
                differences.append(f"{section}/{key}: {was[section].get(key)} -> {now[section].get(key)}")
    return differences


def user(server: ServerProcess, name: str, thread_id: str | None = None) -> ChoirClient:
    client = fresh(server, name)
    client.register()
    client.fund(name, 100 * CHOIR, AUTHORITIES)
    if thread_id is not None:
        client.create_thread(thread_id, 2 * CHOIR)
    return client


def test_two_workers_serve_and_a_client_reads_its_own_writes(served: ServerProcess) -> None:
    """Right after each acknowledged write, a read on a new connection (either worker) shows it."""
    assert len(worker_pids(served)) == 2
    alice = user(served, "ryw-alice", "ryw")
    assert alice.wallet().balance == 98 * CHOIR  # the fund and the deposit, read back on new connections
    for n in range(24):
        written = alice.submit_message("ryw", f"note {n}", "thread_only")
        seen = {m.content_hash for m in alice.thread("ryw").messages}
        assert written.content_hash in seen, f"write {n} (seq {written.seq}) not read back"
    alice.close()


def test_reads_never_go_back_while_another_client_writes(served: ServerProcess) -> None:
    """Monotonic reads: the journal position a client's reads answer from (`X-Choir-As-Of`) never decreases,
    whichever worker answers, while another client keeps writing to the thread."""
    writer = user(served, "mono-writer", "mono")
    reader = user(served, "mono-reader")
    done = threading.Event()

    def write() -> None:
        n = 0
        while not done.is_set():
            writer.submit_message("mono", f"public note {n}", "public")
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        positions = []
        for _ in range(60):
            response = reader.send("GET", "/v1/thread/mono")
            assert response.status_code == 200
            positions.append(int(response.headers["X-Choir-As-Of"]))
    finally:
        done.set()
        thread.join(10)
    assert positions == sorted(positions) and positions[-1] > positions[0], positions
    writer.close()
    reader.close()


def test_a_signed_request_is_accepted_once_whichever_worker_sees_it(served: ServerProcess) -> None:
    """The same signed bytes sent on 16 new connections (both workers see some with probability 1 - 2^-15):
    one is answered, every other is refused as a replay, a read as well as a write."""
    alice = user(served, "replay-alice", "replay")
    body = b'{"thread_id":"replay","content":"once only","privacy":"thread_only"}'
    for method, path, content in (("GET", "/v1/wallet", b""), ("POST", "/v1/message/submit", body)):
        headers = sign_headers(method, path, content, "replay-alice", dev_keypair("replay-alice"), int(time.time()))
        headers["content-type"] = "application/json"
        statuses = []
        for _ in range(16):
            with httpx.Client(base_url=served.url, timeout=10) as http:
                response = http.request(method, path, content=content or None, headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 401:
                assert "replayed" in response.json()["error"]["message"]
        assert sorted(statuses) == [200] + [401] * 15, (path, statuses)
    assert sum(m.content == "once only" for m in alice.thread("replay").messages) == 1
    alice.close()


def test_a_rate_limit_counts_each_request_once_across_workers(tmp_path: Path) -> None:
    """`wallet=3`: on new connections (either worker), a request admitted, three replays of it refused and not
    counted, two more admitted, then every other refused with 429: the writer counts each admitted request once,
    in the same call that remembers its nonce."""
    limited = ["--workers", "2", "--rate-limit", "wallet=3", "--chain", "none"]
    server = ServerProcess(tmp_path / "data", limited).start()
    try:
        bob = user(server, "limited-bob")

        def wallet(headers: dict[str, str]) -> int:
            with httpx.Client(base_url=server.url, timeout=10) as http:
                return http.get("/v1/wallet", headers=headers).status_code

        def signed() -> dict[str, str]:
            return sign_headers("GET", "/v1/wallet", b"", "limited-bob", dev_keypair("limited-bob"), int(time.time()))

        first = signed()
        assert [wallet(first) for _ in range(4)] == [200, 401, 401, 401]
        assert [wallet(signed()) for _ in range(6)] == [200, 200, 429, 429, 429, 429]
        bob.close()
    finally:
        server.stop()


def test_a_worker_crash_loses_no_committed_write_and_the_worker_comes_back(served: ServerProcess) -> None:
    alice = user(served, "crash-alice", "crash")
    written = alice.submit_message("crash", "committed before the crash", "thread_only")
    before = worker_pids(served)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while len(worker_pids(served) - {victim}) < 2:  # started again by the writer's process
        assert time.monotonic() < deadline, "the crashed worker was not started again"
        time.sleep(0.1)
    for _ in range(10):
        assert written.content_hash in {m.content_hash for m in alice.thread("crash").messages}
    after = alice.submit_message("crash", "written after the crash", "thread_only")
    assert after.seq > written.seq
    alice.close()


@pytest.mark.parametrize("second", [WORKERS, WORKERS[2:]], ids=["workers", "one process"])
def test_a_second_server_on_the_port_is_refused(served: ServerProcess, tmp_path: Path, second: list[str]) -> None:
    """SO_REUSEPORT would let any process of this user join the workers' port; a second `choir serve` on it (with
    workers or without) exits 2 before it starts, and the first keeps serving its own state."""
    command = [sys.executable, "-m", "choir.cli", "serve", "--port", str(served.port), "--data", str(tmp_path), *second]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert f"cannot listen on 127.0.0.1:{served.port}" in " ".join(refused.stderr.split())
    assert not (tmp_path / JOURNAL_FILE).exists()  # refused before the journal was opened
    assert answers(served)


def test_a_restart_rebuilds_exactly_the_state_the_workers_served(served: ServerProcess) -> None:
    """SIGKILL of the writer's process takes its workers down with it; the restarted server answers the same
    snapshot (the writer's replay of the journal) from its new workers."""
    admin = fresh(served, "treasury1")
    alice = user(served, "restart-alice", "restart")
    alice.submit_message("restart", "before the restart", "public")
    before = admin.snapshot()
    workers = worker_pids(served)
    served.crash_and_restart()
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived its writer"
        time.sleep(0.05)
    while len(worker_pids(served)) < 2 or not answers(served):
        assert time.monotonic() < deadline + 30, "the restarted server's workers did not serve"
        time.sleep(0.05)
    serving = int(time.time())
    while int(time.time()) <= serving:  # a request signed in the restart's second is refused (503 NotReady)
        time.sleep(0.05)
    for _ in range(4):
        after = admin.snapshot()
        assert after == before, snapshot_differences(before, after)
    admin.close()
    alice.close()


def test_the_load_test_against_two_workers_delivers_every_event_once_in_order() -> None:
    """Simulator agents over HTTP and WebSockets (each socket on either worker), the embedded chain: every event
    delivered once and in order, every acknowledged operation journaled, the state the model's replay, the chain
    equal to the model. (A SIGKILL of the whole server is `test_a_restart_rebuilds_exactly_...` above.)"""
    report = run_load(users=20, seconds=4, seed=3, timeout=90, server_args=("--chain", "litesvm", *WORKERS[:2]))
    summary = report.summary()
    assert report.connected == report.users == 20 and report.errors == 0, summary
    assert report.acknowledged > 20 and report.state_differences == [], report.state_differences[:10]
    assert report.events.expected > 0 and report.events.delivered == report.events.expected, summary
    assert report.events.missing == report.events.unexpected == report.events.reordered == 0, summary
    assert report.events.bridged == report.events.unexplained_resyncs == report.reconnections == 0, summary
    assert report.snapshot_differences == [], report.snapshot_differences[:5]
    assert report.chain_consistent and report.consistent, summary
