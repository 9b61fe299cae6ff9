"""`choir serve --chain rpc`: the backend in front of the Choir program deployed at a validator (a loopback JSON-RPC
validator over LiteSVM on 127.0.0.1, as in tests/programs/test_rpc.py), and `litesvm` as the default chain.

What is shown: operations over HTTP reach the deployed program (read back independently of the server) and
`/v1/consistency` agrees; a restart against the same validator and data directory does not replay the journal a
second time; a fresh deployment gets the journal replayed once; a deployment holding another state (or other
parameters) is refused at start with exit 2 and a one-line reason, with nothing sent to it; the program stamps the
cluster's clock, and a time before the model's is reported; a reset world is refused on a persistent chain. Then
the default chain: `choir serve` without `--chain` answers `/v1/consistency`, and a missing `.so` is a clear exit 2.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair

from choir_model import CHOIR, Fund, Params
from programs.client.keys import program_keypair
from programs.driver import ProgramDriver
from programs.loopback import LoopbackValidator
from programs.transport import RpcTransport
from reference_backend.auth import dev_keypair
from reference_backend.chain import (
    ChainMismatch,
    ChainStartError,
    attach,
    cluster_times,
    differences,
    program_image,
    rpc_chain,
    snapshot_names,
)
from reference_backend.client import ChoirApiError, ChoirClient
from reference_backend.clock import ManualClock
from reference_backend.config import BackendConfig
from reference_backend.errors import ApiError
from reference_backend.server import ServerProcess
from reference_backend.service import Backend, StepCommand
from tests.backend.conftest import T0

AUTHORITIES = (("treasury1", dev_keypair("treasury1")), ("treasury2", dev_keypair("treasury2")))
SIGNERS = ("treasury1", "treasury2")


@pytest.fixture(scope="module")
def image() -> bytes:
    """The program `choir serve` loads (`choir program build`, which `make test` runs first)."""
    return program_image()


@dataclass
class Node:
    validator: LoopbackValidator
    payer: Keypair
    keyfile: Path

    def args(self) -> list[str]:
        """The `choir serve` flags of this deployment."""
        return [
            "--chain", "rpc", "--rpc", self.validator.url, "--program-id", str(self.validator.program_id),
            "--keypair", str(self.keyfile), "--no-rate-limits",
        ]  # fmt: skip

    def transport(self) -> RpcTransport:
        return RpcTransport(self.validator.url, self.validator.program_id, self.payer, poll=0.05)

    def read(self, names: list[str]) -> dict[str, Any]:
        """The program's state as the validator holds it, read by a driver of its own (not the server's)."""
        driver = ProgramDriver(Params(), transport=self.transport(), names=names)
        try:
            return driver.snapshot(full=True)
        finally:
            driver.close()


@pytest.fixture
def make_node(image: bytes, tmp_path: Path) -> Iterator[Any]:
    """`make_node()`: a fresh deployment on a loopback validator; its fee payer is the upgrade authority."""
    nodes: list[LoopbackValidator] = []

    def make() -> Node:
        payer = Keypair()
        validator = LoopbackValidator(image, program_keypair(), funded={payer.pubkey(): 10**15}, authority=payer)
        nodes.append(validator)
        keyfile = tmp_path / f"payer{len(nodes)}.json"
        keyfile.write_text(payer.to_json())
        return Node(validator, payer, keyfile)

    yield make
    for validator in nodes:
        validator.close()


def clients(url: str, *names: str) -> dict[str, ChoirClient]:
    """Signed clients on the system clock (a validator's clock cannot be set, so neither is the server's)."""
    out = {name: ChoirClient(url, name, dev_keypair(name)) for name in names}
    for name, client in out.items():
        if not name.startswith("treasury"):
            client.register()
    return out


def consistency(url: str) -> dict[str, Any]:
    with ChoirClient(url, "treasury1", dev_keypair("treasury1")) as admin:
        return admin.call("GET", "/v1/consistency")


def server_snapshot(url: str) -> dict[str, Any]:
    with ChoirClient(url, "treasury1", dev_keypair("treasury1")) as admin:
        return admin.call("GET", "/v1/admin/snapshot")


def some_operations(url: str) -> int:
    """Fund, create, message, spec and its approval (bob joins), and one refused by both; the accepted count."""
    users = clients(url, "treasury1", "alice", "bob")
    try:
        users["treasury1"].fund("alice", 10 * CHOIR, AUTHORITIES)
        users["treasury1"].fund("bob", 10 * CHOIR, AUTHORITIES)
        users["alice"].create_thread("t1", 2 * CHOIR)
        users["alice"].submit_message("t1", "hello from the rpc chain")
        spec = users["bob"].submit_spec("t1", "bob would like to join", 3 * CHOIR)
        users["alice"].approve("t1", spec.content_hash)
        with pytest.raises(ChoirApiError) as refused:
            users["alice"].create_thread("t1", 2 * CHOIR)
        assert refused.value.code == "ThreadExists"
    finally:
        for client in users.values():
            client.close()
    return 6


def failed_start(data: Path, args: list[str]) -> str:
    """Start `choir serve` expecting it to refuse: its log, after checking exit code 2 and no traceback."""
    server = ServerProcess(data, args)
    with pytest.raises(RuntimeError, match="exited with 2"):
        server.start()
    text = server.log_path.read_text()
    assert "Traceback" not in text, text
    return " ".join(text.split())  # the console wraps long lines


def test_serve_rpc_chain_sends_every_operation_to_the_validator_and_restarts_without_replaying(
    make_node: Any, tmp_path: Path
) -> None:
    node = make_node()
    data = tmp_path / "data"
    with ServerProcess(data, node.args()) as server:
        accepted = some_operations(server.url)
        report = consistency(server.url)
        model = server_snapshot(server.url)
    assert report["consistent"] and report["differences"] == [] and report["times"] == "at-or-after", report
    assert (report["journal_seq"], report["chain_steps"], report["refused_by_both"]) == (accepted, accepted, 1)
    held = node.read(snapshot_names(model))  # the validator's own accounts, not the server's view of them
    assert differences(model, cluster_times(model, held)) == []
    assert held["wallets"]["bob"] == 7 * CHOIR and held["threads"]["t1"]["co_authors"] == ["alice", "bob"]

    with ServerProcess(data, node.args()) as server:  # same validator, same journal: adopted, nothing replayed
        report = consistency(server.url)
        assert report["consistent"] and (report["journal_seq"], report["chain_steps"]) == (accepted, 0), report
        assert node.read(snapshot_names(model)) == held  # a replay would have funded alice and bob twice
        users = clients(server.url, "alice")
        users["alice"].submit_message("t1", "after the restart")
        users["alice"].close()
        report = consistency(server.url)
    assert report["consistent"] and (report["journal_seq"], report["chain_steps"]) == (accepted + 1, 1), report
    messages = node.read(snapshot_names(model))["threads"]["t1"]["message_count"]
    assert messages == held["threads"]["t1"]["message_count"] + 1


def test_a_fresh_deployment_gets_the_journal_replayed_once(make_node: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ServerProcess(data, ["--chain", "none", "--no-rate-limits"]) as server:  # a journal made without a chain
        accepted = some_operations(server.url)
        model = server_snapshot(server.url)
    node = make_node()
    for expected_steps in (accepted, 0):  # replayed into the fresh deployment, then adopted as it is
        with ServerProcess(data, node.args()) as server:
            report = consistency(server.url)
        assert report["consistent"] and (report["journal_seq"], report["chain_steps"]) == (accepted, expected_steps)
    held = node.read(snapshot_names(model))
    assert held["wallets"] == model["wallets"] and differences(model, cluster_times(model, held)) == []


def test_a_deployment_holding_another_state_is_refused_at_start(make_node: Any, tmp_path: Path) -> None:
    node = make_node()
    driver = ProgramDriver(Params(), transport=node.transport())  # someone else's operation on the deployment
    assert driver.apply(Fund("mallory", driver.transport.cluster_now(), 5 * CHOIR, SIGNERS)) is None
    before = driver.snapshot(full=True)
    driver.close()

    log = failed_start(tmp_path / "empty", node.args())  # an empty journal: the validator holds what it does not
    assert "hold another state than the journal" in log and "/wallets/" in log
    assert node.read(["mallory"]) == before  # nothing was sent

    with ServerProcess(tmp_path / "other", ["--chain", "none", "--no-rate-limits"]) as server:
        some_operations(server.url)  # a journal of another world
    log = failed_start(tmp_path / "other", node.args())
    assert "hold another state than the journal" in log and "Nothing was sent to the program" in log
    assert node.read(["mallory"]) == before

    log = failed_start(tmp_path / "params", [*node.args(), "--params", '{"approval_window": 60}'])
    assert "config differs from the parameters" in log and "approval_window" in log


def test_a_journal_that_cannot_be_replayed_at_cluster_time_is_refused(make_node: Any, tmp_path: Path) -> None:
    """Replaying into a fresh deployment runs the journal at today's cluster time: an `Expire` journaled after
    its deadline is refused there (the window is open again), and the server says which row and exits 2."""
    data = tmp_path / "data"
    params = '{"approval_window": 2}'
    with ServerProcess(data, ["--chain", "none", "--no-rate-limits", "--params", params]) as server:
        users = clients(server.url, "treasury1", "alice", "bob")
        users["treasury1"].fund("alice", 10 * CHOIR, AUTHORITIES)
        users["treasury1"].fund("bob", 10 * CHOIR, AUTHORITIES)
        users["alice"].create_thread("t1", 2 * CHOIR)
        spec = users["bob"].submit_spec("t1", "expires", 3 * CHOIR)
        time.sleep(max(0.0, spec.now + 2 - time.time()) + 0.2)  # the server's clock is the system clock
        users["bob"].expire("t1", spec.content_hash)
        for client in users.values():
            client.close()
    log = failed_start(data, [*make_node().args(), "--params", params])
    assert "journal row 5 is refused by the program (StateConflict) after 4 rows" in log


def test_cluster_times_must_be_at_or_after_the_models() -> None:
    def state(created: int, updated: int, balance: int, deadline: int) -> dict[str, Any]:
        thread = {"created_at": created, "updated_at": updated, "balance": balance}
        return {"threads": {"t": thread}, "messages": {"t/h": {"deadline": deadline}}}

    model, later, earlier = state(10, 20, 5, 9), state(11, 20, 5, 12), state(9, 21, 6, 8)
    assert differences(model, cluster_times(model, later)) == []
    assert differences(model, cluster_times(model, earlier)) == [
        "/messages/t/h/deadline",
        "/threads/t/balance",
        "/threads/t/created_at",
    ]
    assert differences(model, later) != []  # compared exactly (the LiteSVM chain), later times differ


def test_a_persistent_chain_refuses_a_reset_world_and_a_manual_clock(make_node: Any, tmp_path: Path) -> None:
    node = make_node()
    clock = ManualClock(T0)  # in the past of the cluster: the program's times are later, as on any validator
    config = BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={})
    backend = Backend(config, clock=clock).start()
    try:
        chain = attach(backend, rpc_chain(backend, node.transport()))
        backend.execute(StepCommand(Fund("ann", T0, 10 * CHOIR, SIGNERS)))
        assert chain.check(backend).consistent and chain.accepted == 1
        backend.reset().result(10)
        with pytest.raises(ApiError) as refused:
            backend.execute(StepCommand(Fund("ann", T0 + 1, 10 * CHOIR, SIGNERS)))
        assert (refused.value.status, refused.value.code) == (409, "ChainPersistent")
        assert node.read(["ann"])["wallets"] == {"ann": 10 * CHOIR}
    finally:
        backend.close()
        chain.close()
    log = failed_start(tmp_path / "clock", [*node.args(), "--manual-clock", str(T0)])
    assert "--manual-clock cannot move a validator's clock" in log


def test_a_validator_that_stops_answering_fails_the_operation_alone(make_node: Any, tmp_path: Path) -> None:
    node = make_node()
    config = BackendConfig(data_dir=tmp_path / "data", manual_clock=T0, rate_limits={})
    backend = Backend(config, clock=ManualClock(T0)).start()
    try:
        chain = attach(backend, rpc_chain(backend, node.transport()))
        backend.execute(StepCommand(Fund("ann", T0, 10 * CHOIR, SIGNERS)))
        before = backend.snapshot()
        node.validator.close()
        with pytest.raises(ApiError) as failed:
            backend.execute(StepCommand(Fund("bob", T0 + 1, 10 * CHOIR, SIGNERS)))
        assert (failed.value.status, failed.value.code) == (502, "ChainUnavailable")
        assert backend.journal_seq == 1 and backend.snapshot() == before and backend.failed is None
    finally:
        backend.close()
        chain.close()


def test_unreachable_validator_and_inconsistent_flags_exit_2(tmp_path: Path) -> None:
    keyfile = tmp_path / "payer.json"
    keyfile.write_text(Keypair().to_json())
    program_id = str(program_keypair().pubkey())
    cases = {
        "cannot reach the program at http://127.0.0.1:9": ["--chain", "rpc", "--rpc", "http://127.0.0.1:9",
                                                           "--program-id", program_id, "--keypair", str(keyfile)],
        "--chain rpc needs --rpc, --program-id and --keypair": ["--chain", "rpc", "--rpc", "http://127.0.0.1:9"],
        "--rpc, --program-id and --keypair go with --chain rpc": ["--rpc", "http://127.0.0.1:9"],
        "is not a base58 public key": ["--chain", "rpc", "--rpc", "http://127.0.0.1:9", "--program-id", "nope",
                                       "--keypair", str(keyfile)],
        "implements the seeds policy only": ["--chain", "litesvm", "--policy", "collective-2024-11"],
    }  # fmt: skip
    for number, (message, args) in enumerate(cases.items()):
        log = failed_start(tmp_path / f"data{number}", args)
        assert message in " ".join(log.split()), log


def test_litesvm_is_the_default_chain(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data", ["--no-rate-limits"]) as server:
        accepted = some_operations(server.url)
        report = consistency(server.url)
        assert report["consistent"] and report["times"] == "exact"
        assert (report["journal_seq"], report["chain_steps"]) == (accepted, accepted)
    with ServerProcess(tmp_path / "data", ["--chain", "none", "--no-rate-limits"]) as server:
        with pytest.raises(ChoirApiError) as none:
            consistency(server.url)
        assert (none.value.status, none.value.code) == (404, "NoChain")
    with ServerProcess(tmp_path / "data", ["--no-rate-limits"]) as server:  # rebuilt from the journal on start
        report = consistency(server.url)
        assert report["consistent"] and report["chain_steps"] == accepted


def test_a_missing_program_is_a_clear_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "choir.so"
    with pytest.raises(ChainStartError, match="choir program build"):
        program_image(missing)
    command = [sys.executable, "-m", "choir.cli", "serve", "--data", str(tmp_path / "data"), "--program", str(missing)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    said = " ".join(done.stderr.split())
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"no {missing}" in said and "choir program build" in said and "--chain none" in said
    assert not (tmp_path / "data").exists()  # refused before the backend opened anything
    assert isinstance(ChainStartError("x"), RuntimeError) and issubclass(ChainMismatch, ChainStartError)
