"""The lockstep check against the program compares only what a step touched, and still catches a write to an
account no step touched: at the next whole-snapshot comparison (every `full_every` steps, and at the end of a run)."""

from __future__ import annotations

import struct

import pytest
from solders.account import Account

from choir_model import CHOIR, CreateThread, Fund, Params
from programs.driver import ProgramDriver
from properties.lockstep import Lockstep, PropertyFailure, run_steps
from properties.soak import soak

SIGNERS = ("treasury1", "treasury2")
T0 = 1_700_000_000


def _corrupt_wallet(driver: ProgramDriver, name: str, delta: int) -> None:
    """Change a member account's balance behind the driver's back (no transaction, no dirty mark)."""
    svm = driver.transport.svm  # type: ignore[attr-defined]
    member = driver.pdas.member(driver.pubkey(name))[0]
    account = svm.get_account(member)
    data = bytearray(account.data)
    (balance,) = struct.unpack_from("<Q", data, 8)
    struct.pack_into("<Q", data, 8, balance + delta)
    svm.set_account(member, Account(account.lamports, bytes(data), account.owner, account.executable))


def test_touched_entries_agree_on_a_soak(choir_so: bytes) -> None:
    result = soak(2000, seed=5, driver_factory=lambda: ProgramDriver(image=choir_so), run_length=500)
    assert result.failure is None, result.failure


def test_a_write_to_an_untouched_account_is_caught_by_the_full_comparison(choir_so: bytes) -> None:
    lockstep = Lockstep(Params(), driver=ProgramDriver(image=choir_so), full_every=20)
    lockstep.step(Fund("alice", T0, 100 * CHOIR, SIGNERS))
    lockstep.step(Fund("bob", T0, 100 * CHOIR, SIGNERS))
    _corrupt_wallet(lockstep.driver, "bob", 1)  # type: ignore[arg-type]
    with pytest.raises(PropertyFailure) as info:
        for i in range(40):  # steps that touch alice only: the touched comparison never reads bob
            lockstep.step(Fund("alice", T0 + i, CHOIR, SIGNERS))
    assert info.value.kind == "difference"
    assert "wallets.bob: model 100000000000 vs 100000000001" in str(info.value)
    assert len(info.value.steps) == 20  # found by the whole-snapshot comparison, not before


def test_the_end_of_a_run_compares_everything(choir_so: bytes) -> None:
    driver = ProgramDriver(image=choir_so)
    steps = [Fund("alice", T0, 100 * CHOIR, SIGNERS), Fund("bob", T0, 100 * CHOIR, SIGNERS)]
    lockstep = Lockstep(Params(), driver=driver)
    for step in steps:
        lockstep.step(step)
    _corrupt_wallet(driver, "alice", -1)
    lockstep.step(CreateThread("bob", T0 + 1, "t1", 2 * CHOIR))  # touches bob and t1, not alice
    with pytest.raises(PropertyFailure, match=r"wallets\.alice"):
        lockstep.verify()
    assert run_steps(steps, Params(), "seeds", lambda: ProgramDriver(image=choir_so)) is None  # a clean replay


def test_a_written_account_that_no_longer_decodes_is_compared_at_once(choir_so: bytes) -> None:
    """A transaction that leaves an account it wrote unreadable as a Choir account (closed, or its discriminator
    overwritten) still names that account's entry: the program then holds none, which the touched comparison sees
    at that step, not only at the next whole-snapshot comparison."""
    lockstep = Lockstep(Params(), driver=ProgramDriver(image=choir_so))
    lockstep.step(Fund("alice", T0, 100 * CHOIR, SIGNERS))
    lockstep.step(Fund("bob", T0, 100 * CHOIR, SIGNERS))
    driver: ProgramDriver = lockstep.driver  # type: ignore[assignment]
    member = driver.pdas.member(driver.pubkey("bob"))[0]
    account = driver.transport.svm.get_account(member)  # type: ignore[attr-defined]
    garbage = bytes(8) + bytes(account.data)[8:]
    driver.transport.svm.set_account(member, Account(account.lamports, garbage, account.owner, False))  # type: ignore[attr-defined]
    driver._dirty.add(member)  # as `send` marks every writable account of a successful transaction
    with pytest.raises(PropertyFailure) as info:
        lockstep.step(Fund("alice", T0 + 1, CHOIR, SIGNERS))  # the model names alice's wallet, not bob's
    assert "wallets.bob" in str(info.value)
    assert len(info.value.steps) == 3
