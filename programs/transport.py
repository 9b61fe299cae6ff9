"""Transports: how a client reaches a deployed Choir program. `LiteSVMTransport` runs the real SVM runtime in
process (solders.litesvm): the program is loaded either through the upgradeable loader, which runs the ELF loader
and the verifier exactly as a validator does, or with `add_program` for speed once that path is proven.
`RpcTransport` talks JSON-RPC to a validator where the program is deployed (solana-py).

Why a separate layer: the driver speaks instructions and accounts; where they execute (in-process LiteSVM, or a
validator over JSON-RPC) is the transport's business, so the same driver checks both.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from solders.account import Account
from solders.clock import Clock
from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.litesvm import _LiteSVM as _Runtime
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata

from programs.loader import SYSTEM_PROGRAM, SYSVAR_CLOCK, deploy_upgradeable

PAYER_LAMPORTS = 10**17  # more than the airdrop account holds; set directly


def runtime() -> LiteSVM:
    """An SVM configured as `LiteSVM()` configures one (its default feature set, the builtin programs and
    loaders, the sysvars, signature and blockhash checks) but without the SPL programs `LiteSVM()` also loads
    (Token, Token-2022, Memo, Associated Token Account), which Choir never calls: loading those ELFs took 10 to
    60 ms, most of starting a world, against 0.2 ms for the rest. `LiteSVM.default()` cannot be used for this,
    as it builds a full `LiteSVM()` first; hence the wrapper is filled with a bare runtime here."""
    svm = LiteSVM.__new__(LiteSVM)
    svm._inner = _Runtime.default()
    svm.with_builtins().with_lamports(10**15).with_sysvars()
    return svm.with_sigverify(True).with_blockhash_check(True)


@dataclass(frozen=True)
class TxOutcome:
    """What one transaction did: `err` is None on success, else the runtime's transaction error object."""

    err: object | None
    compute_units: int
    logs: list[str]
    inner: Callable[[], list[tuple[Pubkey, bytes, list[Pubkey]]]] | None = None
    """The program's cross-program calls in order, each (program, data, accounts), read only when asked (the
    account-creation property reads them on the steps that create an account); None where the transport cannot
    see them (a validator over JSON-RPC)."""
    time: int | None = None
    """Where the transport cannot set the time (`RpcTransport`): the Clock's `unix_timestamp` the transaction ran at,
    the block time of the slot it landed in; for one refused in preflight (it stamps nothing), the cluster's clock
    when it was sent. None in process, where it is the time `set_time` set."""

    @property
    def ok(self) -> bool:
        return self.err is None


class Transport(Protocol):
    """What the driver needs from wherever the program runs."""

    program_id: Pubkey
    payer: Keypair
    payer_key: Pubkey
    exact_time: bool  # the program's `now` is exactly `set_time`'s (else at or after it, `TxOutcome.time`)
    signs: bool  # `send` signs with the signers' keypairs (else it needs only the message's signer flags)

    def set_time(self, now: int) -> None: ...

    def send(self, instructions: Sequence[Instruction], signers: Sequence[Keypair]) -> TxOutcome: ...

    def account_data(self, key: Pubkey) -> bytes | None: ...

    def program_accounts(self) -> list[tuple[Pubkey, bytes]]: ...

    def close(self) -> None: ...


class LiteSVMTransport:
    """An in-process SVM with the program deployed and a funded fee payer.

    `sigverify=False` fills signatures with placeholders instead of signing: the runtime still enforces the
    message's signer flags (which is what the program's checks read), but skips ed25519, which is most of the
    cost of a step. Use `sigverify=True` to exercise real signatures."""

    exact_time = True

    def __init__(
        self,
        image: bytes,
        program: Keypair,
        *,
        upgradeable: bool = True,
        sigverify: bool = True,
    ) -> None:
        self.svm = runtime().with_sigverify(sigverify).with_transaction_history(0)
        self.sigverify = self.signs = sigverify
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
        return TxOutcome(None, result.compute_units_consumed(), list(result.logs()), lambda: _inner(result, message))

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


def _inner(meta: TransactionMetadata, message: Message) -> list[tuple[Pubkey, bytes, list[Pubkey]]]:
    """Every inner instruction of a transaction, as (program, data, accounts) with the message's keys resolved."""
    keys = message.account_keys
    out = []
    for group in meta.inner_instructions():
        for inner in group:
            compiled = inner.instruction()
            out.append((keys[compiled.program_id_index], bytes(compiled.data), [keys[i] for i in compiled.accounts]))
    return out


