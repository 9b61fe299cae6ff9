"""Bad input never gets through. The instructions of operations are attacked by the property suite itself
(`properties/attacks.py`, every kind checked in `test_attacks.py`, and mixed into every program campaign); this
file covers what no operation's transaction reaches: `open_member` (sent only before a wallet's first fund),
mutated one way at a time (wrong owner, spoofed address, missing signer, read-only where writable is needed,
duplicated program accounts, missing accounts, truncated or extended data, unknown or foreign discriminator),
argument encodings of every instruction (invalid enum and bool tags, invalid UTF-8, string lengths beyond the
data, wrong or non-canonical bump), and random instructions. Every one must fail, no account may change, and
the total supply summed over the program's accounts stays TOTAL_SUPPLY.

Addresses are "spoofed" the ways an attacker can on a real cluster: an address with no account, an account owned
by another program with the same bytes, a program account of another type, or a program account of another
identity (another user's wallet, a thread the actor has no part in, a message of another thread). A
program-owned account with forged contents at a non-PDA address cannot exist on a cluster (only this program
creates accounts it owns, each at a verified PDA), so it is not part of the threat model.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from solders.account import Account
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata

from choir_model import (
    CHOIR,
    CreateThread,
    Divest,
    Expire,
    Fund,
    ProcessApproval,
    RequestPublic,
    Step,
    SubmitMessage,
    SubmitSpec,
)
from programs.client.keys import keypair_for
from programs.driver import ProgramDriver
from programs.loader import SYSTEM_PROGRAM

T0 = 1_700_000_000
NOW = T0 + 100
LATER = T0 + 10**7
SIGNERS = ("treasury1", "treasury2")
FOREIGN_PROGRAM = Pubkey.from_bytes(hashlib.sha256(b"some other program").digest())


def h(n: int) -> bytes:
    return n.to_bytes(32, "big")


def hx(n: int) -> str:
    return h(n).hex()


@dataclass
class Base:
    name: str
    ix: Instruction
    now: int


class Fuzzer:
    """A populated world plus helpers to send one instruction and check that nothing changed."""

    def __init__(self, image: bytes) -> None:
        self.d = ProgramDriver(image=image, sigverify=False)
        self.svm = self.d.transport.svm
        self.program = self.d.coder.program_id
        self.rent_payer = keypair_for("rent-payer")
        self.svm.set_account(self.rent_payer.pubkey(), Account(10**15, b"", SYSTEM_PROGRAM))
        world: list[Step] = [Fund(u, T0, 100 * CHOIR, SIGNERS) for u in ("alice", "bob", "carol", "dave", "decoy")]
        world += [
            CreateThread("alice", T0 + 1, "t1", 10 * CHOIR),
            CreateThread("decoy", T0 + 1, "decoy", 10 * CHOIR),
            SubmitSpec("bob", T0 + 2, "t1", hx(1), 3 * CHOIR),
            ProcessApproval("alice", T0 + 3, "t1", hx(1), True),
            SubmitMessage("alice", T0 + 4, "t1", hx(2)),
            SubmitSpec("carol", T0 + 5, "t1", hx(4), 2 * CHOIR + 1),
            ProcessApproval("alice", T0 + 6, "t1", hx(4), True),
            SubmitMessage("decoy", T0 + 7, "decoy", hx(9)),
        ]
        for step in world:
            assert self.d.apply(step) is None, step
        self.total_supply = self.d.params.total_supply

    # -- accounts --------------------------------------------------------------------------------------------

    def program_state(self) -> dict[Pubkey, tuple[int, bytes]]:
        return {k: (a.lamports, bytes(a.data)) for k, a in self.svm.get_program_accounts(self.program)}

    def supply(self) -> int:
        total = 0
        for _, data in self.d.transport.program_accounts():
            name, value = self.d.coder.decode_account(data)
            if name in ("Treasury", "Member", "Thread"):
                total += value["balance"]
            elif name == "Message":
                total += value["stake"]
        return total

    def clone_foreign(self, key: Pubkey) -> Pubkey:
        """The same bytes (or any bytes, for an absent account) at a new address, owned by another program."""
        account = self.svm.get_account(key)
        data = bytes(account.data) if account is not None and len(account.data) else b"\x01" * 64
        fake = Keypair().pubkey()
        self.svm.set_account(fake, Account(10**9, data, FOREIGN_PROGRAM))
        return fake

    def is_program_account(self, key: Pubkey) -> bool:
        account = self.svm.get_account(key)
        return account is not None and account.owner == self.program

    # -- transactions ----------------------------------------------------------------------------------------

    def base(self, step: Step) -> Instruction:
        """The last instruction the driver would send for `step`, paid by a rent payer that is not the fee payer
        (so flag mutations are not masked by the fee payer's merged flags)."""
        ixs, _ = self.d.build(step)
        ix = ixs[-1]
        fee_payer = self.d.transport.payer.pubkey()
        metas = [
            AccountMeta(self.rent_payer.pubkey(), m.is_signer, m.is_writable) if m.pubkey == fee_payer else m
            for m in ix.accounts
        ]
        return Instruction(ix.program_id, bytes(ix.data), metas)

    def send(self, ix: Instruction, now: int, simulate: bool = False):
        self.d.transport.set_time(now)
        payer = self.d.transport.payer.pubkey()
        blockhash = self.svm.latest_blockhash()
        message = Message.new_with_blockhash([ix], payer, blockhash)
        tx = Transaction.populate(message, [Signature.default()] * message.header.num_required_signatures)
        return self.svm.simulate_transaction(tx) if simulate else self.svm.send_transaction(tx)

    def must_fail(self, label: str, ix: Instruction, now: int) -> str:
        before = self.program_state()
        result = self.send(ix, now)
        assert isinstance(result, FailedTransactionMetadata), f"{label} succeeded: {result}"
        assert self.program_state() == before, f"{label} changed program accounts"
        return str(result.err())


def with_meta(ix: Instruction, i: int, meta: AccountMeta) -> Instruction:
    metas = list(ix.accounts)
    metas[i] = meta
    return Instruction(ix.program_id, bytes(ix.data), metas)


def with_data(ix: Instruction, data: bytes) -> Instruction:
    return Instruction(ix.program_id, data, list(ix.accounts))


def mutations(f: Fuzzer, base: Base) -> list[tuple[str, Instruction]]:
    ix = base.ix
    out: list[tuple[str, Instruction]] = []
    keys = [m.pubkey for m in ix.accounts]
    program_accounts = [k for k in keys if f.is_program_account(k)]
    alice_member = f.d.pdas.member(keypair_for("alice").pubkey())[0]
    decoy_thread = f.d.pdas.thread("decoy")[0]
    decoy_message = f.d.pdas.message(decoy_thread, h(9))[0]
    config, treasury = f.d.pdas.config()[0], f.d.pdas.treasury()[0]
    for i, m in enumerate(ix.accounts):
        unique = keys.count(m.pubkey) == 1
        tag = f"{base.name}[{i}]"
        if m.is_signer and unique:
            out.append((f"{tag} missing signer", with_meta(ix, i, AccountMeta(m.pubkey, False, m.is_writable))))
            if m.pubkey != f.rent_payer.pubkey():
                out.append(
                    (
                        f"{tag} other signer",
                        with_meta(ix, i, AccountMeta(keypair_for("mallory").pubkey(), True, m.is_writable)),
                    )
                )
        if m.is_writable and unique:
            out.append((f"{tag} read-only", with_meta(ix, i, AccountMeta(m.pubkey, m.is_signer, False))))
        if m.is_signer:
            continue
        out.append(
            (f"{tag} absent address", with_meta(ix, i, AccountMeta(Keypair().pubkey(), m.is_signer, m.is_writable)))
        )
        if m.pubkey == SYSTEM_PROGRAM:
            continue
        out.append(
            (f"{tag} wrong owner", with_meta(ix, i, AccountMeta(f.clone_foreign(m.pubkey), m.is_signer, m.is_writable)))
        )
        other_type = treasury if m.pubkey == config else config
        out.append((f"{tag} other type", with_meta(ix, i, AccountMeta(other_type, m.is_signer, m.is_writable))))
        # The fund recipient is free (it does not sign): another wallet there is another valid fund.
        free = base.name == "fund" and i == 2
        for other in () if free else (alice_member, decoy_thread, decoy_message):
            if other != m.pubkey and other not in keys:
                out.append((f"{tag} other identity", with_meta(ix, i, AccountMeta(other, m.is_signer, m.is_writable))))
        for dup in program_accounts:
            if dup != m.pubkey:
                out.append((f"{tag} duplicate", with_meta(ix, i, AccountMeta(dup, m.is_signer, m.is_writable))))
    if len(ix.accounts) > 1:
        out.append((f"{base.name} missing account", Instruction(ix.program_id, bytes(ix.data), list(ix.accounts)[:-1])))
    data = bytes(ix.data)
    out += [(f"{base.name} truncated to {n}", with_data(ix, data[:n])) for n in range(len(data))]
    out.append((f"{base.name} extended", with_data(ix, data + b"\0")))
    out.append((f"{base.name} unknown discriminator", with_data(ix, hashlib.sha256(data).digest()[:8] + data[8:])))
    for other in f.d.coder.instructions.values():
        if other.discriminator != data[:8]:
            out.append((f"{base.name} as {other.name}", with_data(ix, other.discriminator + data[8:])))
    return out


def arg_mutations(f: Fuzzer, base: Base) -> list[tuple[str, Instruction]]:
    """Invalid tags and wrong bumps, at the byte positions the IDL gives."""
    name, args = f.d.coder.decode_instruction(bytes(base.ix.data))
    out = []

    def encode(label: str, change: Callable[[dict], None]) -> None:
        changed = dict(args)
        change(changed)
        out.append((f"{base.name} {label}", with_data(base.ix, f.d.coder.encode_instruction(name, changed))))

    data = bytes(base.ix.data)
    if "privacy" in args:
        for tag in (3, 255):
            raw = bytearray(data)
            raw[-2] = tag  # privacy precedes the bump
            out.append((f"{base.name} privacy tag {tag}", with_data(base.ix, bytes(raw))))
    if "approve" in args:
        out.append((f"{base.name} bool 2", with_data(base.ix, data[:8] + b"\x02")))
    if "bump" in args:
        encode("bump + 1", lambda a: a.update(bump=(a["bump"] + 1) % 256))
        encode("bump - 1", lambda a: a.update(bump=(a["bump"] - 1) % 256))
    if name == "create_thread":
        raw = bytearray(data)
        raw[12] = 0xFF  # first byte of the thread id: not UTF-8
        out.append((f"{base.name} invalid utf-8", with_data(base.ix, bytes(raw))))
        raw = bytearray(data)
        raw[8:12] = (10**6).to_bytes(4, "little")  # string length beyond the data
        out.append((f"{base.name} long string length", with_data(base.ix, bytes(raw))))
    return out


@pytest.fixture(scope="module")
def fuzzer(choir_so: bytes) -> Fuzzer:
    return Fuzzer(choir_so)


def bases(f: Fuzzer) -> list[Base]:
    open_ix = f.d.coder.build_instruction(
        "open_member",
        {"bump": f.d.pdas.member(keypair_for("erin").pubkey())[1]},
        {"payer": f.rent_payer.pubkey(), "user": keypair_for("erin").pubkey()},
    )
    steps = [
        ("fund", Fund("dave", NOW, CHOIR, SIGNERS), NOW),
        ("create_thread", CreateThread("alice", NOW, "t2", 2 * CHOIR), NOW),
        ("submit_message", SubmitMessage("alice", NOW, "t1", hx(5)), NOW),
        ("request_public", RequestPublic("alice", NOW, "t1", hx(2)), NOW),
        ("submit_spec", SubmitSpec("dave", NOW, "t1", hx(6), CHOIR), NOW),
        ("process_approval", ProcessApproval("bob", NOW, "t1", hx(4), True), NOW),
        ("expire", Expire("keeper", LATER, "t1", hx(4)), LATER),
        ("divest", Divest("alice", NOW, "t1", CHOIR), NOW),
    ]
    return [Base("open_member", open_ix, NOW)] + [Base(n, f.base(s), now) for n, s, now in steps]


def test_bases_are_valid(fuzzer: Fuzzer) -> None:
    """Each unmutated instruction would succeed (simulated: nothing is committed)."""
    for base in bases(fuzzer):
        result = fuzzer.send(base.ix, base.now, simulate=True)
        assert not isinstance(result, FailedTransactionMetadata), f"{base.name}: {result}"


def test_every_mutation_fails_and_changes_nothing(fuzzer: Fuzzer) -> None:
    count = 0
    errors: set[str] = set()
    every = bases(fuzzer)
    open_member = every[0]
    for label, ix in mutations(fuzzer, open_member) + [m for base in every for m in arg_mutations(fuzzer, base)]:
        errors.add(fuzzer.must_fail(label, ix, next(b.now for b in every if label.startswith(b.name))))
        count += 1
    assert count > 40
    assert fuzzer.supply() == fuzzer.total_supply
    # The refusals name their reasons (a sample of the kinds that must appear).
    text = " ".join(errors)
    for code in ("Custom(2000)", "Custom(2006)", "Custom(102)", "Custom(101)"):
        assert code in text, code
    assert "MissingRequiredSignature" in text or "Custom(3010)" in text


def test_random_instructions_fail(fuzzer: Fuzzer) -> None:
    rng = random.Random(20240611)
    f = fuzzer
    pool = [k for k, _ in f.svm.get_program_accounts(f.program)]
    pool += [SYSTEM_PROGRAM, Keypair().pubkey(), f.rent_payer.pubkey(), *(keypair_for(n).pubkey() for n in SIGNERS)]
    discriminators = [ix.discriminator for ix in f.d.coder.instructions.values()]
    for i in range(300):
        prefix = rng.choice(discriminators) if rng.random() < 0.7 else rng.randbytes(8)
        data = prefix + rng.randbytes(rng.randrange(0, 64)) if rng.random() < 0.9 else rng.randbytes(rng.randrange(8))
        metas = [
            AccountMeta(rng.choice(pool), rng.random() < 0.3, rng.random() < 0.6) for _ in range(rng.randrange(0, 9))
        ]
        f.must_fail(f"random #{i}", Instruction(f.program, data, metas), NOW + rng.randrange(0, 10**7))
    assert f.supply() == f.total_supply
