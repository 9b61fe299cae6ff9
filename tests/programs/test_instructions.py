"""The instruction builders and the driver's seam for hostile transactions (SPEC section 9).

* Every builder names exactly the accounts the IDL derives (its PDAs from their seeds, its fixed addresses) with
  the IDL's flags, so a builder cannot silently pass a wrong account that the program might accept.
* `build` sends nothing; `send` takes any transaction; a refused one changes no byte (`raw_accounts`) and the
  cache stays in step with the chain; the unchanged transaction then succeeds.
"""

from __future__ import annotations

import pytest
from solders.instruction import AccountMeta, Instruction

from choir_model import CHOIR, CreateThread, Fund, Params, ProcessApproval, SubmitSpec
from choir_model.state import Privacy
from programs import instructions as ix
from programs.client.coder import IdlCoder
from programs.client.keys import keypair_for
from programs.driver import ProgramDriver

CODER = IdlCoder.from_file()
PROGRAM = ix.ChoirProgram(CODER)
PAYER, ALICE, BOB = (keypair_for(n).pubkey() for n in ("payer", "alice", "bob"))
HASH = bytes.fromhex("ab" * 32)
T0 = 1_700_000_000
SIGNERS = ("treasury1", "treasury2")

BUILT = {
    "initialize": ix.initialize(PROGRAM, PAYER, Params(), [ALICE, BOB]),
    "open_member": ix.open_member(PROGRAM, PAYER, ALICE),
    "fund_member": ix.fund_member(PROGRAM, ALICE, [BOB], 5),
    "create_thread": ix.create_thread(PROGRAM, PAYER, ALICE, "t1", 7),
    "submit_message": ix.submit_message(PROGRAM, PAYER, ALICE, "t1", HASH, Privacy.PREMIUM),
    "submit_spec": ix.submit_spec(PROGRAM, PAYER, BOB, "t1", HASH, 9, Privacy.THREAD_ONLY),
    "request_public": ix.request_public(PROGRAM, ALICE, "t1", HASH),
    "process_approval": ix.process_approval(PROGRAM, ALICE, "t1", HASH, True),
    "expire_approval": ix.expire_approval(PROGRAM, "t1", HASH),
    "divest_tokens": ix.divest_tokens(PROGRAM, ALICE, "t1", 3),
}


def test_there_is_one_builder_per_instruction() -> None:
    assert set(BUILT) == set(CODER.instructions)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_builders_pass_the_accounts_the_idl_derives(name: str) -> None:
    built = BUILT[name]
    _, args = CODER.decode_instruction(bytes(built.data))
    items = CODER.instructions[name].accounts
    free = {item.name: meta.pubkey for item, meta in zip(items, built.accounts, strict=False) if not item.seeds}
    free = {k: v for k, v in free.items() if next(i for i in items if i.name == k).address is None}
    assert list(built.accounts[: len(items)]) == CODER.resolve_accounts(name, free, args)


def test_fund_member_passes_each_authority_once_as_a_signer() -> None:
    built = ix.fund_member(PROGRAM, ALICE, [BOB, ALICE, BOB], 5)
    assert list(built.accounts[3:]) == [AccountMeta(BOB, True, False), AccountMeta(ALICE, True, False)]
    assert ix.signers([built], PAYER) == [BOB, ALICE]


def test_the_settling_vote_passes_every_voters_wallet_in_order() -> None:
    built = ix.process_approval(PROGRAM, ALICE, "t1", HASH, False, [BOB, ALICE])
    wallets = [PROGRAM.pdas.member(BOB)[0], PROGRAM.pdas.member(ALICE)[0]]
    assert [m.pubkey for m in built.accounts[4:]] == wallets
    assert all(m.is_writable and not m.is_signer for m in built.accounts[4:])


def test_config_args_are_the_idl_init_params() -> None:
    init_params = next(t for t in CODER.idl["types"] if t["name"] == "InitParams")
    assert list(ix.config_args(Params())) == [f["name"] for f in init_params["type"]["fields"]]


def test_a_corrupted_transaction_is_refused_and_changes_nothing(choir_so: bytes) -> None:
    d = ProgramDriver(image=choir_so)
    for step in (Fund("alice", T0, 50 * CHOIR, SIGNERS), Fund("bob", T0, 50 * CHOIR, SIGNERS)):
        assert d.apply(step) is None
    assert d.apply(CreateThread("alice", T0 + 1, "t1", 5 * CHOIR)) is None
    assert d.apply(SubmitSpec("bob", T0 + 2, "t1", "ab" * 32, CHOIR)) is None
    step = ProcessApproval("alice", T0 + 3, "t1", "ab" * 32, True)
    before = d.raw_accounts()
    instructions, signers = d.build(step)
    assert d.raw_accounts() == before  # building sends nothing
    assert signers == [d.key("alice")]
    vote = instructions[-1]
    assert vote.accounts[0] == AccountMeta(d.pubkey("alice"), True, False)
    unsigned = [AccountMeta(vote.accounts[0].pubkey, False, False), *vote.accounts[1:]]
    outcome = d.send([Instruction(vote.program_id, bytes(vote.data), unsigned)], [], step.now)
    assert not outcome.ok and d.error_name(outcome) == "AccountNotSigner"
    assert d.raw_accounts() == before
    assert d.snapshot() == d.snapshot(full=True)
    outcome = d.send(instructions, [d.keypair_of(d.pubkey("alice"))], step.now)
    assert outcome.ok
    assert d.raw_accounts() != before
    assert d.snapshot() == d.snapshot(full=True)
    assert d.snapshot()["threads"]["t1"]["co_authors"] == ["alice", "bob"]
