"""Transports: how a client reaches a deployed Choir program. `LiteSVMTransport` runs the real SVM runtime in
process (solders.litesvm): the program is loaded either through the upgradeable loader, which runs the ELF loader
and the verifier exactly as a validator does, or with `add_program` for speed once that path is proven.

Why a separate layer: the driver speaks instructions and accounts; where they execute (in-process LiteSVM, or a
validator over JSON-RPC) is the transport's business, so the same driver checks both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata

from programs.loader import SYSTEM_PROGRAM, deploy_upgradeable

PAYER_LAMPORTS = 10**17  # more than the airdrop account holds; set directly


@dataclass(frozen=True)
class TxOutcome:
    """What one transaction did: `err` is None on success, else the runtime's transaction error object."""

    err: object | None
    compute_units: int
    logs: list[str]

    @property
    def ok(self) -> bool:
        return self.err is None


class LiteSVMTransport:
    """An in-process SVM with the program deployed and a funded fee payer.

    `sigverify=False` fills signatures with placeholders instead of signing: the runtime still enforces the
    message's signer flags (which is what the program's checks read), but skips ed25519, which is most of the
    cost of a step. Use `sigverify=True` to exercise real signatures."""

    def __init__(
        self,
        image: bytes,
        program: Keypair,
        *,
        upgradeable: bool = True,
        sigverify: bool = True,
    ) -> None:
        self.svm = LiteSVM().with_sigverify(sigverify).with_transaction_history(0)
        self.sigverify = sigverify
        self.payer = Keypair.from_seed(bytes(32))
        self.payer_key = self.payer.pubkey()
        self.svm.set_account(self.payer_key, Account(PAYER_LAMPORTS, b"", SYSTEM_PROGRAM))
        self.program_id = program.pubkey()
        if upgradeable:
            deploy_upgradeable(self.svm, self.payer, program, image)
        else:
            self.svm.add_program(self.program_id, image)
        self._blockhash: Hash = self.svm.latest_blockhash()
        self.clock = self.svm.get_clock()

    def set_time(self, now: int) -> None:
        """Set the Clock sysvar's unix_timestamp (the program's `now`)."""
        c = self.clock
        if c.unix_timestamp != now:
            self.clock = Clock(c.slot, c.epoch_start_timestamp, c.epoch, c.leader_schedule_epoch, now)
            self.svm.set_clock(self.clock)

    def send(self, instructions: Sequence[Instruction], signers: Sequence[Keypair]) -> TxOutcome:
        """One transaction paid by the transport's payer, signed by `signers` (deduplicated)."""
        message = Message.new_with_blockhash(list(instructions), self.payer_key, self._blockhash)
        if self.sigverify:
            unique: dict[Pubkey, Keypair] = {self.payer_key: self.payer}
            for s in signers:
                unique.setdefault(s.pubkey(), s)
            needed = message.account_keys[: message.header.num_required_signatures]
            tx = Transaction([unique[k] for k in needed], message, self._blockhash)
        else:
            n = message.header.num_required_signatures
            tx = Transaction.populate(message, [Signature.default()] * n)
        result = self.svm.send_transaction(tx)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            return TxOutcome(result.err(), meta.compute_units_consumed(), list(meta.logs()))
        return TxOutcome(None, result.compute_units_consumed(), list(result.logs()))

    def account_data(self, key: Pubkey) -> bytes | None:
        """The data of an account owned by the program, or None."""
        account = self.svm.get_account(key)
        if account is None or account.owner != self.program_id:
            return None
        return bytes(account.data)

    def program_accounts(self) -> list[tuple[Pubkey, bytes]]:
        return [(key, bytes(account.data)) for key, account in self.svm.get_program_accounts(self.program_id)]

    def close(self) -> None:
        self.svm = None  # type: ignore[assignment]
