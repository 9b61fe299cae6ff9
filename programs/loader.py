"""Deploying a program through the upgradeable BPF loader (loader v3) into an in-process LiteSVM (SPEC section 9).

Why: `LiteSVM.add_program` accepts ELFs that a validator refuses, so the only honest check that our linker's output
is a real Solana program is the path a validator takes: create a buffer (`InitializeBuffer`), `Write` the bytes in
chunks that fit a transaction, then `DeployWithMaxDataLen`, which runs the ELF loader and the bytecode verifier.
The instruction encodings are bincode (`u32` variant tag, then fields), as in `solana-loader-v3-interface`.
"""

from __future__ import annotations

import struct

from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata

LOADER_V3 = Pubkey.from_string("BPFLoaderUpgradeab1e11111111111111111111111")
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
SYSVAR_RENT = Pubkey.from_string("SysvarRent111111111111111111111111111111111")
SYSVAR_CLOCK = Pubkey.from_string("SysvarC1ock11111111111111111111111111111111")

BUFFER_METADATA = 37  # UpgradeableLoaderState::Buffer: tag u32 + Option<Pubkey>
PROGRAM_SIZE = 36  # UpgradeableLoaderState::Program: tag u32 + programdata address
PROGRAMDATA_METADATA = 45  # tag u32 + slot u64 + Option<Pubkey>
WRITE_CHUNK = 900  # bytes per Write instruction; keeps each transaction under 1232 bytes


class DeployError(Exception):
    """A deployment transaction failed; carries the runtime's error and logs."""


def _send(svm: LiteSVM, payer: Keypair, ixs: list[Instruction], signers: list[Keypair]) -> None:
    blockhash: Hash = svm.latest_blockhash()
    msg = Message.new_with_blockhash(ixs, payer.pubkey(), blockhash)
    tx = Transaction([payer, *[s for s in signers if s.pubkey() != payer.pubkey()]], msg, blockhash)
    result = svm.send_transaction(tx)
    if isinstance(result, FailedTransactionMetadata):
        logs = "\n".join(result.meta().logs())
        raise DeployError(f"{result.err()}\n{logs}")
    svm.expire_blockhash()


def _create_loader_account(svm: LiteSVM, payer: Keypair, key: Pubkey, space: int) -> Instruction:
    """CreateAccount of `space` bytes at `key`, rent-exempt, paid by `payer`, owned by the loader (a buffer, or the
    program account)."""
    lamports = svm.minimum_balance_for_rent_exemption(space)
    return create_account(CreateAccountParams(from_pubkey=payer.pubkey(), to_pubkey=key, lamports=lamports,
                                              space=space, owner=LOADER_V3))  # fmt: skip


def programdata_address(program_id: Pubkey) -> Pubkey:
    """The loader's programdata account for `program_id`."""
    return Pubkey.find_program_address([bytes(program_id)], LOADER_V3)[0]


def deploy_upgradeable(
    svm: LiteSVM,
    payer: Keypair,
    program: Keypair,
    image: bytes,
    *,
    authority: Keypair | None = None,
) -> Pubkey:
    """Deploy `image` as `program` through loader v3 (buffer, writes, deploy). Raises `DeployError` when the
    runtime refuses the ELF. The program is usable from the next slot, to which the clock is advanced."""
    authority = authority or payer
    buffer = Keypair()
    buffer_len = BUFFER_METADATA + len(image)
    create_buffer = _create_loader_account(svm, payer, buffer.pubkey(), buffer_len)
    init_buffer = Instruction(
        LOADER_V3,
        struct.pack("<I", 0),
        [AccountMeta(buffer.pubkey(), False, True), AccountMeta(authority.pubkey(), False, False)],
    )
    _send(svm, payer, [create_buffer, init_buffer], [buffer])
    for offset in range(0, len(image), WRITE_CHUNK):
        chunk = image[offset : offset + WRITE_CHUNK]
        write = Instruction(
            LOADER_V3,
            struct.pack("<IIQ", 1, offset, len(chunk)) + chunk,
            [AccountMeta(buffer.pubkey(), False, True), AccountMeta(authority.pubkey(), True, False)],
        )
        _send(svm, payer, [write], [authority])
    create_program = _create_loader_account(svm, payer, program.pubkey(), PROGRAM_SIZE)
    deploy = Instruction(
        LOADER_V3,
        struct.pack("<IQ", 2, len(image)),
        [
            AccountMeta(payer.pubkey(), True, True),
            AccountMeta(programdata_address(program.pubkey()), False, True),
            AccountMeta(program.pubkey(), False, True),
            AccountMeta(buffer.pubkey(), False, True),
            AccountMeta(SYSVAR_RENT, False, False),
            AccountMeta(SYSVAR_CLOCK, False, False),
            AccountMeta(SYSTEM_PROGRAM, False, False),
            AccountMeta(authority.pubkey(), True, False),
        ],
    )
    _send(svm, payer, [create_program, deploy], [program, authority])
    clock = svm.get_clock()
    svm.warp_to_slot(clock.slot + 1)
    return program.pubkey()
