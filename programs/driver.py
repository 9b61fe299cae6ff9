"""`ProgramDriver`: the Choir Solana program behind the property suite's driver interface (ARCHITECTURE: one
language between all parts; SPEC sections 8 and 9).

`apply(step)` turns one operation record of `choir_model.steps` into a transaction (the builders of
`programs.instructions`), sets the Clock sysvar's `unix_timestamp` to the step's `now`, sends it through a
transport (in-process LiteSVM by default) and answers None or the error name. `snapshot()` reads the program's
accounts back (`programs.decode`) into the SPEC section 8 schema, through the model's own snapshot renderer, so
the two can be compared byte for byte.

Genesis is SPEC section 8's: the config is initialized from `Params` (`config_args`); treasury authorities are the
keypairs of the names in `params.treasury_authorities` (`treasury1..3`, threshold 2), and every actor name maps to
the keypair seeded by sha256(name). `InvalidTime` is a trace property checked here before a step reaches the
program (a real cluster's clock never goes back).

Account cache: a successful transaction marks the accounts it could write (only writable accounts can change on
Solana), and the next read re-reads them, so `snapshot()` costs no full scan; `snapshot(full=True)` rescans every
program account instead (the tests check that both agree). The cache has two layers: the accounts' bytes (what
building a transaction reads) and their model objects (what `held` and `state` answer with), which the lockstep
advances a window of steps behind the bytes (`written`, then `advance`).

The seam for generators of hostile transactions (attacks, fuzzing), which start from what a valid step would send
and corrupt one thing:

* `build(step)` -> (instructions, signer keypairs): what `apply` would send for `step` in the current state,
  without sending it (the fee payer, `transport.payer`, signs on top);
* `keypair_of(pubkey)` -> the keypair of a known actor key (signers of a corrupted transaction);
* `send(instructions, signers, now=None)` -> `TxOutcome`: any transaction, as it is, at `now`; the cache follows
  whatever it wrote; `error_name(outcome)` names its error;
* `amend`: a function applied to the next step's instructions, once (a change around a valid step that must not
  change its outcome, such as an account passed twice);
* `raw_accounts()` -> {address: data} of every account the program owns, read from the chain (not the cache),
  to check that a refused transaction changed no byte; `transport.svm` (LiteSVM) plants foreign accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from choir_model.ops import invalid_time
from choir_model.params import Params
from choir_model.state import ChoirState
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
from choir_model.trace import SnapshotKey
from choir_model.trace import snapshot as render_snapshot
from programs import instructions as ix
from programs.client.coder import IdlCoder
from programs.client.errors import error_name
from programs.client.keys import Pdas, keypair_for, program_keypair
from programs.decode import Decoded, DecodeError, Layouts, assemble, decode_account, keys_of
from programs.instructions import ChoirProgram, config_args
from programs.transport import LiteSVMTransport, Transport, TxOutcome


class DriverError(RuntimeError):
    """The driver itself failed (genesis, an unreadable account): a bug, not a Choir outcome."""


@lru_cache(maxsize=1)
def default_program_image() -> bytes:
    """The program built from source into the default build directory, once per process (about a second; an
    unchanged earlier build is reused). Without a compiler, an earlier build there is used as it is."""
    from programs.toolchain.build import DEFAULT_OUT, PROGRAM_NAME, MissingCompiler, build

    try:
        return build().path.read_bytes()
    except MissingCompiler:
        prebuilt = DEFAULT_OUT / f"{PROGRAM_NAME}.so"
        if prebuilt.is_file():
            return prebuilt.read_bytes()
        raise


def _layout(kind: str, value: dict[str, Any]) -> tuple[tuple[bytes, ...], dict[str, Any]] | None:
    """An account's PDA seeds and its slots that must be empty (`ProgramDriver.layout_differences`), from its
    fields as `Layouts.read` gives them: slots of keys as their bytes, others as a list."""
    if kind == "Config":  # its fields and bump: `config_differences`
        return (b"config",), {}
    if kind == "Member":
        return (b"member", value["owner"]), {}
    if kind == "Treasury":
        return (b"treasury",), {}
    if kind == "Thread":
        n, pending, length, divested = (value["co_author_count"], value["spec_author_count"], value["thread_id_len"],
                                        value["divested"])  # fmt: skip
        never = [t for i, t in enumerate(value["last_divest"]) if not divested >> i & 1]
        slack = {"co_authors": value["co_authors"][32 * n :], "spec_authors": value["spec_authors"][32 * pending :],
                 "last_divest": never}  # fmt: skip
        return (b"thread", value["thread_id"][:length]), slack
    if kind == "Message":
        n = value["voter_count"]
        slack = {"voters": value["voters"][32 * n :], "votes": value["votes"][n:],
                 "deadline": [] if value["has_deadline"] else [value["deadline"]]}  # fmt: skip
        return (b"message", value["thread"], value["content_hash"]), slack
    return None


def _layout_of(pdas: Pdas, key: Pubkey, kind: str, value: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """`ProgramDriver.layout_differences` of one account."""
    out: dict[str, tuple[Any, Any]] = {}
    shape = _layout(kind, value)
    if shape is None:
        return out
    seeds, slack = shape
    address, bump = pdas._find(seeds)
    if address != key:
        out[f"{kind} {key}.address (seeds {_seeds_shown(kind, seeds)})"] = (key, address)
    elif kind != "Config" and value["bump"] != bump:
        out[f"{kind} {key}.bump"] = (value["bump"], bump)
    for field, rest in slack.items():
        if not _blank(rest):
            out[f"{kind} {key}.{field}"] = (_shown(rest), "empty")
    return out


def _seeds_shown(kind: str, seeds: tuple[bytes, ...]) -> str:
    """PDA seeds as a difference shows them: the label, keys in base58, a thread id as its text, a content hash
    in hex."""
    label, *rest = seeds
    shown = [label.decode()]
    if kind == "Member":
        shown.append(str(Pubkey.from_bytes(rest[0])))
    elif kind == "Thread":
        shown.append(repr(rest[0].decode("utf-8", "backslashreplace")))
    elif kind == "Message":
        shown += [str(Pubkey.from_bytes(rest[0])), rest[1].hex()]
    return ", ".join(shown)


def _blank(slots: Any) -> bool:
    """Empty slots: zero bytes (keys), zero numbers, no vote."""
    # Counted in C: `any` over bytes makes an int of each, and a generator is a Python call per slot.
    if isinstance(slots, bytes):
        return slots.count(0) == len(slots)
    return slots.count(0) + slots.count("None") == len(slots)


def _shown(slots: Any) -> list[Any]:
    """Slots as a difference shows them: keys in base58."""
    return [Pubkey.from_bytes(k) for k in keys_of(slots)] if isinstance(slots, bytes) else slots


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
        self.program = ChoirProgram(self.coder)
        self.pdas = self.program.pdas
        self.layouts = Layouts(self.coder)
        self.names: dict[Pubkey, str] = {}
        self._names_by_bytes: dict[bytes, str] = {}  # the same names, by the keys' bytes (`programs.decode`)
        self.last_now: int | None = None
        self.last_compute_units = 0
        self.last_outcome: TxOutcome | None = None  # what the last transaction did (`properties.creation` reads it)
        self._last: Instruction | None = None  # the last operation's instruction (see `last_instruction`)
        self._data: dict[Pubkey, bytes] = {}  # every Choir account as last read
        self._cache: dict[Pubkey, tuple[str, dict[str, Any]]] = {}  # the fields of some (`Layouts.read`), when asked
        self._objects: dict[Pubkey, Decoded] = {}
        self._object_bytes: dict[Pubkey, bytes] = {}  # the bytes each object was decoded from
        self._named_at: dict[Pubkey, int] = {}  # how many actors had names when each object was decoded
        self._dirty: set[Pubkey] = set()
        self._written: set[Pubkey] = set()  # since the last `take_written`: what a checkpoint stores again
        self._entries: dict[SnapshotKey, Pubkey] = {}
        self._entry_of: dict[Pubkey, SnapshotKey] = {}  # the entry each account last rendered to
        self._layout_clean: dict[Pubkey, bytes] = {}  # bytes `layout_differences` found right, by address
        self._keypairs: dict[str, tuple[Keypair, Pubkey]] = {}
        self._by_pubkey: dict[Pubkey, Keypair] = {}
        self.amend: Callable[[list[Instruction]], list[Instruction]] | None = None
        self._builders: dict[type, Callable[[Any], list[Instruction]]] = {
            Fund: self._fund,
            CreateThread: self._create_thread,
            SubmitMessage: self._submit_message,
            SubmitSpec: self._submit_spec,
            RequestPublic: self._request_public,
            ProcessApproval: self._process_approval,
            Expire: self._expire,
            Divest: self._divest,
        }
        for name in names:  # actors of earlier state on an existing deployment, so snapshots can name them
            self._keypair(name)
        self._genesis()

    @property
    def exact_times(self) -> bool:
        """Whether the times the program stamps are the steps' own (in process) or the cluster's, at or after
        them (then `ran_at` says which)."""
        return self.transport.exact_time

    def ran_at(self) -> int | None:
        """When the last step's transaction ran, where the transport cannot set the time (`TxOutcome.time`: on a
        cluster, the block time of its slot; for one refused in preflight, the cluster's clock when it was sent):
        the `now` at which a model applies the step to stamp the program's times. None in process (the step's own
        `now`) and for a step that was not sent (`InvalidTime`)."""
        outcome = self.last_outcome
        return None if outcome is None else outcome.time

    # -- keys ------------------------------------------------------------------------------------------------

    def key(self, name: str) -> Keypair:
        return self._keypair(name)[0]

    def pubkey(self, name: str) -> Pubkey:
        return self._keypair(name)[1]

    def keypair_of(self, key: Pubkey) -> Keypair:
        """The keypair of an actor key this driver has seen (KeyError otherwise)."""
        return self._by_pubkey[key]

    def _keypair(self, name: str) -> tuple[Keypair, Pubkey]:
        found = self._keypairs.get(name)
        if found is None:
            kp = keypair_for(name)
            found = self._keypairs[name] = (kp, kp.pubkey())
            self.names.setdefault(found[1], name)
            self._names_by_bytes.setdefault(bytes(found[1]), name)
            self._by_pubkey[found[1]] = kp
        return found

    def _name(self, key: bytes) -> str:
        """The actor a key (its 32 bytes) belongs to, or the key in base58 when it is no actor's."""
        found = self._names_by_bytes.get(key)
        return str(Pubkey.from_bytes(key)) if found is None else found

    # -- transactions ----------------------------------------------------------------------------------------

    def send(
        self, instructions: Sequence[Instruction], signers: Sequence[Keypair], now: int | None = None
    ) -> TxOutcome:
        """Send one transaction as it is (at `now`, when given); every account it could write is re-read on the
        next read."""
        if now is not None:
            self.transport.set_time(now)
        outcome = self.last_outcome = self.transport.send(instructions, signers)
        self.last_compute_units = outcome.compute_units
        if outcome.ok:
            program_id = self.program.program_id
            for instruction in instructions:
                if instruction.program_id == program_id:
                    writable = [meta.pubkey for meta in instruction.accounts if meta.is_writable]
                    self._dirty.update(writable)
                    self._written.update(writable)
        return outcome

    def take_written(self) -> set[Pubkey]:
        """The accounts transactions could have written since the last call (a checkpoint of the in-process chain
        stores exactly these again: `reference_backend.chain`)."""
        written, self._written = self._written, set()
        return written

    def restore(self, keys: Collection[Pubkey], names: Iterable[str]) -> int:
        """Adopt accounts saved from an earlier SVM running this program (in process only), as if the transactions
        that wrote them had run here: the transport holds them, or puts each in before its first use
        (`reference_backend.chain_restore`); they are decoded on the next read, and `names` are the actors they
        mention (so snapshots render them by name). The caller sets `last_now` to the time of the last of those
        transactions. Returns the number of accounts."""
        for name in names:
            self._keypair(name)
        self._dirty.update(keys)
        return len(keys)

    def error_name(self, outcome: TxOutcome) -> str:
        """The SPEC (or runtime) name of a failed transaction's error."""
        return error_name(self.coder, outcome.err)

    def raw_accounts(self) -> dict[Pubkey, bytes]:
        """Every account the program owns, as its bytes on chain now (the cache is not consulted)."""
        return dict(self.transport.program_accounts())

    def _decoded(self, key: Pubkey) -> tuple[str, dict[str, Any]] | None:
        """One program account as last written, its type and fields (`Layouts.read`: keys as bytes), read again if
        a transaction wrote it since."""
        if key in self._dirty:
            self._dirty.discard(key)
            self._refresh(key)
        found = self._cache.get(key)
        if found is None and key in self._data:
            found = self._cache[key] = self.layouts.read(self._data[key])
        return found

    def _flush(self) -> None:
        """Decode every account written since the last read. Decoding (the IDL coder, then the model objects) is
        two thirds of a step's cost and only reads need it, so writes mark accounts and reads decode them: the
        backend's chain sends many operations per `/v1/consistency`, the lockstep check reads after each."""
        self.advance(self.written())

    def _refresh(self, key: Pubkey) -> None:
        self.advance({key: self._keep(key, self.transport.account_data(key))})

    def _keep(self, key: Pubkey, data: bytes | None) -> bytes | None:
        """Keep `data` as the last read of the account at `key` (what building a transaction reads), or forget it
        where it is no Choir account (then None)."""
        self._cache.pop(key, None)
        if data is None or self.coder.account_name(data) is None:
            self._data.pop(key, None)
            return None
        self._data[key] = data
        return data

    def _decode(self, key: Pubkey, data: bytes) -> Decoded | None:
        """`decode_account` of `data`, the account at `key` now: the object decoded there last when these are the
        bytes it was decoded from and no actor was named since (decoding is a function of the bytes and the
        names), else decoded again. A transaction may mark an account it leaves as it was, and the whole
        comparison re-reads every account, most of them unchanged since their last read."""
        if self._object_bytes.get(key) == data and self._named_at.get(key) == len(self._names_by_bytes):
            return self._objects.get(key)
        return decode_account(self.layouts, data, self._name)

    def _store(self, key: Pubkey, data: bytes | None, decoded: Decoded | None) -> None:
        """Keep an account's model object and the bytes it was decoded from (`advance`)."""
        if data is None or decoded is None:
            self._objects.pop(key, None)
            self._object_bytes.pop(key, None)
        else:
            self._object_bytes[key] = data
            self._named_at[key] = len(self._names_by_bytes)
            self._remember(key, *decoded)

    def _genesis(self) -> None:
        authorities = [self.pubkey(n) for n in self.params.treasury_authorities]
        initialize = ix.initialize(self.program, self.transport.payer_key, self.params, authorities)
        self._last = initialize
        outcome = self.send([initialize], [])
        if not outcome.ok and self.error_name(outcome) == "AccountDiscriminatorAlreadySet":
            self._adopt_config()
        elif not outcome.ok:
            raise DriverError(f"initialize failed: {outcome.err}\n" + "\n".join(outcome.logs))

    def config_differences(self) -> dict[str, tuple[Any, Any]]:
        """Every stored field of the config account that is not what `params` say (field: (stored, wanted)): the
        parameters, the treasury multisig (its authorities in order, the unused slots empty) and the canonical
        bump. SPEC section 1's parameters are state too: a program that stores one wrongly is wrong even where no
        instruction reads it yet."""
        data = self.transport.account_data(self.pdas.config()[0])
        if data is None:
            return {"config": (None, "an initialized config account")}
        _, value = self.coder.decode_account(data, "Config")
        p = self.params
        authorities = [self.pubkey(n) for n in p.treasury_authorities]
        slots = len(value["authorities"])
        expected = {**config_args(p), "threshold": p.treasury_threshold, "authority_count": len(authorities),
                    "authorities": authorities + [Pubkey.default()] * (slots - len(authorities)),
                    "bump": self.pdas.config()[1]}  # fmt: skip
        return {k: (value[k], v) for k, v in expected.items() if value[k] != v}

    def layout_differences(self) -> dict[str, tuple[Any, Any]]:
        """What every program account stores beyond the snapshot, where it is not what it must be ("Kind
        address.field": (stored, wanted)): its address, which must be the one its stored seeds give (SPEC section
        9's PDAs: an account elsewhere, the config's too, is a stray or substituted one; it is reported under
        "Kind address.address (seeds ...)" with the address its seeds give); but for the config
        (`config_differences`), the canonical bump of its seeds (clients derive the address from
        it), and every slot past a count empty: a thread's co-authors, pending spec authors and the divest times
        of seats that never divested, a message's voters and votes, and the deadline of a message that has none.
        No instruction reads these, so only this check sees a wrong one.

        An account's layout is a function of its address and bytes, so the bytes last found right at an address
        are not looked at again (the lockstep asks every thousand steps, and most accounts are unchanged)."""
        out: dict[str, tuple[Any, Any]] = {}
        clean = self._layout_clean
        for key, (kind, value) in self.accounts(skip=clean).items():
            found = _layout_of(self.pdas, key, kind, value)
            if found:
                out.update(found)
            else:
                clean[key] = self._data[key]
        return out

    def _adopt_config(self) -> None:
        """A deployment initialized earlier: use it only if its config holds exactly our parameters."""
        differ = self.config_differences()
        if "config" in differ:
            raise DriverError("the program is initialized but its config account cannot be read")
        if differ:
            raise DriverError(f"the deployed program's config differs from the parameters (deployed, wanted): {differ}")
        # Earlier state, if any, joins the cache.
        self.advance({key: self._keep(key, data) for key, data in self.transport.program_accounts()})

    # -- the driver interface --------------------------------------------------------------------------------

    def apply(self, step: Step) -> str | None:
        """Apply one step; None when it succeeded, else the error name (SPEC section 7)."""
        if invalid_time(self.last_now, step.now, self.params) is not None:
            self.last_outcome = None  # no transaction
            return "InvalidTime"
        instructions = self._instructions(step)
        # Without real signatures (LiteSVM's sigverify off) the runtime needs only the message's signer flags,
        # which the instructions carry: looking up the keypairs would be wasted.
        signers = self._signers(instructions) if self.transport.signs else []
        outcome = self.send(instructions, signers, step.now)
        if not outcome.ok:
            return self.error_name(outcome)
        self.last_now = step.now
        return None

    def build(self, step: Step) -> tuple[list[Instruction], list[Keypair]]:
        """The instructions and signers (besides the fee payer) that carry out `step` in the current state."""
        instructions = self._instructions(step)
        return instructions, self._signers(instructions)

    @property
    def last_instruction(self) -> str:
        """The name of the last operation's instruction (named when asked: decoding it costs on every step)."""
        return "" if self._last is None else self.coder.instruction_name(self._last.data) or ""

    def _instructions(self, step: Step) -> list[Instruction]:
        builder = self._builders.get(type(step))
        if builder is None:
            raise DriverError(f"unsupported step {step!r}")
        self._keypair(step.actor)
        instructions = builder(step)
        if self.amend is not None:  # once: a neutral attack's change to this step's transaction
            instructions, self.amend = self.amend(instructions), None
        self._last = instructions[-1]
        return instructions

    def _signers(self, instructions: list[Instruction]) -> list[Keypair]:
        by_pubkey = self._by_pubkey
        return [by_pubkey[k] for k in ix.signers(instructions, self.transport.payer_key)]

    def _fund(self, step: Fund) -> list[Instruction]:
        me = self.pubkey(step.actor)
        out = []
        if self._decoded(self.pdas.member(me)[0]) is None:
            out.append(ix.open_member(self.program, self.transport.payer_key, me))
        authorities = [self.pubkey(n) for n in step.signers]
        return [*out, ix.fund_member(self.program, me, authorities, step.amount)]

    def _create_thread(self, step: CreateThread) -> list[Instruction]:
        me = self.pubkey(step.actor)
        return [ix.create_thread(self.program, self.transport.payer_key, me, step.thread, step.deposit)]

    def _submit_message(self, step: SubmitMessage) -> list[Instruction]:
        me, content_hash = self.pubkey(step.actor), bytes.fromhex(step.hash)
        payer = self.transport.payer_key
        return [ix.submit_message(self.program, payer, me, step.thread, content_hash, step.privacy)]

    def _submit_spec(self, step: SubmitSpec) -> list[Instruction]:
        me, content_hash = self.pubkey(step.actor), bytes.fromhex(step.hash)
        payer = self.transport.payer_key
        return [ix.submit_spec(self.program, payer, me, step.thread, content_hash, step.stake, step.privacy)]

    def _request_public(self, step: RequestPublic) -> list[Instruction]:
        return [ix.request_public(self.program, self.pubkey(step.actor), step.thread, bytes.fromhex(step.hash))]

    def _process_approval(self, step: ProcessApproval) -> list[Instruction]:
        content_hash = bytes.fromhex(step.hash)
        wallets = self._settling_voters(step.thread, content_hash)
        voter = self.pubkey(step.actor)
        return [ix.process_approval(self.program, voter, step.thread, content_hash, step.approve, wallets)]

    def _expire(self, step: Expire) -> list[Instruction]:
        return [ix.expire_approval(self.program, step.thread, bytes.fromhex(step.hash))]

    def _divest(self, step: Divest) -> list[Instruction]:
        return [ix.divest_tokens(self.program, self.pubkey(step.actor), step.thread, step.amount)]

    def _settling_voters(self, thread_id: str, content_hash: bytes) -> list[Pubkey]:
        """Every voter, in snapshot order, when this vote may settle the message (the last one); else none."""
        cached = self._decoded(self.pdas.message(self.pdas.thread(thread_id)[0], content_hash)[0])
        if cached is None:
            return []
        m = cached[1]
        if m["state"] != "Pending" or m["vote_count"] + 1 != m["voter_count"]:
            return []
        return [Pubkey.from_bytes(k) for k in keys_of(m["voters"], m["voter_count"])]

    # -- snapshots -------------------------------------------------------------------------------------------

    def accounts(self, skip: Mapping[Pubkey, bytes] | None = None) -> dict[Pubkey, tuple[str, dict[str, Any]]]:
        """Every Choir account of the program as last written: its type and fields (`Layouts.read`: keys as
        bytes); with `skip`, but those whose bytes are the very bytes `skip` holds for them."""
        self._flush()
        if skip is not None:
            out = {}
            for key, data in self._data.items():
                found = None if skip.get(key) is data else self._decoded(key)
                if found is not None:
                    out[key] = found
            return out
        for key in self._data.keys() - self._cache.keys():
            self._decoded(key)
        return self._cache

    def state(self, full: bool = False) -> ChoirState:
        """The program's accounts as a model state (the fields the snapshot schema reads)."""
        if full:
            decoded = ((key, self._decode(key, data)) for key, data in self.transport.program_accounts())
            objects = [(key, d) for key, d in decoded if d is not None]
        else:
            self._flush()
            objects = list(self._objects.items())
        try:
            return assemble(objects)
        except DecodeError as error:
            raise DriverError(str(error)) from None

    def _remember(self, key: Pubkey, kind: str, obj: Any) -> None:
        """Keep a decoded account and the snapshot entry it renders to (see `advance`)."""
        self._objects[key] = (kind, obj)
        entry = self._entry(kind, obj)
        if entry is not None:
            self._entries[entry] = key
            self._entry_of[key] = entry

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

    def written(self) -> dict[Pubkey, bytes | None]:
        """The accounts written since the last read (only writable accounts of a successful transaction can change
        on Solana), as their bytes now (None: no Choir account there), kept as their last read; their model
        objects wait for `advance`. The lockstep reads right after each transaction, and decodes and compares a
        whole window's reads after the transactions (`properties.lockstep`)."""
        dirty, self._dirty = self._dirty, set()
        read = self.transport.account_data
        return {key: self._keep(key, read(key)) for key in dirty}

    def advance(self, written: dict[Pubkey, bytes | None]) -> set[SnapshotKey]:
        """Make accounts read by `written` the model objects `held` and `state` answer with (the reads of one
        transaction after another, in order), and return their snapshot entries."""
        for key, data in written.items():
            self._store(key, data, None if data is None else self._decode(key, data))
        entries: set[SnapshotKey] = set()
        for key in written:  # after every decode: a message's entry names its thread, which may be new too
            found = self._objects.get(key)
            entry = self._entry_of.get(key) if found is None else self._entry(*found)
            if entry is not None:  # an account that no longer decodes names the entry it rendered (now: none)
                self._entries[entry] = key
                self._entry_of[key] = entry
                entries.add(entry)
        return entries

    def held(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Any]:
        """What the program's accounts hold (as last read) behind the named snapshot entries, in the shape of
        `properties.compare.entry_values`: the treasury's and a wallet's balance, the `Thread`, the `Message`
        (every stored field, privacy and pending seats included); None where it holds none."""
        out: dict[SnapshotKey, Any] = {}
        objects, entries = self._objects, self._entries
        for entry in keys:
            found = objects.get(entries.get(entry))  # type: ignore[arg-type]
            if found is None:
                out[entry] = None
            elif entry[0] == "wallets" or entry[0] == "messages":
                out[entry] = found[1][1]
            else:
                out[entry] = found[1]
        return out

    def snapshot(self, full: bool = False) -> dict[str, Any]:
        """The SPEC section 8 snapshot of the program's state."""
        return render_snapshot(self.state(full), self.params)

    def close(self) -> None:
        self.transport.close()
