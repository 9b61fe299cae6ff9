"""`programs.decode.Layouts` reads every account as the IDL coder does (one `struct` unpacking instead of a codec
per field, keys kept as bytes), and refuses the bytes the coder refuses."""

from __future__ import annotations

from typing import Any

import pytest
from solders.pubkey import Pubkey

from programs.client.coder import CoderError
from programs.decode import Layouts
from programs.driver import ProgramDriver
from properties.soak import soak


def _as_coder(value: Any, like: Any) -> Any:
    """A field as `Layouts.read` gives it, in the shape the coder gives it (`like`)."""
    if isinstance(like, Pubkey):
        return Pubkey.from_bytes(value)
    if isinstance(like, list) and like and isinstance(like[0], Pubkey):
        return [Pubkey.from_bytes(value[i : i + 32]) for i in range(0, len(value), 32)]
    if isinstance(value, tuple):
        return list(value)
    return value


def _a_pending_spec(choir_so: bytes) -> tuple[ProgramDriver, Pubkey, Pubkey]:
    """A program holding thread `t1` of alice with bob's spec pending: the driver, the thread's and the message's
    addresses."""
    from choir_model import CHOIR, CreateThread, Fund, SubmitSpec

    driver = ProgramDriver(image=choir_so)
    t0 = 1_700_000_000
    for step in (
        Fund("alice", t0, 10 * CHOIR, ("treasury1", "treasury2")),
        Fund("bob", t0, 10 * CHOIR, ("treasury1", "treasury2")),
        CreateThread("alice", t0, "t1", 2 * CHOIR),
        SubmitSpec("bob", t0, "t1", "ab" * 32, CHOIR),
    ):
        assert driver.apply(step) is None
    thread = driver.pdas.thread("t1")[0]
    return driver, thread, driver.pdas.message(thread, bytes.fromhex("ab" * 32))[0]


def test_every_account_of_a_soak_reads_as_the_coder_decodes_it(choir_so: bytes) -> None:
    drivers: list[ProgramDriver] = []

    def factory() -> ProgramDriver:
        driver = ProgramDriver(image=choir_so)
        driver.close = lambda: None  # type: ignore[method-assign]  # kept open: its accounts are read below
        drivers.append(driver)
        return driver

    assert soak(1500, seed=3, driver_factory=factory, run_length=1500).failure is None
    driver = drivers[-1]
    layouts = Layouts(driver.coder)
    kinds = set()
    for _, data in driver.transport.program_accounts():
        if driver.coder.account_name(data) is None:  # an attack's planted account: no Choir account
            assert layouts.read(data) is None
            continue
        kind, value = driver.coder.decode_account(data)
        read = layouts.read(data)
        assert read is not None and read[0] == kind
        assert {field: _as_coder(v, value[field]) for field, v in read[1].items()} == value
        kinds.add(kind)
    assert kinds == {"Config", "Treasury", "Member", "Thread", "Message"}


@pytest.mark.parametrize("field", ["bool", "enum", "enum array", "short"])
def test_bytes_the_coder_refuses_are_refused(choir_so: bytes, field: str) -> None:
    driver, _, message = _a_pending_spec(choir_so)
    data = bytearray(driver.transport.account_data(message) or b"")
    # Message: stake, created_at, deadline (8 bytes each), thread, content_hash, author (32 each), then state,
    # privacy, is_spec, ...; voters (32 x 32 bytes) and the 32 vote slots last.
    at = 8 + 24 + 96
    if field == "bool":
        data[at + 2] = 2
    elif field == "enum":
        data[at] = 7
    elif field == "enum array":
        data[-1] = 3
    else:
        del data[-1]
    with pytest.raises(CoderError):
        driver.coder.decode_account(bytes(data))
    with pytest.raises(CoderError):
        Layouts(driver.coder).read(bytes(data))


def test_the_layout_check_sees_a_key_or_a_vote_past_a_count(choir_so: bytes) -> None:
    """`layout_differences` reads the slots past a count from the account's bytes: a key left in a thread's
    co-author slots and a vote in a message's slots past its voters are reported (keys in base58)."""
    from solders.account import Account

    driver, thread, message = _a_pending_spec(choir_so)
    assert driver.layout_differences() == {}
    svm = driver.transport.svm  # type: ignore[attr-defined]
    # Thread: 4 numbers (32 bytes), 4 counts (8), thread_id (32), last_divest (32 x 8), then the co-author slots.
    stray = driver.pubkey("mallory")
    for key, at, put in ((thread, 8 + 40 + 32 + 256 + 32, bytes(stray)), (message, None, b"\x01")):
        account = svm.get_account(key)
        data = bytearray(account.data)
        if at is None:
            at = len(data) - 1  # the last vote slot
        data[at : at + len(put)] = put
        svm.set_account(key, Account(account.lamports, bytes(data), account.owner, False))
        driver._dirty.add(key)
    found = driver.layout_differences()
    assert found == {f"Thread {thread}.co_authors": ([stray] + [Pubkey.default()] * 30, "empty"),
                     f"Message {message}.votes": (["None"] * 30 + ["Approve"], "empty")}  # fmt: skip
    assert driver.layout_differences() == found  # asked again: bytes found wrong are looked at again


def test_the_layout_check_reports_an_account_away_from_its_seeds(choir_so: bytes) -> None:
    """An account the program owns at an address other than the one its stored seeds give (a stray copy, or one
    account's bytes put where another's belong) is reported, naming the address, the seeds and the address they
    give, whichever kind it is; stray copies of the config, the treasury or a wallet leave the snapshot as it was,
    so only this check sees them."""
    from solders.account import Account

    driver, thread, message = _a_pending_spec(choir_so)
    svm = driver.transport.svm  # type: ignore[attr-defined]
    pdas, program = driver.pdas, driver.coder.program_id
    alice, bob = driver.pubkey("alice"), driver.pubkey("bob")

    def put(key: Pubkey, data: bytes) -> None:
        svm.set_account(key, Account(10**9, data, program, False))
        driver._dirty.add(key)

    before = driver.snapshot(full=True)
    originals = {
        "Config": (pdas.config()[0], "config"),
        "Treasury": (pdas.treasury()[0], "treasury"),
        "Member": (pdas.member(alice)[0], f"member, {alice}"),
        "Thread": (thread, "thread, 't1'"),
        "Message": (message, f"message, {thread}, {'ab' * 32}"),
    }
    wanted = {}
    for n, (kind, (key, seeds)) in enumerate(originals.items(), 1):
        stray = Pubkey.from_bytes(bytes([n]) * 32)
        put(stray, bytes(svm.get_account(key).data))
        wanted[f"{kind} {stray}.address (seeds {seeds})"] = (stray, key)
        if kind == "Member":  # copies of the config, treasury and a wallet: the snapshot cannot tell
            assert driver.snapshot(full=True) == before
    put(pdas.member(alice)[0], bytes(svm.get_account(pdas.member(bob)[0]).data))  # bob's member where alice's is
    wanted[f"Member {pdas.member(alice)[0]}.address (seeds member, {bob})"] = (pdas.member(alice)[0],
                                                                              pdas.member(bob)[0])  # fmt: skip
    assert driver.layout_differences() == wanted
