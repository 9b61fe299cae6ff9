"""`ProgramDriver`: the Choir Solana program behind the property suite's driver interface (ARCHITECTURE: one
language between all parts; SPEC sections 8 and 9).

`apply(step)` turns one operation record of `choir_model.steps` into a transaction built from the program's IDL,
sets the Clock sysvar's `unix_timestamp` to the step's `now`, sends it through a transport (in-process LiteSVM by
default) and answers None or the error name. `snapshot()` reads the program's accounts back into the SPEC section
8 schema, through the model's own snapshot renderer, so the two can be compared byte for byte.

Genesis is SPEC section 8's: the config is initialized from `Params`; treasury authorities are the keypairs of
the names in `params.treasury_authorities` (`treasury1..3`, threshold 2), and every actor name maps to the keypair
seeded by sha256(name). `InvalidTime` is a trace property checked here before a step reaches the program (a real
cluster's clock never goes back).

Account cache: after every successful transaction the driver re-reads the accounts that transaction could write
(only writable accounts can change on Solana) and keeps them decoded, so `snapshot()` costs no full scan;
`snapshot(full=True)` rescans every program account instead (the tests check that both agree).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from choir_model.economics import Economics
from choir_model.ops import invalid_time
from choir_model.params import Params
from choir_model.state import ChoirState, Message, MessageState, Privacy, Thread
from choir_model.steps import (
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
from choir_model.trace import SnapshotKey, render_message, render_thread
from choir_model.trace import snapshot as render_snapshot
from programs.client.coder import IdlCoder
from programs.client.errors import error_name
from programs.client.keys import Pdas, keypair_for, program_keypair
from programs.loader import programdata_address
from programs.transport import LiteSVMTransport, Transport, TxOutcome

PRIVACY_VARIANT = {Privacy.PUBLIC: "Public", Privacy.PREMIUM: "Premium", Privacy.THREAD_ONLY: "ThreadOnly"}
VOTE_APPROVE, VOTE_DENY = "Approve", "Deny"
NEVER_DIVESTED = -(2**63)
_STATES = {state.value: state for state in MessageState}
_PRIVACY = {variant: privacy for privacy, variant in PRIVACY_VARIANT.items()}


class DriverError(RuntimeError):
    """The driver itself failed (genesis, an unreadable account): a bug, not a Choir outcome."""


@lru_cache(maxsize=1)
def default_program_image() -> bytes:
    """Build the program from source into build/ (once per process: about a second) and return its bytes."""
    from programs.toolchain.build import build

    return build().path.read_bytes()


class ProgramDriver:
    """The program as a Choir implementation. See the module docstring.

    Arguments: `params` are initialized into the config account (an already initialized deployment is adopted
    only if its config holds the same parameters); `policy` must be `seeds`, the only policy the program has.
    In process (default): `image` or `image_path` is the `.so` (default: built from source once per process),
    `program` its keypair (default: the IDL's), `upgradeable` deploys through loader v3 instead of `add_program`,
    `sigverify` signs for real. Elsewhere: pass a `transport` (for example `RpcTransport`); the IDL's address is
    replaced by the transport's program id. `names` pre-registers actor names so earlier state renders by name.
    """

    name = "program"

    def __init__(
        self,
        params: Params | None = None,
        policy: str = "seeds",
        *,
        image: bytes | None = None,
        image_path: Path | str | None = None,
        coder: IdlCoder | None = None,
        program: Keypair | None = None,
        upgradeable: bool = False,
        sigverify: bool = False,
        transport: Transport | None = None,
        names: Sequence[str] = (),
    ) -> None:
        if policy != "seeds":
            raise ValueError(f"the program implements the `seeds` settlement policy only, not {policy!r}")
        self.params = params or Params()
        self.policy = policy
        self.coder = coder or IdlCoder.from_file()
        if transport is None:
            if image is None:
                image = Path(image_path).read_bytes() if image_path else default_program_image()
            program = program or program_keypair()
            if program.pubkey() != self.coder.program_id:
                raise DriverError(f"program keypair {program.pubkey()} is not the IDL's {self.coder.program_id}")
            transport = LiteSVMTransport(image, program, upgradeable=upgradeable, sigverify=sigverify)
        elif transport.program_id != self.coder.program_id:
            self.coder = self.coder.at(transport.program_id)
        self.transport: Transport = transport
        self.pdas = Pdas(self.coder.program_id)
        self.names: dict[Pubkey, str] = {}
        self.last_now: int | None = None
        self.last_compute_units = 0
        self.last_instruction = ""
        self._economics = Economics()
        self._cache: dict[Pubkey, tuple[str, dict[str, Any]]] = {}
        self._objects: dict[Pubkey, tuple[str, Any]] = {}
        self._dirty: set[Pubkey] = set()
        self._entries: dict[SnapshotKey, Pubkey] = {}
        self._keypairs: dict[str, tuple[Keypair, Pubkey]] = {}
        for name in names:  # actors of earlier state on an existing deployment, so snapshots can name them
            self._keypair(name)
        self._genesis()

    # -- keys ------------------------------------------------------------------------------------------------

    def key(self, name: str) -> Keypair:
        return self._keypair(name)[0]

    def pubkey(self, name: str) -> Pubkey:
        return self._keypair(name)[1]

    def _keypair(self, name: str) -> tuple[Keypair, Pubkey]:
        found = self._keypairs.get(name)
        if found is None:
            kp = keypair_for(name)
            found = self._keypairs[name] = (kp, kp.pubkey())
            self.names.setdefault(found[1], name)
        return found

    def _name(self, key: Pubkey) -> str:
        return self.names.get(key, str(key))

    # -- transactions ----------------------------------------------------------------------------------------

    def _send(self, instructions: Sequence[Instruction], signers: Sequence[Keypair]) -> TxOutcome:
        outcome = self.transport.send(instructions, signers)
        self.last_compute_units = outcome.compute_units
        if outcome.ok:
            for ix in instructions:
                if ix.program_id == self.coder.program_id:
                    self._dirty.update(meta.pubkey for meta in ix.accounts if meta.is_writable)
        return outcome

    def _decoded(self, key: Pubkey) -> tuple[str, dict[str, Any]] | None:
        """One program account as last written, decoded now if a transaction wrote it since it was last read."""
        if key in self._dirty:
            self._dirty.discard(key)
            self._refresh(key)
        return self._cache.get(key)

    def _flush(self) -> None:
        """Decode every account written since the last read. Decoding (the IDL coder, then the model objects) is
        two thirds of a step's cost and only reads need it, so writes mark accounts and reads decode them: the
        backend's chain sends many operations per `/v1/consistency`, the lockstep check reads after each."""
        dirty, self._dirty = self._dirty, set()
        for key in dirty:
            self._refresh(key)

    def _refresh(self, key: Pubkey) -> None:
        data = self.transport.account_data(key)
        if data is None or self.coder.account_name(data) is None:
            self._cache.pop(key, None)
            self._objects.pop(key, None)
        else:
            kind, value = self._cache[key] = self.coder.decode_account(data)
            self._remember(key, kind, self._convert(kind, value))

    def _ix(self, name: str, args: dict[str, Any], accounts: dict[str, Pubkey], remaining=()) -> Instruction:
        self.last_instruction = name
        return self.coder.build_instruction(name, args, accounts, remaining)

    def _genesis(self) -> None:
        p = self.params
        authorities = [self.pubkey(n) for n in p.treasury_authorities]
        config, config_bump = self.pdas.config()
        treasury, treasury_bump = self.pdas.treasury()
        ix = self._ix(
            "initialize",
            {
                "params": {
                    "total_supply": p.total_supply,
                    "min_stake": p.min_stake,
                    "min_thread_balance": p.min_thread_balance,
                    "approval_window": p.approval_window,
                    "divest_cooldown": p.divest_cooldown,
                    "max_pending": p.max_pending,
                    "max_coauthors": p.max_coauthors,
                    "thread_id_max": p.thread_id_max,
                    "decimals": p.decimals,
                },
                "authorities": authorities,
                "threshold": p.treasury_threshold,
                "config_bump": config_bump,
                "treasury_bump": treasury_bump,
            },
            {
                "payer": self.transport.payer_key,
                "config": config,
                "treasury": treasury,
                "program": self.coder.program_id,
                "program_data": programdata_address(self.coder.program_id),
            },
        )
        outcome = self._send([ix], [])
        if not outcome.ok and error_name(self.coder, outcome.err) == "AccountDiscriminatorAlreadySet":
            self._adopt_config(config, authorities)
        elif not outcome.ok:
            raise DriverError(f"initialize failed: {outcome.err}\n" + "\n".join(outcome.logs))

    def _adopt_config(self, config: Pubkey, authorities: list[Pubkey]) -> None:
        """A deployment initialized earlier: use it only if its config holds exactly our parameters."""
        data = self.transport.account_data(config)
        if data is None:
            raise DriverError("the program is initialized but its config account cannot be read")
        _, value = self.coder.decode_account(data, "Config")
        p = self.params
        expected = {
            "total_supply": p.total_supply,
            "min_stake": p.min_stake,
            "min_thread_balance": p.min_thread_balance,
            "approval_window": p.approval_window,
            "divest_cooldown": p.divest_cooldown,
            "max_pending": p.max_pending,
            "max_coauthors": p.max_coauthors,
            "thread_id_max": p.thread_id_max,
            "decimals": p.decimals,
            "threshold": p.treasury_threshold,
            "authority_count": len(authorities),
        }
        differ = {k: (value[k], v) for k, v in expected.items() if value[k] != v}
        if value["authorities"][: len(authorities)] != authorities:
            differ["authorities"] = (value["authorities"], authorities)
        if differ:
            raise DriverError(f"the deployed program's config differs from the parameters (deployed, wanted): {differ}")
        for key, data in self.transport.program_accounts():  # earlier state, if any, joins the cache
            if self.coder.account_name(data) is not None:
                kind, value = self._cache[key] = self.coder.decode_account(data)
                self._remember(key, kind, self._convert(kind, value))

    # -- the driver interface --------------------------------------------------------------------------------

    def apply(self, step: Step) -> str | None:
        """Apply one step; None when it succeeded, else the error name (SPEC section 7)."""
        if invalid_time(self.last_now, step.now, self.params) is not None:
            return "InvalidTime"
        self.transport.set_time(step.now)
        instructions, signers = self.build(step)
        outcome = self._send(instructions, signers)
        if not outcome.ok:
            return error_name(self.coder, outcome.err)
        self.last_now = step.now
        return None

    def build(self, step: Step) -> tuple[list[Instruction], list[Keypair]]:
        """The instructions and signers (besides the fee payer) that carry out `step`."""
        payer = self.transport.payer_key
        actor, me = self._keypair(step.actor)
        if isinstance(step, Fund):
            member, bump = self.pdas.member(me)
            ixs = []
            if self._decoded(member) is None:
                ixs.append(self._ix("open_member", {"bump": bump}, {"payer": payer, "user": me, "member": member}))
            signers = [self.key(n) for n in dict.fromkeys(step.signers)]
            remaining = [AccountMeta(self.pubkey(n), True, False) for n in dict.fromkeys(step.signers)]
            ixs.append(self._ix("fund_member", {"amount": step.amount}, {"member": member}, remaining))
            return ixs, signers
        if isinstance(step, CreateThread):
            thread, bump = self.pdas.thread(step.thread)
            accounts = {"payer": payer, "creator": me, "member": self.pdas.member(me)[0], "thread": thread}
            args = {"thread_id": step.thread, "deposit": step.deposit, "bump": bump}
            return [self._ix("create_thread", args, accounts)], [actor]
        thread = self.pdas.thread(step.thread)[0]
        if isinstance(step, Divest):
            accounts = {"co_author": me, "member": self.pdas.member(me)[0], "thread": thread}
            return [self._ix("divest_tokens", {"amount": step.amount}, accounts)], [actor]
        content_hash = bytes.fromhex(step.hash)  # type: ignore[attr-defined]
        message, bump = self.pdas.message(thread, content_hash)
        if isinstance(step, SubmitMessage):
            args = {"content_hash": content_hash, "privacy": PRIVACY_VARIANT[step.privacy], "bump": bump}
            accounts = {"payer": payer, "author": me, "thread": thread, "message": message}
            return [self._ix("submit_message", args, accounts)], [actor]
        if isinstance(step, SubmitSpec):
            args = {
                "content_hash": content_hash,
                "stake": step.stake,
                "privacy": PRIVACY_VARIANT[step.privacy],
                "bump": bump,
            }
            accounts = {
                "payer": payer,
                "author": me,
                "member": self.pdas.member(me)[0],
                "thread": thread,
                "message": message,
            }
            return [self._ix("submit_spec", args, accounts)], [actor]
        if isinstance(step, RequestPublic):
            return [self._ix("request_public", {}, {"author": me, "thread": thread, "message": message})], [actor]
        if isinstance(step, ProcessApproval):
            accounts = {"voter": me, "thread": thread, "message": message}
            return [self._ix("process_approval", {"approve": step.approve}, accounts, self._voter_wallets(message))], [
                actor
            ]
        if isinstance(step, Expire):
            return [self._ix("expire_approval", {}, {"thread": thread, "message": message})], []
        raise DriverError(f"unsupported step {step!r}")

    def _voter_wallets(self, message: Pubkey) -> list[AccountMeta]:
        """Every voter's wallet, in snapshot order, when this vote may settle the message (the last one)."""
        cached = self._decoded(message)
        if cached is None:
            return []
        m = cached[1]
        if m["state"] != "Pending" or m["vote_count"] + 1 != m["voter_count"]:
            return []
        return [AccountMeta(self.pdas.member(v)[0], False, True) for v in m["voters"][: m["voter_count"]]]

    # -- snapshots -------------------------------------------------------------------------------------------

    def accounts(self, full: bool = False) -> dict[Pubkey, tuple[str, dict[str, Any]]]:
        """Decoded program accounts: the cache, or a full rescan."""
        if not full:
            self._flush()
            return self._cache
        out = {}
        for key, data in self.transport.program_accounts():
            if self.coder.account_name(data) is not None:
                out[key] = self.coder.decode_account(data)
        return out

    def _convert(self, kind: str, value: dict[str, Any]) -> Any:
        """One decoded account as the model object the snapshot needs."""
        name = self._name
        if kind == "Treasury":
            return value["balance"]
        if kind == "Member":
            return name(value["owner"]), value["balance"]
        if kind == "Thread":
            n = value["co_author_count"]
            thread = Thread(
                bytes(value["thread_id"][: value["thread_id_len"]]).decode("utf-8"),
                [name(k) for k in value["co_authors"][:n]],
                value["balance"],
                value["created_at"],
                value["updated_at"],
                value["message_count"],
            )
            thread.last_divest = {
                name(k): t
                for k, t in zip(value["co_authors"][:n], value["last_divest"][:n], strict=True)
                if t != NEVER_DIVESTED
            }
            thread.pending = value["pending"]
            return thread
        if kind == "Message":
            n = value["voter_count"]
            voters = tuple(name(k) for k in value["voters"][:n])
            votes = {
                voter: vote == VOTE_APPROVE
                for voter, vote in zip(voters, value["votes"][:n], strict=True)
                if vote != "None"
            }
            message = Message(
                value["content_hash"].hex(),
                name(value["author"]),
                _STATES[value["state"]],
                _PRIVACY[value["privacy"]],
                value["created_at"],
                value["is_spec"],
                value["stake"],
                value["deadline"] if value["has_deadline"] else None,
                voters,
                votes,
            )
            return value["thread"], message
        return value

    def state(self, full: bool = False) -> ChoirState:
        """The program's accounts as a model state (the fields the snapshot schema reads)."""
        if full:
            objects = {key: (kind, self._convert(kind, value)) for key, (kind, value) in self.accounts(True).items()}
        else:
            self._flush()
            objects = self._objects
        state = ChoirState(treasury=0)
        threads_by_key: dict[Pubkey, Thread] = {}
        messages = []
        for key, (kind, obj) in objects.items():
            if kind == "Treasury":
                state.treasury = obj
            elif kind == "Member":
                state.wallets[obj[0]] = obj[1]
            elif kind == "Thread":
                thread = copy.copy(obj)
                thread.messages = {}
                threads_by_key[key] = thread
                state.threads[thread.thread_id] = thread
            elif kind == "Message":
                messages.append(obj)
        for thread_key, message in messages:
            thread = threads_by_key.get(thread_key)
            if thread is None:
                raise DriverError(f"message {message.content_hash} belongs to no known thread")
            thread.messages[message.content_hash] = message
        return state

    def _remember(self, key: Pubkey, kind: str, obj: Any) -> None:
        """Keep a decoded account and the snapshot entry it renders to (see `touched`)."""
        self._objects[key] = (kind, obj)
        entry = self._entry(kind, obj)
        if entry is not None:
            self._entries[entry] = key

    def _entry(self, kind: str, obj: Any) -> SnapshotKey | None:
        if kind == "Treasury":
            return ("treasury", "")
        if kind == "Member":
            return ("wallets", obj[0])
        if kind == "Thread":
            return ("threads", obj.thread_id)
        if kind == "Message":
            thread = self._objects.get(obj[0])
            return None if thread is None else ("messages", f"{thread[1].thread_id}/{obj[1].content_hash}")
        return None

    def touched(self) -> set[SnapshotKey]:
        """The snapshot entries of the accounts written since the last read (only writable accounts of a
        successful transaction can change on Solana), decoded now: what the lockstep check compares after a
        step, instead of the whole snapshot."""
        dirty, self._dirty = self._dirty, set()
        for key in dirty:
            self._refresh(key)
        entries: set[SnapshotKey] = set()
        for key in dirty:  # after every refresh: a message's entry names its thread, which may be new too
            found = self._objects.get(key)
            entry = None if found is None else self._entry(*found)
            if entry is not None:
                self._entries[entry] = key
                entries.add(entry)
        return entries

    def render(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Any]:
        """The named snapshot entries as the program's accounts hold them (as last read), None where it holds
        none: `choir_model.trace.snapshot_entries` for the program."""
        out: dict[SnapshotKey, Any] = {}
        economics = self._economics
        for entry in keys:
            found = self._objects.get(self._entries.get(entry))  # type: ignore[arg-type]
            if found is None:
                out[entry] = None
            elif entry[0] == "wallets":
                out[entry] = found[1][1]
            elif entry[0] == "threads":
                out[entry] = render_thread(found[1], self.params, economics)
            elif entry[0] == "messages":
                out[entry] = render_message(found[1][1])
            else:
                out[entry] = found[1]
        return out

    def snapshot(self, full: bool = False) -> dict[str, Any]:
        """The SPEC section 8 snapshot of the program's state."""
        return render_snapshot(self.state(full), self.params)

    def close(self) -> None:
        self.transport.close()
