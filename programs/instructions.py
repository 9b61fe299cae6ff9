"""One builder per Choir instruction (SPEC section 3's operations, plus the genesis and wallet instructions of
section 9), as SPL's `instruction.rs` does: each takes the addresses and arguments, derives the program addresses
it needs, and returns a `solders` `Instruction` whose account metas are the IDL's, in the IDL's order.

Why builders are plain functions of keys (not of a driver): whoever builds transactions (the lockstep driver,
the fuzz and attack generators, a client) gets the same bytes, and an attack starts from the exact instruction a
valid step would send, then corrupts one thing. Who must sign is part of the instruction itself: every account
meta flagged as a signer (`signers`), which is also what the runtime enforces. Builders never check semantics;
the program does (an absent or wrong account is the program's to refuse).

`config_args(params)` is the one place that maps `Params` onto the config account's fields: `initialize` writes
them and `ProgramDriver` compares a deployed config with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from choir_model.params import Params
from choir_model.state import Privacy
from programs.client.coder import IdlCoder
from programs.client.keys import Pdas
from programs.loader import SYSTEM_PROGRAM, programdata_address

PRIVACY_VARIANT = {Privacy.PUBLIC: "Public", Privacy.PREMIUM: "Premium", Privacy.THREAD_ONLY: "ThreadOnly"}
INIT_PARAMS = (
    "total_supply",
    "min_stake",
    "min_thread_balance",
    "approval_window",
    "divest_cooldown",
    "max_pending",
    "max_coauthors",
    "thread_id_max",
    "decimals",
)


def config_args(params: Params) -> dict[str, int]:
    """The config account's parameter fields (the IDL's `InitParams`) for `params` (SPEC sections 1 and 9)."""
    return {name: getattr(params, name) for name in INIT_PARAMS}


class ChoirProgram:
    """One deployment's addresses: the IDL coder at the program id and its PDAs (derivations cached)."""

    __slots__ = ("coder", "pdas", "program_id")

    def __init__(self, coder: IdlCoder) -> None:
        self.coder = coder
        self.program_id: Pubkey = coder.program_id
        self.pdas = Pdas(coder.program_id)

    def ix(
        self, name: str, args: dict[str, Any], accounts: dict[str, Pubkey], remaining: Sequence[AccountMeta] = ()
    ) -> Instruction:
        """Encode instruction `name`; every account is given, the IDL decides the metas' order and flags."""
        return self.coder.build_instruction(name, args, accounts, remaining)


def signers(instructions: Sequence[Instruction], payer: Pubkey) -> list[Pubkey]:
    """Who must sign `instructions` besides the fee payer: every account flagged as a signer, once, in order."""
    found = [meta.pubkey for ix in instructions for meta in ix.accounts if meta.is_signer and meta.pubkey != payer]
    return list(dict.fromkeys(found))


def initialize(program: ChoirProgram, payer: Pubkey, params: Params, authorities: Sequence[Pubkey]) -> Instruction:
    """The config (parameters, treasury multisig) and the treasury holding the total supply (SPEC section 9)."""
    pdas = program.pdas
    config, config_bump = pdas.config()
    treasury, treasury_bump = pdas.treasury()
    args = {
        "params": config_args(params),
        "authorities": list(authorities),
        "threshold": params.treasury_threshold,
        "config_bump": config_bump,
        "treasury_bump": treasury_bump,
    }
    accounts = {
        "payer": payer,
        "config": config,
        "treasury": treasury,
        "system_program": SYSTEM_PROGRAM,
        "program": program.program_id,
        "program_data": programdata_address(program.program_id),
    }
    return program.ix("initialize", args, accounts)


def open_member(program: ChoirProgram, payer: Pubkey, user: Pubkey, bump: int | None = None) -> Instruction:
    """Create `user`'s wallet account (a member PDA); `bump` defaults to the canonical one."""
    member, canonical = program.pdas.member(user)
    accounts = {"payer": payer, "user": user, "member": member, "system_program": SYSTEM_PROGRAM}
    return program.ix("open_member", {"bump": canonical if bump is None else bump}, accounts)


def fund_member(program: ChoirProgram, user: Pubkey, authorities: Sequence[Pubkey], amount: int) -> Instruction:
    """`fund`: treasury -> `user`'s wallet, co-signed by `authorities` (passed as signer accounts after the
    IDL's, once each: SPEC section 3's multisig)."""
    pdas = program.pdas
    accounts = {"config": pdas.config()[0], "treasury": pdas.treasury()[0], "member": pdas.member(user)[0]}
    remaining = [AccountMeta(key, True, False) for key in dict.fromkeys(authorities)]
    return program.ix("fund_member", {"amount": amount}, accounts, remaining)


