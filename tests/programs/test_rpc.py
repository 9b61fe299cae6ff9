"""The JSON-RPC transport: ProgramDriver over `RpcTransport` against a loopback JSON-RPC server
over LiteSVM that the test starts itself (127.0.0.1 only). Time is the cluster's: the trace is written in cluster
time with small gaps and the config carries a 2-second approval window, so an expiry is reached in seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from choir_model import (
    CHOIR,
    CreateThread,
    Divest,
    Expire,
    Fund,
    Params,
    ProcessApproval,
    SubmitMessage,
    SubmitSpec,
)
from choir_model.trace import write_trace
from programs.client.keys import program_keypair
from programs.driver import DriverError, ProgramDriver
from programs.loopback import LoopbackValidator
from programs.transport import RpcTransport
from properties.driver import ModelDriver

PARAMS = Params(approval_window=2)
SIGNERS = ("treasury1", "treasury2")
TIME_FIELDS = ("created_at", "updated_at", "deadline")


@pytest.fixture
def validator(choir_so: bytes) -> Iterator[tuple[LoopbackValidator, Keypair]]:
    payer = Keypair()
    node = LoopbackValidator(choir_so, program_keypair(), funded={payer.pubkey(): 10**15}, authority=payer)
    yield node, payer
    node.close()


def test_the_loopback_validator_starts_the_drivers_lean_runtime(validator: tuple[LoopbackValidator, Keypair]) -> None:
    """`programs.transport.runtime`, which `tests/programs/test_runtime.py` holds equal to `LiteSVM()` for Choir,
    without the SPL programs a full `LiteSVM()` loads (the Token program's account is the witness)."""
    node, _ = validator
    assert node.svm.get_account(Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")) is None


def timeless(snapshot: dict) -> dict:
    """The snapshot without the times the cluster chose (the program's `now` is the cluster's, at or after the
    step's)."""
    for group in ("threads", "messages"):
        for entry in snapshot[group].values():
            for field in TIME_FIELDS:
                entry.pop(field, None)
    return snapshot


def test_driver_over_json_rpc_agrees_with_the_model(validator: tuple[LoopbackValidator, Keypair]) -> None:
    node, payer = validator
    transport = RpcTransport(node.url, node.program_id, payer, poll=0.05)
    driver = ProgramDriver(PARAMS, transport=transport)
    model = ModelDriver(PARAMS)
    t = transport.cluster_now()
    h1, h2, h3 = ("aa" * 32, "bb" * 32, "cc" * 32)
    steps = [
        Fund("alice", t, 10 * CHOIR, SIGNERS),
        Fund("bob", t, 10 * CHOIR, SIGNERS),
        Fund("carol", t, 10 * CHOIR, ("treasury1",)),  # Unauthorized: caught by preflight, nothing changes
        Fund("carol", t, 10 * CHOIR, SIGNERS),
        CreateThread("alice", t, "rpc", 2 * CHOIR),
        SubmitSpec("bob", t, "rpc", h1, 3 * CHOIR),
        ProcessApproval("alice", t, "rpc", h1, True),  # unanimous: bob joins, alice paid
        SubmitMessage("alice", t, "rpc", h2),
        SubmitSpec("carol", t, "rpc", h3, 2 * CHOIR),
        ProcessApproval("alice", t, "rpc", h3, True),
        Expire("keeper", t, "rpc", h3),  # StateConflict: the window is still open
        Expire("keeper", t + 5, "rpc", h3),  # waits for the cluster clock; then the stake goes to the treasury
    ]
    outcomes = [(model.apply(s), driver.apply(s)) for s in steps]
    assert [m for m, _ in outcomes] == [p for _, p in outcomes]
    assert outcomes[2][0] == "Unauthorized" and outcomes[-2][0] == "StateConflict" and outcomes[-1][0] is None
    assert timeless(driver.snapshot(full=True)) == timeless(model.snapshot())
    assert driver.snapshot(full=True)["messages"][f"rpc/{h3}"]["state"] == "Expired"

    # A second driver on the same deployment adopts its config (same parameters) and sees its state.
    again = ProgramDriver(
        PARAMS, transport=RpcTransport(node.url, node.program_id, payer), names=("alice", "bob", "carol")
    )
    assert timeless(again.snapshot()) == timeless(model.snapshot())
    with pytest.raises(DriverError, match="approval_window"):
        ProgramDriver(Params(), transport=RpcTransport(node.url, node.program_id, payer))
    driver.close()
    again.close()


def _choir(*args: str) -> subprocess.CompletedProcess[str]:
    choir = str(Path(sys.executable).parent / "choir")
    return subprocess.run([choir, *args], capture_output=True, text=True, timeout=300)


def test_the_readme_replay_over_json_rpc_runs_each_step_once(
    validator: tuple[LoopbackValidator, Keypair], tmp_path: Path
) -> None:
    """`choir check replay FILE --target program --rpc URL --program-id ID --keypair F` prints the model's JSON,
    compares in the same single pass (the deployment keeps what it was sent), and on a deployment that already
    holds the trace's effects reports the difference (exit 1), never a traceback."""
    node, payer = validator
    keypair = tmp_path / "payer.json"
    keypair.write_text(payer.to_json())
    t = RpcTransport(node.url, node.program_id, payer).cluster_now()
    steps = [
        Fund("alice", t, 10 * CHOIR, SIGNERS),
        Fund("bob", t, 10 * CHOIR, SIGNERS),
        CreateThread("alice", t + 1, "rpc", 2 * CHOIR),
        SubmitSpec("bob", t + 1, "rpc", "aa" * 32, 3 * CHOIR),
        ProcessApproval("alice", t + 2, "rpc", "aa" * 32, True),
        Divest("alice", t + 2, "rpc", CHOIR),  # her first divest: no cooldown yet
    ]
    trace = tmp_path / "trace.jsonl"
    write_trace(steps, trace)
    rpc = ("--target", "program", "--rpc", node.url, "--program-id", str(node.program_id), "--keypair", str(keypair))
    first = _choir("check", "replay", str(trace), *rpc)
    assert first.returncode == 0, first.stderr
    assert "every invariant held" in first.stderr
    model = _choir("model", "run", str(trace), "--json")
    assert first.stdout.splitlines()[:-1] == model.stdout.splitlines()[:-1]  # each step's outcome
    held = ProgramDriver(Params(), transport=RpcTransport(node.url, node.program_id, payer), names=("alice", "bob"))
    expected = json.loads(model.stdout.splitlines()[-1])
    assert held.snapshot(full=True)["wallets"] == expected["wallets"]  # funded once, not twice
    held.close()

    again = _choir("check", "replay", str(trace), *rpc)
    assert again.returncode == 1, again.stderr
    assert "difference at step 0" in again.stderr and "Traceback" not in again.stderr
    refused = _choir("check", "replay", str(trace), *rpc, "--shrink", str(tmp_path / "shrunk.jsonl"))
    assert refused.returncode == 2 and "--shrink" in refused.stderr


def test_a_campaign_over_json_rpc_is_refused_with_the_way_to_replay(tmp_path: Path) -> None:
    """A campaign starts a fresh program for each run and sets each step's time; a deployed program has one state
    and the cluster's clock. So `choir check --rpc` is exit 2, before anything runs, and says what works."""
    keypair = tmp_path / "payer.json"
    keypair.write_text(Keypair().to_json())
    done = _choir("check", "--target", "program", "--rpc", "http://127.0.0.1:9", "--program-id",
                  str(Keypair().pubkey()), "--keypair", str(keypair), "--soak", "10")  # fmt: skip
    said = " ".join(done.stderr.split())
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "cannot run over --rpc" in said and "choir check replay TRACE --target program --rpc" in said


def test_each_outcome_says_when_its_transaction_ran(validator: tuple[LoopbackValidator, Keypair]) -> None:
    """Over JSON-RPC the program stamps the cluster's clock: a landed transaction's outcome carries its slot's
    block time, which is the time the program stamped (each loopback transaction lands in a slot of its own);
    a refused one carries the cluster's clock when it was sent; a step refused before sending carries none."""
    node, payer = validator
    transport = RpcTransport(node.url, node.program_id, payer, poll=0.05)
    driver = ProgramDriver(PARAMS, transport=transport)
    t = transport.cluster_now()
    assert driver.apply(Fund("alice", t - 100, 10 * CHOIR, SIGNERS)) is None
    funded = driver.ran_at()
    assert funded is not None and funded >= t
    assert driver.apply(CreateThread("alice", t, "rpc", 2 * CHOIR)) is None
    created = driver.ran_at()
    assert created is not None and created >= funded
    assert driver.snapshot(full=True)["threads"]["rpc"]["created_at"] == created
    assert driver.last_outcome is not None and driver.last_outcome.time == created
    assert driver.apply(CreateThread("alice", t, "rpc", 2 * CHOIR)) == "ThreadExists"
    refused = driver.ran_at()
    assert refused is not None and refused >= created
    assert driver.apply(CreateThread("alice", t - 200, "other", 2 * CHOIR)) == "InvalidTime"
    assert driver.ran_at() is None
    with pytest.raises(RuntimeError, match="no block time"):
        transport.block_time(10**12)
    driver.close()


def test_a_replay_over_json_rpc_applies_the_model_when_each_transaction_ran(choir_so: bytes) -> None:
    """A trace whose times lag the cluster's by 1,000 s: the program stamps the cluster's times, and the window
    of a spec it holds runs from the cluster's time, so an expiry the trace's own times would allow is refused.
    The model, applying each step when its transaction ran, stamps the same times and refuses it too: the replay
    compares them exactly and agrees; its failure trace would carry the cluster's times."""
    from properties.replay import replay

    payer = Keypair()
    params = Params(approval_window=60)
    node = LoopbackValidator(choir_so, program_keypair(), funded={payer.pubkey(): 10**15}, authority=payer,
                             clock_offset=1000)  # fmt: skip
    try:
        transport = RpcTransport(node.url, node.program_id, payer, poll=0.05)
        t = transport.cluster_now() - 1000
        steps = [
            Fund("alice", t, 10 * CHOIR, SIGNERS),
            Fund("bob", t, 10 * CHOIR, SIGNERS),
            CreateThread("alice", t, "rpc", 2 * CHOIR),
            SubmitSpec("bob", t, "rpc", "aa" * 32, CHOIR),
            Expire("keeper", t + 60, "rpc", "aa" * 32),  # at the deadline in trace time; not in cluster time
        ]
        done = replay(steps, "program", params, "seeds", compare=True, transport=transport)
        assert done.failure is None, done.failure
        assert [r.get("error") for r in done.results] == [None, None, None, None, "StateConflict"]
        thread = done.final["threads"]["rpc"]
        assert thread["created_at"] >= t + 1000 and done.final["messages"][f"rpc/{'aa' * 32}"]["state"] == "Pending"
    finally:
        node.close()
