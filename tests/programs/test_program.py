"""The Choir program against the reference model (SPEC sections 3, 4, 7, 8): the program deployed through the
upgradeable loader replays the acceptance traces exactly like the model; seeded random campaigns run in lockstep
(outcome and full snapshot compared after every step); targeted scenarios reach the guards random runs rarely
reach (ThreadFull, the largest settlement, thread id limits, the short approval window RPC tests use)."""

from __future__ import annotations

from pathlib import Path

import pytest
from solders.account import Account
from solders.keypair import Keypair

from choir_model import (
    CHOIR,
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
from choir_model.trace import read_trace
from programs.client.coder import IdlCoder
from programs.client.errors import error_name
from programs.client.keys import Pdas, program_keypair
from programs.driver import ProgramDriver
from programs.loader import SYSTEM_PROGRAM, programdata_address
from programs.transport import LiteSVMTransport
from properties.driver import ModelDriver
from properties.lockstep import Lockstep
from properties.soak import soak

ACCEPTANCE = Path(__file__).resolve().parent.parent / "model" / "acceptance"  # the SPEC traces, kept in the repo
T0 = 1_700_000_000
SIGNERS = ("treasury1", "treasury2")


def h(n: int) -> str:
    return f"{n:064x}"


def lockstep(steps: list[Step], params: Params, image: bytes) -> list[str | None]:
    """Run steps on the model and the program together; any difference raises. Returns the outcomes."""
    runner = Lockstep(params, "seeds", ProgramDriver(params, image=image))
    try:
        return [runner.step(step) for step in steps]
    finally:
        runner.close()


@pytest.mark.parametrize("trace", sorted(ACCEPTANCE.glob("*.jsonl")), ids=lambda p: p.name)
def test_acceptance_traces_through_the_upgradeable_loader(choir_so: bytes, trace: Path) -> None:
    steps = read_trace(trace)
    model = ModelDriver()
    program = ProgramDriver(image=choir_so, upgradeable=True, sigverify=True)
    assert [program.apply(s) for s in steps] == [model.apply(s) for s in steps]
    assert program.snapshot(full=True) == model.snapshot()
    assert program.snapshot() == model.snapshot()


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_random_campaign_in_lockstep(choir_so: bytes, seed: int) -> None:
    # Four runs: two on the default parameters and two on variants (`properties.variation`), one of which may
    # refuse nearly everything (minimums of the whole supply), so the count of successes is over the four.
    result = soak(2000, seed, driver_factory=lambda: ProgramDriver(image=choir_so), run_length=500)
    assert result.failure is None, f"{result.failure}\nshrunk: {[s.to_json() for s in result.shrunk or []]}"
    assert sum(result.coverage.ok.values()) > 300


@pytest.mark.parametrize(
    "params",
    [
        Params(max_coauthors=3, max_pending=2, approval_window=100, divest_cooldown=50),
        Params(approval_window=0, divest_cooldown=0, thread_id_max=2, min_stake=5, min_thread_balance=7),
        Params(treasury_authorities=("treasury1",), treasury_threshold=1, total_supply=2**64 - 1),
    ],
    ids=["small-limits", "zero-windows", "u64-supply"],
)
def test_random_campaign_with_other_parameters(choir_so: bytes, params: Params) -> None:
    """The program reads every parameter from its config: campaigns under other parameters agree too."""
    result = soak(1000, 5, params=params, driver_factory=lambda: ProgramDriver(params, image=choir_so), run_length=500)
    assert result.failure is None, f"{result.failure}\nshrunk: {[s.to_json() for s in result.shrunk or []]}"


def funded(*names: str, amount: int = 100 * CHOIR) -> list[Step]:
    return [Fund(n, T0, amount, SIGNERS) for n in names]


def test_thread_full_on_seats_and_on_pending(choir_so: bytes) -> None:
    params = Params(max_coauthors=3, max_pending=3)
    users = ["u0", "u1", "u2", "u3", "u4"]
    steps = [
        *funded(*users),
        CreateThread("u0", T0 + 1, "t", 5 * CHOIR),
        SubmitSpec("u1", T0 + 2, "t", h(1), CHOIR),  # seats 2, pending 1
        SubmitSpec("u1", T0 + 2, "t", h(2), CHOIR),  # StateConflict: u1 already has a pending spec
        SubmitSpec("u2", T0 + 3, "t", h(3), CHOIR),  # seats 3, pending 2
        SubmitSpec("u3", T0 + 4, "t", h(4), CHOIR),  # ThreadFull: every seat reserved
        SubmitMessage("u0", T0 + 5, "t", h(5)),
        RequestPublic("u0", T0 + 6, "t", h(5)),  # no other co-author: Public at once
        ProcessApproval("u0", T0 + 7, "t", h(1), True),  # u1 joins; pending 1 (h3)
        SubmitMessage("u1", T0 + 8, "t", h(6)),
        RequestPublic("u1", T0 + 9, "t", h(6)),  # pending 2
        SubmitMessage("u0", T0 + 10, "t", h(7)),
        RequestPublic("u0", T0 + 11, "t", h(7)),  # pending 3
        SubmitMessage("u0", T0 + 12, "t", h(8)),
        RequestPublic("u0", T0 + 13, "t", h(8)),  # ThreadFull: pending 3 of 3
        Expire("keeper", T0 + 14, "t", h(3)),  # StateConflict: deadline not reached
    ]
    outcomes = lockstep(steps, params, choir_so)
    expected = [None, None, "StateConflict", None, "ThreadFull", None, None, None, None, None, None, None, None]
    assert outcomes[5:] == [*expected, "ThreadFull", "StateConflict"]


def test_largest_settlement_pays_every_approver(choir_so: bytes) -> None:
    """Ten co-authors (MAX_COAUTHORS) all approve an eleventh's spec; the stake splits ten ways with dust."""
    params = Params(max_coauthors=11)
    users = [f"user{i}" for i in range(11)]
    steps: list[Step] = [*funded(*users), CreateThread("user0", T0 + 1, "big", 5 * CHOIR)]
    now = T0 + 2
    for i in range(1, 10):  # user1..user9 join one at a time
        steps.append(SubmitSpec(users[i], now, "big", h(i), CHOIR))
        steps += [ProcessApproval(users[j], now + 1, "big", h(i), True) for j in range(i)]
        now += 2
    steps.append(SubmitSpec("user10", now, "big", h(99), 10 * CHOIR + 7))
    steps += [ProcessApproval(users[j], now + 1 + j, "big", h(99), True) for j in range(10)]
    outcomes = lockstep(steps, params, choir_so)
    assert all(o is None for o in outcomes)


def test_mixed_denied_and_expired_settlements(choir_so: bytes) -> None:
    params = Params(approval_window=30)  # the short window RPC tests use
    steps = [
        *funded("a", "b", "c", "d", "e"),
        CreateThread("a", T0 + 1, "t", 2 * CHOIR),
        SubmitSpec("b", T0 + 2, "t", h(1), CHOIR),
        ProcessApproval("a", T0 + 3, "t", h(1), True),  # a, b
        SubmitSpec("c", T0 + 4, "t", h(2), 5 * CHOIR),
        ProcessApproval("a", T0 + 5, "t", h(2), True),
        ProcessApproval("b", T0 + 6, "t", h(2), False),  # mixed: stake to the treasury
        SubmitSpec("d", T0 + 7, "t", h(3), 4 * CHOIR),
        ProcessApproval("a", T0 + 8, "t", h(3), False),
        ProcessApproval("b", T0 + 9, "t", h(3), False),  # denied: stake to the thread
        SubmitSpec("e", T0 + 10, "t", h(4), 2 * CHOIR),
        ProcessApproval("a", T0 + 40, "t", h(4), True),  # ApprovalTimeout at the deadline
        Expire("keeper", T0 + 39, "t", h(4)),  # StateConflict: before the deadline
        Expire("keeper", T0 + 40, "t", h(4)),
        Expire("keeper", T0 + 41, "t", h(4)),  # StateConflict: no longer Pending
        ProcessApproval("c", T0 + 41, "t", h(4), True),  # StateConflict
        Divest("a", T0 + 42, "t", CHOIR),
    ]
    outcomes = lockstep(steps, params, choir_so)
    assert outcomes[-7:] == [None, "ApprovalTimeout", "StateConflict", None, "StateConflict", "StateConflict", None]


def test_thread_id_limits(choir_so: bytes) -> None:
    params = Params(thread_id_max=16)
    steps = [
        *funded("a"),
        CreateThread("a", T0, "", CHOIR),
        CreateThread("a", T0, "x" * 17, CHOIR),
        CreateThread("a", T0, "x" * 40, CHOIR),  # too long to be a seed: the program still answers
        CreateThread("a", T0, "é" * 8, CHOIR),  # 16 bytes of UTF-8
        CreateThread("a", T0, "é" * 8, CHOIR),
        SubmitMessage("a", T0, "x" * 40, h(1)),
        Divest("a", T0, "nope", 1),
    ]
    assert lockstep(steps, params, choir_so)[1:] == [
        "InvalidThreadId",
        "InvalidThreadId",
        "InvalidThreadId",
        None,
        "ThreadExists",
        "UnknownThread",
        "UnknownThread",
    ]


def test_invalid_time_never_reaches_the_program(choir_so: bytes) -> None:
    driver = ProgramDriver(image=choir_so)
    assert driver.apply(Fund("a", T0, CHOIR, SIGNERS)) is None
    assert driver.apply(Fund("a", T0 - 1, CHOIR, SIGNERS)) == "InvalidTime"
    assert driver.apply(Fund("a", T0, CHOIR, ("treasury1",))) == "Unauthorized"
    assert driver.snapshot()["wallets"] == {"a": CHOIR}


@pytest.mark.parametrize("first", [-(2**63), -(2**63) + 1, 0])
def test_divest_cooldown_at_the_first_instants_of_time(choir_so: bytes, first: int) -> None:
    """Time starts at i64::MIN (SPEC section 1: signed 64-bit seconds): a divest at that very instant is a divest
    like any other, so the next one inside the cooldown is CooldownActive, and the one at the cooldown's end is
    allowed."""
    params = Params(divest_cooldown=100)
    steps = [
        Fund("alice", first, 10 * CHOIR, SIGNERS),
        CreateThread("alice", first, "t1", 5 * CHOIR),
        Divest("alice", first, "t1", 1),
        Divest("alice", first + 99, "t1", 1),
        Divest("alice", first + 100, "t1", 1),
    ]
    assert lockstep(steps, params, choir_so)[2:] == [None, "CooldownActive", None]


def test_driver_refuses_other_policies(choir_so: bytes) -> None:
    with pytest.raises(ValueError, match="seeds"):
        ProgramDriver(policy="scales-2024-10", image=choir_so)


def test_only_the_upgrade_authority_initializes(choir_so: bytes) -> None:
    """On an upgradeable deployment nobody can front-run `initialize` with their own treasury authorities."""
    transport = LiteSVMTransport(choir_so, program_keypair(), upgradeable=True, sigverify=True)
    stranger = Keypair()
    transport.svm.set_account(stranger.pubkey(), Account(10**12, b"", SYSTEM_PROGRAM))
    coder = IdlCoder.from_file()
    pdas = Pdas(coder.program_id)
    params = {
        "total_supply": 10**19,
        "min_stake": 1,
        "min_thread_balance": 1,
        "approval_window": 1,
        "divest_cooldown": 1,
        "max_pending": 1,
        "max_coauthors": 1,
        "thread_id_max": 32,
        "decimals": 9,
    }
    args = {
        "params": params,
        "authorities": [stranger.pubkey()],
        "threshold": 1,
        "config_bump": pdas.config()[1],
        "treasury_bump": pdas.treasury()[1],
    }
    accounts = {
        "payer": stranger.pubkey(),
        "program": coder.program_id,
        "program_data": programdata_address(coder.program_id),
    }
    outcome = transport.send([coder.build_instruction("initialize", args, accounts)], [stranger])
    assert error_name(coder, outcome.err) == "RequireKeysEqViolated"
    driver = ProgramDriver(transport=transport)  # the transport's payer deployed the program: it may initialize
    assert driver.snapshot()["treasury"] == Params().total_supply


def test_pre_funded_addresses_are_still_created(choir_so: bytes) -> None:
    """Lamports sent to a PDA before its creation (griefing) do not block it: transfer + allocate + assign."""
    driver = ProgramDriver(image=choir_so)
    for thread_id, lamports in (("gift", 1), ("big-gift", 10**10)):
        driver.transport.svm.set_account(driver.pdas.thread(thread_id)[0], Account(lamports, b"", SYSTEM_PROGRAM))
    assert driver.apply(Fund("a", T0, 10 * CHOIR, SIGNERS)) is None
    assert driver.apply(CreateThread("a", T0, "gift", CHOIR)) is None
    assert driver.apply(CreateThread("a", T0, "big-gift", CHOIR)) is None
    assert sorted(driver.snapshot(full=True)["threads"]) == ["big-gift", "gift"]