def create_thread(
    program: ChoirProgram, payer: Pubkey, creator: Pubkey, thread_id: str, deposit: int, bump: int | None = None
) -> Instruction:
    """`create_thread`: the creator's deposit -> a new thread PDA (SPEC section 3)."""
    pdas = program.pdas
    thread, canonical = pdas.thread(thread_id)
    accounts = {
        "payer": payer,
        "creator": creator,
        "config": pdas.config()[0],
        "member": pdas.member(creator)[0],
        "thread": thread,
        "system_program": SYSTEM_PROGRAM,
    }
    args = {"thread_id": thread_id, "deposit": deposit, "bump": canonical if bump is None else bump}
    return program.ix("create_thread", args, accounts)


def submit_message(
    program: ChoirProgram,
    payer: Pubkey,
    author: Pubkey,
    thread_id: str,
    content_hash: bytes,
    privacy: Privacy,
    bump: int | None = None,
) -> Instruction:
    """`submit_message`: a co-author's message, a new message PDA of the thread (SPEC section 3)."""
    thread = program.pdas.thread(thread_id)[0]
    message, canonical = program.pdas.message(thread, content_hash)
    args = {
        "content_hash": content_hash,
        "privacy": PRIVACY_VARIANT[privacy],
        "bump": canonical if bump is None else bump,
    }
    accounts = {
        "payer": payer,
        "author": author,
        "thread": thread,
        "message": message,
        "system_program": SYSTEM_PROGRAM,
    }
    return program.ix("submit_message", args, accounts)


def submit_spec(
    program: ChoirProgram,
    payer: Pubkey,
    author: Pubkey,
    thread_id: str,
    content_hash: bytes,
    stake: int,
    privacy: Privacy,
    bump: int | None = None,
) -> Instruction:
    """`submit_spec`: an outsider's staked spec, escrowed in a new message PDA (SPEC section 3)."""
    pdas = program.pdas
    thread = pdas.thread(thread_id)[0]
    message, canonical = pdas.message(thread, content_hash)
    args = {
        "content_hash": content_hash,
        "stake": stake,
        "privacy": PRIVACY_VARIANT[privacy],
        "bump": canonical if bump is None else bump,
    }
    accounts = {
        "payer": payer,
        "author": author,
        "config": pdas.config()[0],
        "member": pdas.member(author)[0],
        "thread": thread,
        "message": message,
        "system_program": SYSTEM_PROGRAM,
    }
    return program.ix("submit_spec", args, accounts)


def request_public(program: ChoirProgram, author: Pubkey, thread_id: str, content_hash: bytes) -> Instruction:
    """`request_public`: the author asks the other co-authors to publish a Private message (SPEC section 3)."""
    pdas = program.pdas
    thread = pdas.thread(thread_id)[0]
    accounts = {
        "author": author,
        "config": pdas.config()[0],
        "thread": thread,
        "message": pdas.message(thread, content_hash)[0],
    }
    return program.ix("request_public", {}, accounts)


def process_approval(
    program: ChoirProgram,
    voter: Pubkey,
    thread_id: str,
    content_hash: bytes,
    approve: bool,
    voter_wallets: Sequence[Pubkey] = (),
) -> Instruction:
    """`process_approval`: one vote. The vote that settles the message also passes every snapshot voter's wallet
    (`voter_wallets`: the voters' user keys, in snapshot order), which approvers' shares are paid to (SPEC
    section 4)."""
    pdas = program.pdas
    thread = pdas.thread(thread_id)[0]
    accounts = {
        "voter": voter,
        "treasury": pdas.treasury()[0],
        "thread": thread,
        "message": pdas.message(thread, content_hash)[0],
    }
    remaining = [AccountMeta(pdas.member(user)[0], False, True) for user in voter_wallets]
    return program.ix("process_approval", {"approve": approve}, accounts, remaining)


def expire_approval(program: ChoirProgram, thread_id: str, content_hash: bytes) -> Instruction:
    """`expire`: anyone settles a Pending message past its deadline (SPEC section 3); no signer."""
    pdas = program.pdas
    thread = pdas.thread(thread_id)[0]
    accounts = {"treasury": pdas.treasury()[0], "thread": thread, "message": pdas.message(thread, content_hash)[0]}
    return program.ix("expire_approval", {}, accounts)


def divest_tokens(program: ChoirProgram, co_author: Pubkey, thread_id: str, amount: int) -> Instruction:
    """`divest`: a co-author's share of the thread's excess -> the co-author's wallet (SPEC section 3)."""
    pdas = program.pdas
    accounts = {
        "co_author": co_author,
        "config": pdas.config()[0],
        "member": pdas.member(co_author)[0],
        "thread": pdas.thread(thread_id)[0],
    }
    return program.ix("divest_tokens", {"amount": amount}, accounts)
