"""The embedded chain after a restart: a LiteSVM whose accounts from the stored checkpoint are put in on first use.

Why lazily: the checkpoint holds every account of the program (about 100,000 after 100,000 messages), and putting
them all into a fresh LiteSVM (read, pad, build, `set_account`) was most of what the chain added to a start. A
transaction can touch only the accounts its instructions list, so each is put in just before the first
transaction (or read) that names it; everything else stays in the journal until something asks for every account
(`program_accounts`: the consistency check renders them all).

Why this is exact: an account still pending has not been used since the checkpoint, so its stored row is its
state now. A later checkpoint rewrites only the accounts written since (`reference_backend.chain`,
`Chain.checkpoint`), which were put in before the transaction that wrote them, so the rows of pending accounts
never change underneath; a crash between a journal commit and the next checkpoint leaves the older checkpoint
and its row number, and the rows after it are replayed through this transport like any other transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from solders.account import Account
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

if TYPE_CHECKING:
    from solders.litesvm import LiteSVM

    from programs.transport import LiteSVMTransport, TxOutcome
    from reference_backend.journal import Journal


class CheckpointLost(RuntimeError):
    """A pending account's stored row is gone: the journal's chain table changed under a running chain."""


class CheckpointTransport:
    """`programs.transport.LiteSVMTransport` with the accounts `pending` (addresses of the checkpoint in
    `journal`) still to be put in: the same program, payer and clock, loading accounts before they are used."""

    exact_time = True

    def __init__(self, inner: LiteSVMTransport, pending: Iterable[Pubkey], journal: Journal) -> None:
        self.inner = inner
        self.pending = set(pending)
        self.journal = journal
        self.program_id = inner.program_id
        self.payer: Keypair = inner.payer
        self.payer_key = inner.payer_key
        self.signs = inner.signs

    @property
    def svm(self) -> LiteSVM:
        """The runtime, as `LiteSVMTransport.svm` (the chain's checkpoint reads the accounts written since)."""
        return self.inner.svm

    def load(self, keys: Iterable[Pubkey]) -> None:
        """Put in those of `keys` still pending (each read from the journal by its address)."""
        pending = self.pending
        for key in keys:
            if key not in pending:
                continue
            stored = self.journal.chain_account(bytes(key))
            if stored is None:
                raise CheckpointLost(f"the stored chain account {key} is missing from {self.journal.path}")
            pending.discard(key)
            lamports, data, epoch = stored
            self.inner.svm.set_account(key, Account(lamports, data, self.program_id, False, epoch))

    def load_all(self) -> None:
        """Put in every pending account (one pass over the stored table)."""
        if not self.pending:
            return
        pending, svm, program_id = self.pending, self.inner.svm, self.program_id
        for address, lamports, data, epoch in self.journal.chain_accounts():
            key = Pubkey.from_bytes(address)
            if key in pending:
                svm.set_account(key, Account(lamports, data, program_id, False, epoch))
                pending.discard(key)
        if pending:
            raise CheckpointLost(f"{len(pending)} stored chain accounts are missing from {self.journal.path}")

    def set_time(self, now: int) -> None:
        self.inner.set_time(now)

    def send(self, instructions: Sequence[Instruction], signers: Sequence[Keypair]) -> TxOutcome:
        if self.pending:
            self.load(meta.pubkey for instruction in instructions for meta in instruction.accounts)
        return self.inner.send(instructions, signers)

    def account_data(self, key: Pubkey) -> bytes | None:
        self.load((key,))
        return self.inner.account_data(key)

    def program_accounts(self) -> list[tuple[Pubkey, bytes]]:
        self.load_all()
        return self.inner.program_accounts()

    def close(self) -> None:
        self.inner.close()