class RpcTransport:
    """A deployed program behind a validator's JSON-RPC endpoint (solana-py's async client, driven from a private
    event loop so the driver stays synchronous).

    Time cannot be set on a cluster: the program reads the cluster's Clock. `set_time(now)` therefore waits until
    the cluster's clock has reached `now` (at most `max_wait` seconds), so traces for a deployed program are
    written in cluster time with small gaps, and the config account carries a short approval window. Each
    outcome says when its transaction ran (`TxOutcome.time`: the block time of its slot, which is the Clock's
    `unix_timestamp` in that slot), so a model can apply the step at that time and stamp the same times. Failed
    transactions are caught by preflight simulation: they change nothing on chain (not even the fee), matching a
    failed step's semantics. Successful transactions report 0 compute units (the RPC does not return them)."""

    exact_time = False
    signs = True

    def __init__(
        self,
        url: str,
        program_id: Pubkey,
        payer: Keypair,
        *,
        commitment: str = "confirmed",
        max_wait: float = 60.0,
        poll: float = 0.1,
    ) -> None:
        from solana.rpc.commitment import Commitment

        self._commitment = Commitment(commitment)
        self.url = url
        self.program_id = program_id
        self.payer = payer
        self.payer_key = payer.pubkey()
        self.max_wait = max_wait
        self.poll = poll
        self._sent_at: int | None = None  # the cluster's clock as `set_time` last read it
        self._open()

    def _open(self) -> None:
        import asyncio

        from solana.rpc.async_api import AsyncClient

        self._loop = asyncio.new_event_loop()
        self._client = AsyncClient(self.url, commitment=self._commitment, timeout=30, http2=False)

    @property
    def client(self):  # type: ignore[no-untyped-def]
        """The JSON-RPC client; a closed transport reconnects on its next call, so a driver closed after a
        preflight or a replay does not end the deployment's use by the next driver."""
        if self._loop.is_closed():
            self._open()
        return self._client

    def _run(self, coroutine):  # type: ignore[no-untyped-def]
        return self._loop.run_until_complete(coroutine)

    def cluster_now(self) -> int:
        """The cluster Clock's unix_timestamp."""
        account = self._run(self.client.get_account_info(SYSVAR_CLOCK)).value
        if account is None:
            raise RuntimeError(f"{self.url} has no Clock sysvar")
        return int.from_bytes(bytes(account.data)[32:40], "little", signed=True)

    def set_time(self, now: int) -> None:
        deadline = time.monotonic() + self.max_wait
        while (clock := self.cluster_now()) < now:
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster clock at {self.url} did not reach {now} within {self.max_wait} s")
            time.sleep(self.poll)
        self._sent_at = clock

    def send(self, instructions: Sequence[Instruction], signers: Sequence[Keypair]) -> TxOutcome:
        from solana.rpc.core import RPCException
        from solana.rpc.models import TxOpts
        from solders.rpc.errors import SendTransactionPreflightFailureMessage

        blockhash = self._run(self.client.get_latest_blockhash()).value.blockhash
        message = Message.new_with_blockhash(list(instructions), self.payer_key, blockhash)
        unique: dict[Pubkey, Keypair] = {self.payer_key: self.payer}
        for s in signers:
            unique.setdefault(s.pubkey(), s)
        needed = message.account_keys[: message.header.num_required_signatures]
        tx = Transaction([unique[k] for k in needed], message, blockhash)
        opts = TxOpts(skip_confirmation=True, preflight_commitment=self._commitment)
        sent_at, self._sent_at = self._sent_at, None
        try:
            signature = self._run(self.client.send_raw_transaction(bytes(tx), opts)).value
        except RPCException as error:
            failure = error.args[0] if error.args else None
            if isinstance(failure, SendTransactionPreflightFailureMessage):
                data = failure.data
                return TxOutcome(data.err, data.units_consumed or 0, list(data.logs or []), time=sent_at)
            raise
        status = self._run(self.client.confirm_transaction(signature, self._commitment, sleep_seconds=self.poll))
        landed = status.value[0]
        if landed is None:
            return TxOutcome(None, 0, [])
        return TxOutcome(landed.err, 0, [], time=self.block_time(landed.slot))

    def block_time(self, slot: int) -> int:
        """The block time of `slot`: the Clock's `unix_timestamp` every transaction of that slot saw."""
        from solana.rpc.core import RPCException

        try:
            found = self._run(self.client.get_block_time(slot)).value
        except RPCException as error:
            raise RuntimeError(f"{self.url} has no block time for slot {slot}: {error}") from None
        if found is None:
            raise RuntimeError(f"{self.url} has no block time for slot {slot}")
        return found

    def account_data(self, key: Pubkey) -> bytes | None:
        account = self._run(self.client.get_account_info(key)).value
        if account is None or account.owner != self.program_id:
            return None
        return bytes(account.data)

    def program_accounts(self) -> list[tuple[Pubkey, bytes]]:
        response = self._run(self.client.get_program_accounts(self.program_id, encoding="base64"))
        return [(keyed.pubkey, bytes(keyed.account.data)) for keyed in response.value]

    def close(self) -> None:
        if not self._loop.is_closed():
            self._run(self._client.close())
            self._loop.close()
