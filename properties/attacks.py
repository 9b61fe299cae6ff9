"""Attacks: transaction-level corruptions of valid steps, and the `access_control` property (seeds: Impl_Security,
"Access control enforcement", "Thread ownership verification", "Token custody rules").

The property suite's operations are well-formed transactions built by our own client, so on their own they never
test the account checks where a Solana program's worst exploits live (a missing owner, signer or PDA check, an
account substituted for another). An attack takes a step that is valid in the current state, builds its
transaction with the driver's instruction builders, and applies exactly one corruption of one `AttackKind` (listed
in `KINDS`, each documented below). The oracle: the transaction must fail by one of the program's own checks (a
custom error code: a SPEC section 7 error or an Anchor framework code, never the runtime stopping a program that
read past its accounts or wrote what it may not: every input is hostile, and a program that leans on a crash has no
check there), by the check that guards what the corruption breaks wherever that is determined (`expected_error`:
a refusal by some later check means the guard for it is missing or wrong), and change nothing (every byte, owner
and lamport of every account it names equal before and after: the runtime lets a transaction write no other, see
`run_attack`); the model is not stepped (its state is untouched). Anything else is a
violation of `access_control`, shrunk and written as a trace like any other failure.

A few kinds are *neutral*: something an attacker can do around a valid step that must not change its outcome
(`NEUTRAL`, for example lamports sent to an address before the step creates an account there). For those the
step runs in lockstep as usual and the model's answer is the oracle.

An attack is a trace record of its own, `{"op": "attack", "kind": ..., "arg": ..., "step": {the valid step}}`:
`kind` and `arg` fix every choice, and the corrupted transaction is rebuilt from the program's state when it is
replayed, so a shrunk trace replays anywhere the program runs in LiteSVM. Drivers that cannot express an attack
(the model, the backend, a program over JSON-RPC) skip it.

Choices are made at generation time from the model's state only (`attack_choices`), through the generator's
`Source`, so attacks shrink and replay like steps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from choir_model import Model, Step
from choir_model.ops import divest_bound, invalid_time
from choir_model.params import U64_MAX
from choir_model.steps import CreateThread, Divest, Fund, ProcessApproval
from choir_model.trace import TraceError, read_trace, step_from_json, step_result
from properties.field_attacks import bad_field, field_choices
from properties.genesis_attacks import ACCEPTED, REFUSALS, accept, refuse
from properties.wallet_attacks import later_wallet, later_wallet_choices, later_wallet_refused_by

if TYPE_CHECKING:
    from solders.account import Account
    from solders.instruction import Instruction
    from solders.keypair import Keypair
    from solders.pubkey import Pubkey

ATTACK_ONE_IN = 10
"""The steady share of attacks among the steps of a target that can run them: one valid step in ten."""

EACH_CHOICE = ("bad_data", "bad_field", "missing_account", "repeated_instruction", "settlement_wallets")
"""Kinds whose every choice meets another check of each instruction (the dispatcher, the instruction's own parser
or account count, each argument's domain, a SPEC guard that depends on the state, the settling vote's count, order
and existence of its wallets), so each is tried on each operation, not just one."""
RARE = ("absent_wallet", "settlement_wallets", "later_wallet", "fund_cosigners", "noncanonical_bump",
        "wrong_cpi_program", "impostor_signer", "invalid_utf8", "prefunded", "initialize")  # fmt: skip
OWN_INSTRUCTION = ("initialize", "open_member")
"""Kinds that send an instruction of their own (a genesis, a member's wallet) instead of their base step's: which of
their choices a world has tried is counted per kind, not per operation, since the base step's operation changes
nothing of what they test."""
IMPOSTOR = "mallory"  # a name the generator never funds: never a co-author, voter or authority
SPONSOR = "sponsor"  # another payer than the transport's: the fee payer always signs and is writable

# The operation's instruction and the roles of its accounts (programs/choir/idl.json).
INSTRUCTION = {"fund": "fund_member", "create_thread": "create_thread", "submit_message": "submit_message",
               "request_public": "request_public", "submit_spec": "submit_spec", "expire": "expire_approval",
               "process_approval": "process_approval", "divest": "divest_tokens"}  # fmt: skip
# Roles that hold an existing program account whenever the step is valid.
EXISTING = {"fund": ("config", "treasury"), "create_thread": ("config", "member"), "submit_message": ("thread",),
            "request_public": ("config", "thread", "message"), "submit_spec": ("config", "member", "thread"),
            "process_approval": ("treasury", "thread", "message"), "expire": ("treasury", "thread", "message"),
            "divest": ("config", "member", "thread")}  # fmt: skip
CREATED = {"create_thread": "thread", "submit_message": "message", "submit_spec": "message"}
SIGNER = {"create_thread": "creator", "submit_message": "author", "request_public": "author", "submit_spec": "author",
          "process_approval": "voter", "divest": "co_author"}  # fmt: skip
WRITABLE = {"fund": ("treasury", "member"), "create_thread": ("member", "thread"),
            "submit_message": ("thread", "message"), "request_public": ("thread", "message"),
            "submit_spec": ("member", "thread", "message"), "process_approval": ("treasury", "thread", "message"),
            "expire": ("treasury", "thread", "message"), "divest": ("member", "thread")}  # fmt: skip
# The error a second copy of a valid step meets right after it, where it does not depend on the state (SPEC
# section 3: the id is taken, the hash is a message already, the message is no longer Private or Pending).
REPEATED_REFUSAL = {"create_thread": "ThreadExists", "submit_message": "DuplicateContent",
                    "submit_spec": "DuplicateContent", "request_public": "StateConflict",
                    "expire": "StateConflict"}  # fmt: skip
WALLET_BOUND = ("create_thread", "submit_spec", "divest")  # the signer's own wallet is one of the accounts
NEUTRAL = ("prefunded", "repeated_account", "extra_account", "genesis")
"""Kinds that must not change the step's outcome: the step runs in lockstep and the model's answer is the oracle."""
# Thread ids that are not UTF-8 (RFC 3629, what the program's validator enforces), one per rule, each after a
# valid two-byte character (`UTF8_PREFIX`: a validator that loses its place after a longer character is caught
# too), and one whose first character is ASCII (`ascii_first`: a validator that loses its place after a one-byte
# character accepts what follows unread): a thread id is a string (SPEC section 1), so no such bytes may ever name
# a thread.
UTF8_PREFIX = "\u00e9".encode()
BAD_UTF8 = {
    **{
        rule: UTF8_PREFIX + tail
        for rule, tail in {
            "lone_continuation": b"\x80",
            "bad_lead": b"\xf8\x88\x80\x80\x80",
            "bad_continuation": b"\xe2\x28\xa1",
            "truncated": b"\xe2\x82",
            "truncated_4": b"\xf0\x9f\x98",
            "overlong_2": b"\xc1\xbf",
            "overlong_3": b"\xe0\x9f\xbf",
            "overlong_4": b"\xf0\x8f\xbf\xbf",
            "surrogate_first": b"\xed\xa0\x80",
            "surrogate_last": b"\xed\xbf\xbf",
            "above_max": b"\xf4\x90\x80\x80",
        }.items()
    },
    "ascii_first": b"a\x80",
}
OPEN_MEMBER = ("not_pda", "noncanonical_bump", "missing_system_program")  # and `again` for a wallet that exists
# Lamports sent to the address first: below any rent minimum, exactly the minimum for the account created there
# (None), and above any.
PREFUND: dict[str, int | None] = {"dust": 1, "exact": None, "excess": 10**9}
FOREIGN = ("", ":empty", ":system")  # a copy owned by another program, an empty one, a copy the system program owns
PLANTED = {"short": 7, "header": 8, "zeroed": None}  # data sizes of a planted account (None: the real account's)
EXTRA_SIZES = ("1", "7")  # data sizes of an extra account that no 8-byte alignment of the input rounds away
DEPLOYER = "deployer"  # the upgrade authority of the fresh deployments `initialize` attacks
MAX_AUTHORITIES = 3  # SPEC section 3 (fund): up to 3 treasury authorities, however many the parameters name
# Parameters SPEC section 1 rules out (`Params.validate` refuses each), one field at a time: (field, value) where
# the value is a function of the valid parameters.
BAD_PARAMS: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
    "zero_supply": ("total_supply", lambda p: 0),
    "zero_min_stake": ("min_stake", lambda p: 0),
    "min_stake_above_supply": ("min_stake", lambda p: p["total_supply"] + 1),
    "zero_min_thread_balance": ("min_thread_balance", lambda p: 0),
    "min_thread_balance_above_supply": ("min_thread_balance", lambda p: p["total_supply"] + 1),
    "negative_window": ("approval_window", lambda p: -1),
    "negative_cooldown": ("divest_cooldown", lambda p: -1),
    "zero_max_coauthors": ("max_coauthors", lambda p: 0),
    "max_coauthors_above_layout": ("max_coauthors", lambda p: 33),
    "zero_max_pending": ("max_pending", lambda p: 0),
    "zero_thread_id_max": ("thread_id_max", lambda p: 0),
    "thread_id_max_above_seed": ("thread_id_max", lambda p: 33),
}
ABOVE_SUPPLY = ("min_stake_above_supply", "min_thread_balance_above_supply")  # no u64 is above a supply of U64_MAX
# The rest of the corruptions of a fresh deployment's initialize, besides BAD_PARAMS (see `_initialize`).
INITIALIZE = ("again", "payer_not_authority", "attacker_program_data", "other_program", "payer_unsigned",
              "config_not_pda", "treasury_not_pda", "config_noncanonical", "treasury_noncanonical",
              "wrong_system_program", "config_read_only", "treasury_read_only", "missing_program_data",
              "truncated", "extended", "no_authorities", "four_authorities", "repeated_authority",
              "zero_threshold", "threshold_above_authorities", *BAD_PARAMS, *REFUSALS)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Attack(Step):
    """One attack: `base` (a step valid when generated) corrupted by `KINDS[kind]` with the choice `arg`."""

    op: ClassVar[str] = "attack"
    kind: str
    arg: str
    base: Step

    @classmethod
    def of(cls, kind: str, arg: str, base: Step) -> Attack:
        return cls(base.actor, base.now, kind, arg, base)

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "kind": self.kind, "arg": self.arg, "step": self.base.to_json()}


# -- generation: which corruptions apply to a valid step, from the model's state only ---------------------------


def _existing_roles(model: Model, base: Step) -> tuple[str, ...]:
    """Roles holding an existing program account. A fund's new wallet is opened by an instruction of the same
    transaction, which also makes it writable there (flags are per transaction), so it is not one of them."""
    roles = EXISTING[base.op]
    if base.op == "fund" and base.actor in model.state.wallets:  # the recipient's wallet exists already
        roles = (*roles, "member")
    return roles


def _created(op: str) -> tuple[str, ...]:
    """The role of the account operation `op` creates, if it creates one."""
    return (CREATED[op],) if op in CREATED else ()


def _new_accounts(model: Model, base: Step) -> tuple[str, ...]:
    """Roles of the accounts the step creates: its thread or message, or a fund's new wallet."""
    if base.op == "fund" and base.actor not in model.state.wallets:
        return ("member",)
    return _created(base.op)


def _first_others(names: Iterable[str], own: str | None, n: int = 4) -> tuple[str, ...]:
    """The first `n` of `names` in order, `own` left out (sorting the keys as they are is C's work; filtering them
    first was a Python call per key)."""
    return tuple(name for name in sorted(names)[: n + 1] if name != own)[:n]


def _other_wallets(model: Model, base: Step) -> tuple[str, ...]:
    return _first_others(model.state.wallets, base.actor)


def _other_threads(model: Model, base: Step) -> tuple[str, ...]:
    return _first_others(model.state.threads, base.thread_id)


def _other_messages(model: Model, base: Step) -> tuple[str, ...]:
    threads = model.state.threads
    return tuple(f"{t}/{min(threads[t].messages)}" for t in _other_threads(model, base) if threads[t].messages)


def _same_thread_messages(model: Model, base: Step) -> tuple[str, ...]:
    thread = model.state.threads.get(base.thread_id)  # type: ignore[arg-type]
    return () if thread is None else tuple(sorted(thread.messages))[:4]


def _unnamed_account(model: Model, base: Step) -> bool:
    """Whether the program holds an account `base`'s transaction does not name, besides the config and the
    treasury (a fake one's stand-in): a fund names every account there is until another wallet or a thread
    exists (under parameters that let only one wallet be funded, never)."""
    return base.op != "fund" or bool(_other_wallets(model, base) or model.state.threads)


def _multisig(model: Model, base: Step) -> bool:
    """A fund whose first co-signer is an authority, under a threshold above one: keeping that one signature
    alone must then be refused."""
    params = model.params
    return (isinstance(base, Fund) and params.treasury_threshold > 1 and bool(base.signers)
            and base.signers[0] in params.treasury_authorities)  # fmt: skip


def _settling_approval(model: Model, base: Step) -> bool:
    """The last, unanimous approval of a spec: the vote that reads the voters' wallets (only then is a wrong
    wallet list an attack rather than ignored), even when its shares S // A are 0 (SPEC section 4)."""
    if not isinstance(base, ProcessApproval) or not base.approve:
        return False
    message = model.state.threads[base.thread].messages[base.hash]
    voters = message.voters
    return (len(message.votes) + 1 == len(voters) and all(message.votes.values())
            and message.stake > 0)  # fmt: skip


def _repeated_refusal(model: Model, base: Step) -> tuple[str, ...]:
    """The SPEC section 3 error a second copy of the valid step `base` meets right after it, as the one choice of
    `repeated_instruction`; none for a fund (two are two funds) or a divest the cooldown and the bound both let
    through again."""
    if base.op == "fund":
        return ()
    if isinstance(base, ProcessApproval):
        message = model.state.threads[base.thread].messages[base.hash]
        return ("StateConflict",) if len(message.votes) + 1 == len(message.voters) else ("AlreadyVoted",)
    if isinstance(base, Divest):
        thread = model.state.threads[base.thread]
        if divest_bound(thread.balance - base.amount, len(thread.co_authors), model.params) < base.amount:
            return ("BelowMinimumBalance",)
        return ("CooldownActive",) if model.params.divest_cooldown > 0 else ()
    return (REPEATED_REFUSAL[base.op],)


def _payer(op: str) -> tuple[str, ...]:
    """The payer role, in the operations that create an account (it pays the rent)."""
    return ("payer",) if op in CREATED else ()


def _not_the_programs(base: Step) -> tuple[str, ...]:
    """Roles of the step's accounts that the program does not own: its signer, the system program, a co-signer."""
    signer = (SIGNER[base.op],) if base.op in SIGNER else ()
    return (
        *signer,
        *(("system_program",) if base.op in CREATED else ()),
        *(("co_signer",) if base.op == "fund" else ()),
    )


# The choices that are functions of an operation's roles alone, worked out once for each (a valid step asks for
# them on every step).


@cache
def _foreign_owner_choices(roles: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{role}{how}" for role in roles for how in FOREIGN)


@cache
def _planted_choices(roles: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{role}:{how}" for role in roles for how in PLANTED)


@cache
def _duplicate_choices(roles: tuple[str, ...], created: tuple[str, ...]) -> tuple[str, ...]:
    """An account passed again in another role (`x=y`), or once more at the end of the accounts (`+y`)."""
    return (*(f"{x}={y}" for x in (*roles, *created) for y in roles if x != y), *(f"+{y}" for y in roles))


@cache
def _read_only_choices(op: str, roles: tuple[str, ...]) -> tuple[str, ...]:
    """The writable roles of `op` that hold an account (an existing or a created one), and its payer."""
    return (*(r for r in WRITABLE[op] if r in (*roles, *_created(op))), *_payer(op))


@cache
def _singleton_roles(op: str) -> tuple[str, ...]:
    """The roles of `op` that hold the config or the treasury."""
    return tuple(r for r in ("config", "treasury") if r in EXISTING[op])


@cache
def _not_pda_choices(op: str) -> tuple[str, ...]:
    return (*_created(op), *_singleton_roles(op))


@cache
def _initialize_choices(below_max_supply: bool) -> tuple[str, ...]:
    return tuple(a for a in INITIALIZE if a not in ABOVE_SUPPLY or below_max_supply)


ON: dict[str, tuple[str, ...]] = {
    "other_member": WALLET_BOUND,
    "other_thread": (*CREATED, "request_public", "process_approval", "expire"),
    "other_thread_message": tuple(op for op, roles in WRITABLE.items() if "message" in roles),
    "other_message": tuple(op for op, role in CREATED.items() if role == "message"),
    "absent_wallet": ("divest",),
    "noncanonical_bump": tuple(CREATED),
    "fake_config_treasury": tuple(op for op, roles in EXISTING.items() if "config" in roles or "treasury" in roles),
    "wrong_cpi_program": tuple(CREATED),
    "dropped_signer": tuple(op for op in INSTRUCTION if op in SIGNER or op in CREATED),
    "impostor_signer": WALLET_BOUND,
    "settlement_wallets": ("process_approval",),
    "later_wallet": ("process_approval",),
    "fund_cosigners": ("fund",),
    "invalid_utf8": ("create_thread",),
    "prefunded": ("fund", *CREATED),
    "repeated_account": tuple(op for op in INSTRUCTION if op in SIGNER or op in CREATED or op == "fund"),
    "repeated_instruction": tuple(op for op in INSTRUCTION if op != "fund"),
}
"""The operations a kind can apply to, where not every one: the only ones its `CHOICES` function is asked about
(`kinds_on`). A kind whose accounts or arguments a step's instruction does not have (a settling vote's wallets on a
divest, a created account's bump on a vote) has no choices there whatever the state, and a valid step would
otherwise work that out for each such kind every time (most of the choice functions' calls in a campaign)."""

CHOICES: dict[str, Callable[[Model, Step], tuple[str, ...]]] = {
    "other_member": _other_wallets,
    "other_thread": _other_threads,
    "other_thread_message": _other_messages,
    "other_message": _same_thread_messages,
    "foreign_owner": lambda m, b: _foreign_owner_choices(_existing_roles(m, b)),
    "planted_account": lambda m, b: _planted_choices(_existing_roles(m, b)),
    "not_pda": lambda m, b: _not_pda_choices(b.op),
    "absent_wallet": lambda m, b: ("member",),
    "noncanonical_bump": lambda m, b: _created(b.op),
    "fake_config_treasury": lambda m, b: _singleton_roles(b.op) if _unnamed_account(m, b) else (),
    "wrong_cpi_program": lambda m, b: ("noop", "self"),
    "dropped_signer": lambda m, b: (*((SIGNER[b.op],) if b.op in SIGNER else ()), *_payer(b.op)),
    "impostor_signer": lambda m, b: (SIGNER[b.op],),
    "duplicate_account": lambda m, b: _duplicate_choices(_existing_roles(m, b), _created(b.op)),
    "settlement_wallets": lambda m, b: (
        ("swapped", "missing", "foreign", "inserted") if _settling_approval(m, b) else ()
    ),
    "later_wallet": lambda m, b: later_wallet_choices(m, b, IMPOSTOR) if _settling_approval(m, b) else (),
    "fund_cosigners": lambda m, b: ("repeated", "outsider", "unsigned") if _multisig(m, b) else (),
    "bad_data": lambda m, b: ("truncated", "extended", "retyped"),
    "bad_field": lambda m, b: field_choices(INSTRUCTION[b.op]),
    "read_only": lambda m, b: _read_only_choices(b.op, _existing_roles(m, b)),
    "missing_account": lambda m, b: ("last", "all"),
    "invalid_utf8": lambda m, b: tuple(BAD_UTF8),
    "prefunded": lambda m, b: tuple(PREFUND) if _new_accounts(m, b) else (),
    "repeated_account": lambda m, b: _not_the_programs(b),
    "extra_account": lambda m, b: EXTRA_SIZES,
    "open_member": lambda m, b: (*OPEN_MEMBER, *(("again",) if b.actor in m.state.wallets else ())),
    "repeated_instruction": _repeated_refusal,
    "initialize": lambda m, b: _initialize_choices(m.params.total_supply < U64_MAX),
    "genesis": lambda m, b: ACCEPTED,
}


@cache
def kinds_on(op: str) -> tuple[str, ...]:
    """The kinds that can apply to operation `op` (`ON`), in `KINDS` order."""
    return tuple(kind for kind in KINDS if op in ON.get(kind, (op,)))


def attack_choices(model: Model, base: Step, kinds: Iterable[str] | None = None) -> list[tuple[str, tuple[str, ...]]]:
    """Every kind (of `kinds`, default all: of `kinds_on(base.op)`) that applies to `base` in the model's current
    state, with its possible choices."""
    out = []
    for kind in kinds_on(base.op) if kinds is None else kinds:
        args = CHOICES[kind](model, base)
        if args:
            out.append((kind, args))
    return out


class Source(Protocol):
    def index(self, n: int) -> int: ...


def source_pick(source: Source, options: Sequence[str]) -> str:
    return options[source.index(len(options))]


def _valid_but_for_its_id(model: Model, step: Step) -> bool:
    """A create_thread the model refuses only because its id is taken: `invalid_utf8` replaces the id, so it
    attacks these too (a world has only a few valid thread ids, so valid creations are rare)."""
    if not isinstance(step, CreateThread) or step.thread not in model.state.threads:
        return False
    free = next(f"t{n}" for n in itertools.count() if f"t{n}" not in model.state.threads)
    return model.refusal(dataclasses.replace(step, thread=free)) is None


def base_is_valid(model: Model, attack: Attack) -> bool:
    """Whether the attack's base step is valid in the model's state now, as it was when the attack was generated
    (for `invalid_utf8`, valid but for its id, which the attack replaces). An `initialize` sends genesis, not its
    base step, nor an `open_member`, so their base never matters."""
    if attack.kind in ("initialize", "open_member") or model.refusal(attack.base) is None:
        return True
    return attack.kind == "invalid_utf8" and _valid_but_for_its_id(model, attack.base)


SHARES = 8
"""Runs of a soak take turns at going first through a kind's choices: run r first draws among the choices whose
position in the kind's list is r modulo `SHARES`, then among all of them (`mix_attack`'s `share`). A run makes about
ten attacks of a kind with many choices, such as `initialize`'s 37 corrupt geneses, so without turns each run drew
ten of them at random, and one a bug needs was missed by every run of a 10-run soak at about one seed in twenty;
with turns, any eight consecutive runs try every choice first at least once. A constant, not the soak's run count,
so that a soak split into pieces of whole runs stays the same soak."""


def mix_attack(
    model: Model, source: Source, step: Step, tried: Counter[tuple[str, ...]], share: int | None = None
) -> Step:
    """`step`, or an attack on it when it is valid now (the model says so): one time in `ATTACK_ONE_IN`, and one
    time in two when a kind this world has not tried yet on this operation applies (that kind, then: each
    instruction has checks of its own, its account count and its data's parser among them, so a kind tried on one
    instruction says nothing of another; and a kind only a rare step allows, such as `settlement_wallets` on the
    vote that settles a spec, is reached in every world that has such a step). `tried` counts what this world has
    attacked with so far (and is updated), by kind, by (kind, operation) and by (kind, operation, choice): half of
    the attacks go to a kind tried least on this operation among those that apply, so a kind that only some steps
    allow is not crowded out by the kinds that apply to every step; of the rest, attacks that only a rare step
    allows get half of that step's attacks. The choice is one tried least with this kind on this operation (on any,
    for the kinds of `OWN_INSTRUCTION`), one of the world's `share` of the choices (`SHARES`) while any of those is
    among them."""
    roll = source.index(ATTACK_ONE_IN) == ATTACK_ONE_IN - 1
    op = step.op
    if model.refusal(step) is not None:
        if not roll or not _valid_but_for_its_id(model, step):
            return step
        kind, choices = "invalid_utf8", tuple(BAD_UTF8)
    else:
        # Without a roll only the kinds untried on this operation can be drawn: the others' choices are not worked out.
        # `tried.get`, not `tried[...]`: a Counter answers a missing key through `__missing__`, a Python call.
        seen = tried.get
        open_kinds = None if roll else [kind for kind, key in _kind_keys(op) if key is None or not seen(key)]
        applicable = attack_choices(model, step, open_kinds)
        # Without a roll, an open kind not of `EACH_CHOICE` is untried here: that is why it is open.
        untried = [c for c in applicable if (not roll and c[0] not in EACH_CHOICE) or _untried(tried, op, *c)]
        if untried and source.index(2) == 0:
            kind, choices = untried[source.index(len(untried))]
        elif roll:
            kind, choices = _pick_kind(applicable, source, tried, op)
        else:
            return step
    at = "*" if kind in OWN_INSTRUCTION else op
    counts = [tried[(kind, at, arg)] for arg in choices]
    fewest = min(counts)
    least = [i for i, n in enumerate(counts) if n == fewest]
    if share is not None:
        least = [i for i in least if i % SHARES == share] or least
    arg = source_pick(source, [choices[i] for i in least])
    tried[(kind,)] += 1
    tried[(kind, op)] += 1
    tried[(kind, at, arg)] += 1
    return Attack.of(kind, arg, step)


@cache
def _kind_keys(op: str) -> tuple[tuple[str, tuple[str, str] | None], ...]:
    """Every kind that can apply to operation `op` (`kinds_on`) with its `tried` key there, None for the kinds of
    `EACH_CHOICE` (always open): built once per operation instead of on every valid step."""
    return tuple((kind, None if kind in EACH_CHOICE else (kind, op)) for kind in kinds_on(op))


def _untried(tried: Counter[tuple[str, ...]], op: str, kind: str, choices: tuple[str, ...]) -> bool:
    """Whether this world has not tried `kind` on operation `op` yet, or (a kind of `EACH_CHOICE`) one of its
    `choices` there."""
    seen = tried.get
    if not seen((kind, op)):
        return True
    return kind in EACH_CHOICE and any(not seen((kind, op, arg)) for arg in choices)


def _pick_kind(
    choices: list[tuple[str, tuple[str, ...]]], source: Source, tried: Counter[tuple[str, ...]], op: str
) -> tuple[str, tuple[str, ...]]:
    if source.index(2) == 0:
        fewest = min(tried[(kind, op)] for kind, _ in choices)
        choices = [choice for choice in choices if tried[(choice[0], op)] == fewest]
    else:
        rare = [choice for choice in choices if choice[0] in RARE]
        if rare and source.index(2) == 0:
            choices = rare
    return choices[source.index(len(choices))]


# -- execution on the program ------------------------------------------------------------------------------------


class Tx:
    """The transaction of a valid step under corruption: the operation's instruction is the last one."""

    def __init__(self, env: AttackEnv, base: Step) -> None:
        from solders.instruction import AccountMeta

        self.env = env
        self.base = base
        instructions, signers = env.driver.build(base)
        self.instructions: list[Instruction] = list(instructions)
        self.signers: list[Keypair] = list(signers)
        ix = self.instructions[-1]
        self.name = INSTRUCTION[base.op]
        self.roles = [a.name for a in env.driver.coder.instructions[self.name].accounts]
        self.metas: list[AccountMeta] = list(ix.accounts)
        self.data = bytes(ix.data)
        self.copies = 1  # how many times the (corrupted) instruction is sent in the transaction

    def index(self, role: str) -> int:
        return self.roles.index(role)

    def key(self, role: str) -> Pubkey:
        return self.metas[self.index(role)].pubkey

    def put(self, role: str, key: Pubkey, *, signer: bool | None = None, writable: bool | None = None) -> None:
        from solders.instruction import AccountMeta

        i = self.index(role)
        old = self.metas[i]
        self.metas[i] = AccountMeta(key, old.is_signer if signer is None else signer,
                                    old.is_writable if writable is None else writable)  # fmt: skip

    def finish(self) -> list[Instruction]:
        from solders.instruction import Instruction

        program_id = self.instructions[-1].program_id
        return [*self.instructions[:-1], *[Instruction(program_id, self.data, self.metas)] * self.copies]


def _args(tx: Tx) -> dict[str, Any]:
    return tx.env.driver.coder.decode_instruction(tx.data)[1]


def _encode(tx: Tx, args: dict[str, Any]) -> None:
    tx.data = tx.env.driver.coder.encode_instruction(tx.name, args)


def _other_member(tx: Tx, arg: str) -> None:
    """Another user's wallet (an existing member account) in place of the signer's own."""
    tx.put("member", tx.env.member(arg))


def _other_thread(tx: Tx, arg: str) -> None:
    """Another existing thread's account in place of the step's thread."""
    tx.put("thread", tx.env.driver.pdas.thread(arg)[0])


def _other_thread_message(tx: Tx, arg: str) -> None:
    """A message of another thread in place of the step's message (existing or to be created)."""
    thread_id, _, content_hash = arg.partition("/")
    pdas = tx.env.driver.pdas
    tx.put("message", pdas.message(pdas.thread(thread_id)[0], bytes.fromhex(content_hash))[0])


def _other_message(tx: Tx, arg: str) -> None:
    """Another existing message of the step's own thread (content hash `arg`) at the address of the message the
    step creates: a forged address that holds a real message of this thread, which is not this hash's message
    (only the canonical address of an existing hash is `DuplicateContent`)."""
    pdas = tx.env.driver.pdas
    tx.put("message", pdas.message(pdas.thread(tx.base.thread_id)[0], bytes.fromhex(arg))[0])


def _foreign_owner(tx: Tx, arg: str) -> None:
    """An account the program does not own in role `role` of `role[:how]`: another program's holding a copy of the
    valid account's bytes, another program's `:empty` one, or a copy the `:system` program owns (an account the
    attacker allocated for their own keypair): none of them is an account not yet created."""
    role, _, how = arg.partition(":")
    tx.put(role, tx.env.foreign_copy(tx.key(role), how))


def _planted_account(tx: Tx, arg: str) -> None:
    """An account this program owns but never wrote, in role `role` of `role:how`: anyone can create one (the
    system program's CreateAccount takes any owner), zeroed, `short` of a discriminator, a bare 8-byte `header`,
    or `zeroed` at the real account's size."""
    role, _, how = arg.partition(":")
    tx.put(role, tx.env.planted(tx.key(role), how))


def _not_pda(tx: Tx, arg: str) -> None:
    """An address that is not the PDA the role's seeds give (an empty one: nothing can be created or read there)."""
    tx.put(arg, tx.env.address(b"not a pda", tx.key(arg)))


def _absent_wallet(tx: Tx, arg: str) -> None:
    """A co-author's divest with an address that holds no account as their wallet (an absent wallet reads as an
    empty one, so only the check that a divest's wallet exists refuses it)."""
    _not_pda(tx, arg)


def _lower_bump(tx: Tx, role: str, seeds: list[bytes], field: str) -> None:
    """Role `role` at the next lower bump of `seeds` that gives a (valid, off-curve) address, written to the
    argument `field`."""
    from solders.pubkey import Pubkey

    args = _args(tx)
    program_id = tx.instructions[-1].program_id
    for bump in range(args[field] - 1, -1, -1):
        try:
            address = Pubkey.create_program_address([*seeds, bytes([bump])], program_id)
        except Exception:  # solders raises a bare error for an on-curve address
            continue
        args[field] = bump
        _encode(tx, args)
        tx.put(role, address)
        return


def _noncanonical_bump(tx: Tx, arg: str) -> None:
    """A non-canonical bump of the right seeds, with the (valid, off-curve) address it gives."""
    _lower_bump(tx, arg, tx.env.seeds(tx.base, arg), "bump")


def _fake_config_treasury(tx: Tx, arg: str) -> None:
    """A fake config or treasury: one of the program's accounts of another type (right owner, wrong layout) that
    the transaction does not name already."""
    named = {meta.pubkey for meta in tx.metas}
    accounts = tx.env.driver.accounts()
    fake = next(key for key in sorted(accounts, key=bytes) if key not in named and accounts[key][0] != arg.title())
    tx.put(arg, fake)


def _wrong_cpi_program(tx: Tx, arg: str) -> None:
    """Another program in the system program's role, so account creation calls it: one that accepts every
    instruction (`noop`), or this program itself (`self`)."""
    tx.put("system_program", tx.env.noop() if arg == "noop" else tx.env.driver.coder.program_id)


def _dropped_signer(tx: Tx, arg: str) -> None:
    """The acting user's account without its signer flag (and no signature); for the `payer`, another funded
    account that does not sign (the transport's payer also pays the fee, so it always signs)."""
    if arg == "payer":
        tx.put(arg, tx.env.funded(SPONSOR), signer=False)
        return
    key = tx.key(arg)
    tx.put(arg, key, signer=False)
    tx.signers = [s for s in tx.signers if s.pubkey() != key]


def _impostor_signer(tx: Tx, arg: str) -> None:
    """Someone else signs in the actor's role, with the actor's wallet still passed."""
    impostor = tx.env.keypair(IMPOSTOR)
    tx.put(arg, impostor.pubkey(), signer=True)
    tx.signers.append(impostor)


def _duplicate_account(tx: Tx, arg: str) -> None:
    """One program account in two roles: `x=y` puts role y's account in role x too; `+y` passes role y's account
    once more after all the others, where the instruction reads nothing (the program refuses any program account
    passed twice, so that no state is read through one role and written through another)."""
    from solders.instruction import AccountMeta

    if arg.startswith("+"):
        tx.metas.append(AccountMeta(tx.key(arg[1:]), False, True))
        return
    x, _, y = arg.partition("=")
    tx.put(x, tx.key(y))


def _settlement_wallets(tx: Tx, arg: str) -> None:
    """Wallets of the settling vote that are not the voters' in snapshot order: two `swapped` (or, with one voter,
    a `foreign` one), the last `missing`, one replaced by a non-voter's (`foreign`), or one `inserted` first."""
    from solders.instruction import AccountMeta

    fixed, wallets = tx.metas[: len(tx.roles)], tx.metas[len(tx.roles) :]
    outsider = AccountMeta(tx.env.member(IMPOSTOR), False, True)
    if arg == "swapped" and len(wallets) > 1:
        wallets[0], wallets[1] = wallets[1], wallets[0]
    elif arg == "missing":
        wallets = wallets[:-1]
    elif arg == "inserted":
        wallets = [outsider, *wallets]
    else:
        wallets[-1] = outsider
    tx.metas = fixed + wallets


def _fund_cosigners(tx: Tx, arg: str) -> None:
    """Treasury co-signers below the threshold in disguise: one authority `repeated`, an `outsider` signing as
    the second, or the second authority passed `unsigned`."""
    from solders.instruction import AccountMeta

    first = tx.metas[len(tx.roles)]
    if arg == "repeated":
        second = first
    elif arg == "outsider":
        second = AccountMeta(tx.env.keypair(IMPOSTOR).pubkey(), True, False)
    else:
        second = AccountMeta(tx.metas[len(tx.roles) + 1].pubkey, False, False)
    tx.metas = [*tx.metas[: len(tx.roles)], first, second]
    tx.signers = [s for s in tx.signers if s.pubkey() == first.pubkey]
    if arg == "outsider":
        tx.signers.append(tx.env.keypair(IMPOSTOR))


def _bad_data(tx: Tx, arg: str) -> None:
    """Instruction data `truncated` by a byte, `extended` by one, or `retyped` (another instruction's
    discriminator in front of these arguments and accounts)."""
    if arg == "truncated":
        tx.data = tx.data[:-1]
    elif arg == "extended":
        tx.data = tx.data + b"\0"
    else:
        names = list(INSTRUCTION.values())
        other = names[(names.index(tx.name) + 1) % len(names)]
        tx.data = tx.env.driver.coder.instructions[other].discriminator + tx.data[8:]


def _read_only(tx: Tx, arg: str) -> None:
    """An account the instruction writes, passed read-only; for the `payer`, another funded account that signs
    (the transport's payer also pays the fee, so it is always writable)."""
    if arg == "payer":
        tx.put(arg, tx.env.funded(SPONSOR), signer=True, writable=False)
        tx.signers.append(tx.env.keypair(SPONSOR))
        return
    tx.put(arg, tx.key(arg), writable=False)


def _missing_account(tx: Tx, arg: str) -> None:
    """Too few accounts: the instruction's `last` one left out (with everything after it), or `all` of them."""
    tx.metas = tx.metas[: len(tx.roles) - 1] if arg == "last" else []


def _invalid_utf8(tx: Tx, arg: str) -> None:
    """A thread id that is not UTF-8 (`BAD_UTF8[arg]`), at its canonical PDA, with a
    deposit whose low byte would continue a cut-short sequence (a reader that ran past the id would find one)."""
    from solders.pubkey import Pubkey

    args = _args(tx)
    raw = BAD_UTF8[arg]
    address, bump = Pubkey.find_program_address([b"thread", raw], tx.env.driver.coder.program_id)
    deposit = args["deposit"]
    continued = deposit - (deposit & 0xFF) + 0x80
    if continued > deposit:
        continued -= 0x100
    if continued >= tx.env.driver.params.min_thread_balance:
        deposit = continued
    tx.put("thread", address)
    discriminator = tx.env.driver.coder.instructions[tx.name].discriminator
    tx.data = discriminator + len(raw).to_bytes(4, "little") + raw + deposit.to_bytes(8, "little") + bytes([bump])


def _repeated_instruction(tx: Tx, arg: str) -> None:
    """The step's instruction twice in one transaction: what a valid step does may be done once (a vote counted
    twice, a stake escrowed twice, a window closed twice), so the second copy must be refused, and with it the
    whole transaction. `arg` is the error the second copy meets after the first (`_repeated_refusal`)."""
    tx.copies = 2


def _prefunded_role(base: Step) -> str:
    return "member" if base.op == "fund" else CREATED[base.op]


def _prefund(env: AttackEnv, base: Step, arg: str) -> int:
    """The lamports `prefunded` (`arg`) sends to the address `base` creates an account at."""
    lamports = PREFUND[arg]
    if lamports is None:  # exactly the rent-exempt minimum of the account created there
        size = env.driver.coder.account_size(_prefunded_role(base).title())
        lamports = env.svm.minimum_balance_for_rent_exemption(size)
    return lamports


def _prefunded(tx: Tx, arg: str) -> None:
    """Neutral: lamports sent to the address the step creates an account at, before the step (`dust`, below the
    rent minimum, `exact`ly the minimum for the account created there, or an `excess` above it: anyone can, and
    the system program's CreateAccount fails on an address holding lamports). Creation must still succeed, cost
    the payer exactly the top-up, and take the fewest system calls (`properties.creation`: none of them a Transfer
    when the address holds the minimum already)."""
    from solders.account import Account
    from solders.pubkey import Pubkey

    key = tx.key(_prefunded_role(tx.base))
    tx.env.svm.set_account(key, Account(_prefund(tx.env, tx.base, arg), b"", Pubkey.default()))


def _repeated_account(tx: Tx, arg: str) -> None:
    """Neutral: an account of the step that is not the program's (its signer, the system program, the first
    co-signer) passed once more after all the others. Solana lets an account appear twice and the program refuses
    only its own accounts twice, so the step must do exactly what the model says."""
    from solders.instruction import AccountMeta, Instruction

    key = tx.key(arg) if arg in tx.roles else tx.metas[len(tx.roles)].pubkey

    def amend(instructions: list[Instruction]) -> list[Instruction]:
        last = instructions[-1]
        return [
            *instructions[:-1],
            Instruction(last.program_id, last.data, [*last.accounts, AccountMeta(key, False, False)]),
        ]

    tx.env.driver.amend = amend


def _open_member(tx: Tx, arg: str) -> None:
    """An `open_member` (a user's wallet account, which anyone may open for anyone) that must be refused: for a
    user with no wallet, at an address that is `not_pda`, at a `noncanonical_bump` of the right seeds, or with the
    system program missing; or `again` for the acting user, whose wallet exists."""
    from programs import instructions as ix

    env, driver = tx.env, tx.env.driver
    user = driver.pubkey(tx.base.actor) if arg == "again" else env.address(b"unopened wallet")
    instruction = ix.open_member(driver.program, driver.transport.payer_key, user)
    tx.instructions, tx.signers, tx.name = [instruction], [], "open_member"
    tx.roles = [a.name for a in driver.coder.instructions["open_member"].accounts]
    tx.metas, tx.data = list(instruction.accounts), bytes(instruction.data)
    if arg == "not_pda":
        tx.put("member", env.address(b"not a pda", tx.key("member")))
    elif arg == "noncanonical_bump":
        _lower_bump(tx, "member", [b"member", bytes(user)], "bump")
    elif arg == "missing_system_program":
        tx.metas = tx.metas[:-1]


def _extra_account(tx: Tx, arg: str) -> None:
    """Neutral: an account the instruction does not read, passed after all the others: another program's, holding
    `arg` bytes (a length the input's 8-byte alignment has to pad). Solana lets a transaction name more accounts
    than an instruction reads, so the step must do exactly what the model says."""
    from solders.account import Account
    from solders.instruction import AccountMeta, Instruction

    env = tx.env
    key = env.address(b"extra account", arg.encode())
    env.svm.set_account(key, Account(10**9, bytes(range(1, 1 + int(arg))), env.address(b"another program")))

    def amend(instructions: list[Instruction]) -> list[Instruction]:
        last = instructions[-1]
        return [
            *instructions[:-1],
            Instruction(last.program_id, last.data, [*last.accounts, AccountMeta(key, False, False)]),
        ]

    env.driver.amend = amend


def _initialize(tx: Tx, arg: str) -> None:
    """An `initialize` (genesis: the config and the treasury) that must be refused: `again` on the live
    deployment with its own arguments; every other one on a fresh deployment of the same program through the
    upgradeable loader (so the upgrade authority check runs; its authority is `DEPLOYER`), valid but for one
    thing: a payer that is not the upgrade authority (`payer_not_authority`), or is, by the attacker's own
    program's data account (`attacker_program_data`); another program's account as this one (`other_program`);
    the payer not signing; a config or treasury address that is not its PDA or is a non-canonical bump's; a
    wrong system program; a read-only config or treasury; the program data account left out; truncated or
    extended data; authorities none, one more than `MAX_AUTHORITIES` (however many the parameters name), or
    repeated (the last one replaced by the first, or one authority twice: as many as a valid genesis names, so
    that only the duplicate check can refuse them); a threshold of 0 or above them; or one parameter SPEC section 1
    rules out (`BAD_PARAMS`)."""
    from programs import instructions as ix
    from programs.loader import programdata_address

    env, driver = tx.env, tx.env.driver
    authorities = [driver.pubkey(n) for n in driver.params.treasury_authorities]
    if arg == "again":
        program, payer, signers = driver.program, driver.transport.payer_key, []
    else:
        program, payer, signers = env.fresh_deployment(), env.funded(DEPLOYER), [env.keypair(DEPLOYER)]
    instruction = ix.initialize(program, payer, driver.params, authorities)
    tx.instructions, tx.signers, tx.name = [instruction], signers, "initialize"
    tx.roles = [a.name for a in driver.coder.instructions["initialize"].accounts]
    tx.metas, tx.data = list(instruction.accounts), bytes(instruction.data)
    args = _args(tx)
    if arg in BAD_PARAMS:
        name, value = BAD_PARAMS[arg]
        args["params"][name] = value(args["params"])
    elif arg == "no_authorities":
        args["authorities"] = []
    elif arg == "four_authorities":
        args["authorities"] = authorities + [env.address(b"authority", bytes([i]))
                                             for i in range(MAX_AUTHORITIES + 1 - len(authorities))]  # fmt: skip
    elif arg == "repeated_authority":  # the last replaced by the first, so the count stays one the parser takes
        args["authorities"] = authorities[:-1] + authorities[:1] if len(authorities) > 1 else authorities * 2
    elif arg in ("zero_threshold", "threshold_above_authorities"):
        args["threshold"] = 0 if arg == "zero_threshold" else len(authorities) + 1
    _encode(tx, args)
    if arg in ("payer_not_authority", "attacker_program_data"):
        tx.put("payer", env.funded(IMPOSTOR))
        tx.signers = [env.keypair(IMPOSTOR)]
        if arg == "attacker_program_data":
            tx.put("program_data", env.attacker_program_data())
    elif arg == "other_program":
        tx.put("program", driver.program.program_id)
        tx.put("program_data", programdata_address(driver.program.program_id))
    elif arg == "payer_unsigned":
        tx.put("payer", payer, signer=False)
        tx.signers = []
    elif arg.endswith(("_not_pda", "_noncanonical", "_read_only")):
        role, _, how = arg.partition("_")
        if how == "not_pda":
            tx.put(role, env.address(b"not a pda", tx.key(role)))
        elif how == "read_only":
            tx.put(role, tx.key(role), writable=False)
        else:
            _lower_bump(tx, role, [role.encode()], f"{role}_bump")
    elif arg == "wrong_system_program":
        tx.put("system_program", env.noop())
    elif arg == "missing_program_data":
        tx.metas = tx.metas[:-1]
    elif arg in ("truncated", "extended"):
        _bad_data(tx, arg)
    elif arg in REFUSALS:
        refuse(tx, arg, payer)


@dataclass(frozen=True)
class AttackKind:
    """A named corruption; `corrupt(tx, arg)` changes the transaction of a valid step in exactly one way."""

    name: str
    corrupt: Callable[[Tx, str], Callable[[], list[str]] | None]
    """Changes the transaction; a neutral kind with an oracle of its own returns its check (`prepare_neutral`)."""

    @property
    def doc(self) -> str:
        return " ".join((self.corrupt.__doc__ or "").split())


KINDS: dict[str, AttackKind] = {
    kind.name: kind
    for kind in (
        AttackKind("other_member", _other_member),
        AttackKind("other_thread", _other_thread),
        AttackKind("other_thread_message", _other_thread_message),
        AttackKind("other_message", _other_message),
        AttackKind("foreign_owner", _foreign_owner),
        AttackKind("not_pda", _not_pda),
        AttackKind("absent_wallet", _absent_wallet),
        AttackKind("noncanonical_bump", _noncanonical_bump),
        AttackKind("fake_config_treasury", _fake_config_treasury),
        AttackKind("wrong_cpi_program", _wrong_cpi_program),
        AttackKind("dropped_signer", _dropped_signer),
        AttackKind("impostor_signer", _impostor_signer),
        AttackKind("duplicate_account", _duplicate_account),
        AttackKind("settlement_wallets", _settlement_wallets),
        AttackKind("later_wallet", later_wallet),
        AttackKind("fund_cosigners", _fund_cosigners),
        AttackKind("bad_data", _bad_data),
        AttackKind("bad_field", bad_field),
        AttackKind("read_only", _read_only),
        AttackKind("missing_account", _missing_account),
        AttackKind("invalid_utf8", _invalid_utf8),
        AttackKind("prefunded", _prefunded),
        AttackKind("repeated_account", _repeated_account),
        AttackKind("extra_account", _extra_account),
        AttackKind("open_member", _open_member),
        AttackKind("repeated_instruction", _repeated_instruction),
        AttackKind("planted_account", _planted_account),
        AttackKind("initialize", _initialize),
        AttackKind("genesis", accept),
    )
}


# The check that refuses each corruption first, named as the program names its error (`programs/choir/errors.h`):
# the Anchor framework code of the constraint an Anchor accounts struct declares for what the corruption breaks (an
# account's `has_one` owner, its seeds, owner program, discriminator, `mut`, `Signer`, an address constraint, the
# account count, the instruction's Borsh data), a SPEC section 7 error (a multisig short of its threshold is
# `Unauthorized`), or genesis's `require!`s. None (or no entry) where the first check met depends on the state,
# not on the corruption (another thread's own SPEC guards, another instruction's accounts): any program error.
_REFUSED_BY_INITIALIZE = {"again": "AccountDiscriminatorAlreadySet", "payer_not_authority": "RequireKeysEqViolated",
                          "attacker_program_data": "ConstraintAddress", "other_program": "ConstraintAddress",
                          "wrong_system_program": "ConstraintAddress", "payer_unsigned": "AccountNotSigner",
                          "config_read_only": "ConstraintMut", "treasury_read_only": "ConstraintMut",
                          "missing_program_data": "AccountNotEnoughKeys", "truncated": "InstructionDidNotDeserialize",
                          "extended": "InstructionDidNotDeserialize",
                          "four_authorities": "InstructionDidNotDeserialize", **REFUSALS}  # fmt: skip
# Another thread in a creation is a forged address; under an existing message, a message it does not hold.
_OTHER_THREAD_REFUSED_BY = {"create_thread": "ConstraintSeeds", "request_public": "ConstraintHasOne",
                            "process_approval": "ConstraintHasOne", "expire": "ConstraintHasOne"}  # fmt: skip
REFUSED_BY: dict[str, str | Callable[[Tx, str], str | None]] = {
    "other_member": "ConstraintHasOne",
    "other_thread": lambda tx, arg: _OTHER_THREAD_REFUSED_BY.get(tx.base.op),
    "other_thread_message": lambda tx, arg: "ConstraintSeeds" if tx.base.op in CREATED else "ConstraintHasOne",
    "other_message": "ConstraintSeeds",
    "foreign_owner": "AccountOwnedByWrongProgram",
    "planted_account": lambda tx, arg: (
        "AccountDiscriminatorNotFound" if arg.endswith(":short") else "AccountDiscriminatorMismatch"
    ),
    "not_pda": lambda tx, arg: "ConstraintSeeds" if arg == CREATED.get(tx.base.op) else "AccountNotInitialized",
    "noncanonical_bump": "ConstraintSeeds",
    "absent_wallet": "AccountNotInitialized",
    "fake_config_treasury": "AccountDiscriminatorMismatch",
    "wrong_cpi_program": "ConstraintAddress",
    "dropped_signer": "AccountNotSigner",
    "impostor_signer": "ConstraintHasOne",
    "duplicate_account": "ConstraintRaw",
    "settlement_wallets": lambda tx, arg: (
        "AccountNotEnoughKeys"
        if arg == "missing"
        else "ConstraintHasOne"
        if arg == "swapped" and len(tx.metas) - len(tx.roles) > 1
        else "AccountNotInitialized"  # the outsider's wallet, which does not exist
    ),
    "later_wallet": lambda tx, arg: later_wallet_refused_by(arg, IMPOSTOR),
    "fund_cosigners": "Unauthorized",
    "bad_data": lambda tx, arg: (
        None
        if arg == "retyped"  # another instruction's account checks meet these accounts first
        else "InstructionMissing"
        if len(tx.data) < 8
        else "InstructionDidNotDeserialize"
    ),
    "read_only": "ConstraintMut",
    "repeated_instruction": lambda tx, arg: arg,  # the choice names the second copy's error
    "missing_account": "AccountNotEnoughKeys",
    "bad_field": "InstructionDidNotDeserialize",
    "invalid_utf8": "InstructionDidNotDeserialize",  # a Borsh string that is not UTF-8 does not deserialize
    "open_member": lambda tx, arg: {
        "again": "AccountDiscriminatorAlreadySet",
        "missing_system_program": "AccountNotEnoughKeys",
    }.get(arg, "ConstraintSeeds"),
    "initialize": lambda tx, arg: (
        "ConstraintSeeds"
        if arg.endswith(("_not_pda", "_noncanonical"))
        else _REFUSED_BY_INITIALIZE.get(arg, "RequireViolated")  # a genesis argument SPEC section 1 rules out
    ),
}


def expected_error(tx: Tx, kind: str, arg: str) -> str | None:
    """The error of the check that must refuse the corrupted transaction `tx` (`REFUSED_BY`), None where any
    program error will do."""
    refused_by = REFUSED_BY.get(kind)
    return refused_by(tx, arg) if callable(refused_by) else refused_by


class AttackEnv:
    """What attacks need from a program driver running in LiteSVM: its builders, its runtime (to plant accounts
    owned by another program, and a program that accepts every instruction) and raw account bytes."""

    NOOP_CODE = bytes.fromhex("b7000000000000009500000000000000")  # mov64 r0, 0; exit

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self._noop: Pubkey | None = None
        self._deployments = 0
        self._fresh: tuple[Any, Pubkey, bytes] | None = None  # the last fresh deployment, its data account and bytes

    @property
    def svm(self) -> Any:
        """The driver's runtime, read through the driver each time: holding it here would keep every closed
        driver's SVM alive as long as this object."""
        return self.driver.transport.svm

    def address(self, *parts: bytes | Pubkey) -> Pubkey:
        """A fixed address derived from `parts` (an attack replays to the same accounts)."""
        from solders.pubkey import Pubkey

        return Pubkey.from_bytes(hashlib.sha256(b"choir attack: " + b"|".join(bytes(p) for p in parts)).digest())

    def keypair(self, name: str) -> Keypair:
        return self.driver.key(name)

    def member(self, name: str) -> Pubkey:
        return self.driver.pdas.member(self.driver.pubkey(name))[0]

    def seeds(self, base: Step, role: str) -> list[bytes]:
        """The seeds (without bump) of the account `role` of `base` creates."""
        pdas = self.driver.pdas
        if role == "thread":
            return [b"thread", base.thread_id.encode("utf-8")]  # type: ignore[union-attr]
        thread = pdas.thread(base.thread_id)[0]  # type: ignore[arg-type]
        return [b"message", bytes(thread), bytes.fromhex(base.content_hash)]  # type: ignore[arg-type]

    def funded(self, name: str) -> Pubkey:
        """`name`'s key, holding enough lamports to pay for accounts."""
        from solders.account import Account
        from solders.pubkey import Pubkey

        key = self.keypair(name).pubkey()
        if self.svm.get_account(key) is None:
            self.svm.set_account(key, Account(10**12, b"", Pubkey.default()))
        return key

    def image(self) -> bytes:
        """The program's ELF as deployed (loader v3 keeps it in the program data account, after its header)."""
        from programs.loader import LOADER_V3, PROGRAMDATA_METADATA, programdata_address

        program_id = self.driver.coder.program_id
        account = self.svm.get_account(program_id)
        if account.owner != LOADER_V3:
            return bytes(account.data)
        return bytes(self.svm.get_account(programdata_address(program_id)).data)[PROGRAMDATA_METADATA:]

    def fresh_deployment(self) -> Any:
        """A new, uninitialized deployment of the same program under the upgradeable loader, its upgrade authority
        `DEPLOYER` (a ChoirProgram at its id): its program and program data accounts planted as the loader
        writes them. An attack must find it as made: the last one is handed out again while it is (no config, no
        treasury, its program data as written: a refused attack leaves it so, which its oracle checks), else a new
        one is made. Why not one per attack: LiteSVM loads the program anew under each new id, 0.3 of the 0.5 ms
        a deployment cost, and a campaign makes hundreds."""
        if self._fresh is not None and self._as_made(*self._fresh):
            return self._fresh[0]
        from solders.account import Account
        from solders.keypair import Keypair

        from programs.instructions import ChoirProgram
        from programs.loader import LOADER_V3, programdata_address

        self._deployments += 1
        program_id = Keypair.from_seed(bytes(self.address(b"fresh deployment", str(self._deployments).encode())))
        data_key = programdata_address(program_id.pubkey())
        data = self.program_data(self.funded(DEPLOYER)) + self.image()
        self.svm.set_account(data_key, Account(10**10, data, LOADER_V3))
        program = (2).to_bytes(4, "little") + bytes(data_key)
        self.svm.set_account(program_id.pubkey(), Account(10**9, program, LOADER_V3, executable=True))
        deployment = ChoirProgram(self.driver.coder.at(program_id.pubkey()))
        self._fresh = (deployment, data_key, data)
        return deployment

    def _as_made(self, deployment: Any, data_key: Pubkey, data: bytes) -> bool:
        """Whether a fresh deployment is still as `fresh_deployment` made it: never initialized (neither PDA
        exists), its program data account holding the bytes it was given (an attack may rewrite its upgrade
        authority), its program account still under the upgradeable loader (a genesis may redeploy it)."""
        from programs.loader import LOADER_V3

        svm, pdas = self.svm, deployment.pdas
        if svm.get_account(pdas.config()[0]) is not None or svm.get_account(pdas.treasury()[0]) is not None:
            return False
        program, stored = svm.get_account(deployment.program_id), svm.get_account(data_key)
        return program is not None and program.owner == LOADER_V3 and stored is not None and bytes(stored.data) == data

    @staticmethod
    def program_data(authority: Pubkey) -> bytes:
        """A loader v3 ProgramData header (tag 3, deployment slot 0, upgrade authority `authority`)."""
        return (3).to_bytes(4, "little") + bytes(8) + b"\x01" + bytes(authority)

    def attacker_program_data(self) -> Pubkey:
        """A loader v3 program data account whose upgrade authority is the attacker (as if they had deployed a
        program of their own)."""
        from solders.account import Account

        from programs.loader import LOADER_V3

        key = self.address(b"attacker program data")
        data = self.program_data(self.keypair(IMPOSTOR).pubkey()) + self.NOOP_CODE
        self.svm.set_account(key, Account(10**9, data, LOADER_V3))
        return key

    def foreign_copy(self, key: Pubkey, how: str = "") -> Pubkey:
        """A copy of the account at `key` that the program does not own (`_foreign_owner` says which)."""
        from solders.account import Account
        from solders.pubkey import Pubkey

        account = self.svm.get_account(key)
        copy = self.address(b"foreign", key, how.encode())
        data = bytes(account.data) if account is not None and how != "empty" else b""
        owner = Pubkey.default() if how == "system" else self.address(b"another program")
        self.svm.set_account(copy, Account(10**9, data, owner))
        return copy

    def planted(self, key: Pubkey, how: str) -> Pubkey:
        """A zeroed account the program owns but never wrote, at an address that is no PDA (`_planted_account`)."""
        from solders.account import Account

        size = PLANTED[how]
        if size is None:
            account = self.svm.get_account(key)
            size = 0 if account is None else len(account.data)
        planted = self.address(b"planted", key, how.encode())
        self.svm.set_account(planted, Account(10**9, bytes(size), self.driver.coder.program_id))
        return planted

    def noop(self) -> Pubkey:
        if self._noop is None:
            from programs.toolchain.link import link_code

            self._noop = self.address(b"noop program")
            self.svm.add_program(self._noop, link_code(self.NOOP_CODE))
        return self._noop

    def accounts(self, keys: Iterable[Pubkey]) -> dict[Pubkey, Account | None]:
        """The accounts at `keys` (None: no such account), as the runtime's `Account` values: they compare
        lamports, data, owner, executable flag and rent epoch in one call."""
        get = self.svm.get_account
        return {key: get(key) for key in keys}


def accepts_attacks(driver: Any) -> bool:
    """True for a program driver in LiteSVM (attacks plant accounts, which only an in-process runtime allows)."""
    return hasattr(getattr(driver, "transport", None), "svm") and hasattr(driver, "raw_accounts")


def _env(driver: Any) -> AttackEnv:
    """The driver's attack environment, kept on the driver itself so that it goes when the driver goes (a table
    of them keyed by driver would hold every driver ever attacked, and its SVM, alive)."""
    env = getattr(driver, "_attack_env", None)
    if env is None:
        env = driver._attack_env = AttackEnv(driver)
    return env


@dataclass
class AttackResult:
    """What one attack did: `error` is the refusal's name (None: the transaction succeeded); `problems` are the
    ways it broke `access_control` (empty: refused and nothing changed)."""

    error: str | None
    problems: list[str] = field(default_factory=list)


def _corrupted(driver: Any, attack: Attack) -> Tx:
    tx = Tx(_env(driver), attack.base)
    KINDS[attack.kind].corrupt(tx, attack.arg)
    return tx


def attack_transaction(driver: Any, attack: Attack) -> tuple[list[Instruction], list[Keypair]]:
    """The attack's transaction: what the base step would send, with the attack's one corruption (what
    `run_attack` sends; the benchmarks send it alone to time the program without the oracle)."""
    tx = _corrupted(driver, attack)
    return tx.finish(), tx.signers


def run_attack(driver: Any, attack: Attack, base_valid: bool = True) -> AttackResult | None:
    """Send the attack's transaction; None when the driver cannot express attacks (it is skipped). `base_valid`:
    whether the base step is valid in the model's state now (`base_is_valid`), so that the corruption alone
    decides which check must refuse it (`expected_error`); a shrunk or hand-made trace may attack any step."""
    if not accepts_attacks(driver) or invalid_time(driver.last_now, attack.now, driver.params) is not None:
        return None
    env = _env(driver)
    tx = _corrupted(driver, attack)
    instructions, signers = tx.finish(), tx.signers
    # The oracle reads only the accounts the transaction names (its instructions' accounts and programs; the fee
    # payer pays the fee whatever the outcome). The runtime loads a transaction's accounts from its message's keys
    # and nothing else, a program (and every program it invokes, CPI passing on only accounts it was given) can
    # write only accounts among them, and only if they are marked writable (Solana runtime: transactions declare
    # every account they read or write). So no other account can change; and the lockstep's whole-snapshot
    # comparison every `full_every` steps and at the end of a run would see one that did.
    payer = driver.transport.payer_key
    named = {meta.pubkey for ix in instructions for meta in ix.accounts} | {ix.program_id for ix in instructions}
    named.discard(payer)
    before = env.accounts(named)
    outcome = driver.send(instructions, signers, now=attack.now)
    after = env.accounts(named)
    problems = []
    error = None if outcome.ok else driver.error_name(outcome)
    if outcome.ok:
        problems.append(f"{attack.kind} ({attack.arg}) on {attack.base.op} succeeded")
    elif not _program_error(outcome.err):
        problems.append(f"{attack.kind} ({attack.arg}) on {attack.base.op} was stopped by the runtime ({error}), "
                        "not refused by a check of the program")  # fmt: skip
    elif base_valid:
        expected = expected_error(tx, attack.kind, attack.arg)
        if expected is not None and error != expected:
            problems.append(f"{attack.kind} ({attack.arg}) on {attack.base.op} was refused with {error}, not by "
                            f"the check that guards it ({expected})")  # fmt: skip
    changed = [str(key) for key in before.keys() | after.keys() if before.get(key) != after.get(key)]
    if changed:
        problems.append(
            f"{attack.kind} ({attack.arg}) changed {len(changed)} account(s): {', '.join(sorted(changed)[:4])}"
        )
    return AttackResult(error, problems)


def _program_error(err: Any) -> bool:
    """Whether a transaction failed with one of the program's own error codes (a custom instruction error)."""
    from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

    return isinstance(err, TransactionErrorInstructionError) and isinstance(err.err, InstructionErrorCustom)


def prepare_neutral(driver: Any, attack: Attack) -> Callable[[], list[str]] | None:
    """Do what a neutral attack does before its step (on a driver that can; else nothing) and return the check to
    run after the step succeeded: the kind's own (`genesis`), or for `prefunded`, the created account holds exactly
    what was sent to it or the rent minimum, whichever is more (the payer is charged the top-up, no more)."""
    if not accepts_attacks(driver) or invalid_time(driver.last_now, attack.now, driver.params) is not None:
        return None
    env = _env(driver)
    tx = Tx(env, attack.base)
    own = KINDS[attack.kind].corrupt(tx, attack.arg)
    if own is not None:
        return own
    if attack.kind != "prefunded":
        return list
    key = tx.key(_prefunded_role(attack.base))
    sent = _prefund(env, attack.base, attack.arg)

    def check() -> list[str]:
        account = env.svm.get_account(key)
        held = 0 if account is None else account.lamports
        size = 0 if account is None else len(account.data)
        wanted = max(sent, env.svm.minimum_balance_for_rent_exemption(size))
        if held == wanted:
            return []
        where = f"{attack.kind} ({attack.arg}) on {attack.base.op}"
        return [f"{where}: the new account holds {held} lamports, not {wanted}"]

    return check


def record(counter: Counter[tuple[str, str]], attack: Attack, result: AttackResult | None) -> None:
    """Count the attack for the report: by kind and outcome (the refusal's name, `skipped` or `SUCCEEDED`)."""
    outcome = "skipped" if result is None else result.error or "SUCCEEDED"
    counter[(attack.kind, outcome)] += 1


# -- traces --------------------------------------------------------------------------------------------------------


def step_or_attack(obj: Any, line: int) -> Step:
    """One trace object: an attack record, or a SPEC section 8 operation (`choir_model.trace.step_from_json`)."""
    if not isinstance(obj, dict) or obj.get("op") != Attack.op:
        return step_from_json(obj, line)
    unknown = sorted(set(obj) - {"op", "kind", "arg", "step"})
    if unknown:
        raise TraceError(line, f"attack has unknown field(s) {', '.join(unknown)}")
    kind, arg = obj.get("kind"), obj.get("arg")
    if kind not in KINDS:
        raise TraceError(line, f"attack.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(arg, str):
        raise TraceError(line, f"attack.arg must be a string, got {arg!r}")
    base = step_from_json(obj.get("step"), line)
    return Attack.of(kind, arg, base)


def read_steps(path: str | Path) -> list[Step]:
    """A trace that may hold attack records; validated whole before anything runs (TraceError names the line)."""
    return read_trace(path, step_or_attack)


def is_attack(step: Step) -> bool:
    return isinstance(step, Attack)


def model_step(step: Step) -> Step | None:
    """What the model applies for a trace record: the step itself, a neutral attack's valid step, or nothing for
    an attack (it never reaches the model)."""
    if not isinstance(step, Attack):
        return step
    return step.base if step.kind in NEUTRAL else None


def attack_rows(counter: Counter[tuple[str, str]]) -> Sequence[tuple[str, int, int, str]]:
    """The report's attack table: each kind with attempts, refusals and the refusals' names with counts."""
    rows = []
    for kind in KINDS:
        outcomes = {o: n for (k, o), n in counter.items() if k == kind}
        attempted = sum(outcomes.values())
        passed = ("skipped", "SUCCEEDED", "ok") if kind not in NEUTRAL else tuple(outcomes)
        refused = sum(n for o, n in outcomes.items() if o not in passed)
        names = ", ".join(f"{o} {n}" for o, n in sorted(outcomes.items(), key=lambda item: -item[1]))
        rows.append((kind, attempted, refused, names))
    return rows


def attack_table(coverage: Any) -> Any:
    """The report's attack table (a rich Table), or None when the campaign ran no attack."""
    from rich.table import Table

    if not coverage.attacks:
        return None
    verdict = "[bold red]VIOLATED[/bold red]" if coverage.violations["access_control"] else "[green]held[/green]"
    table = Table(title=f"attacks (access_control: {verdict})", title_justify="left")
    for column in ("attack", "attempted", "refused", "by"):
        table.add_column(column)
    for kind, attempted, refused, names in attack_rows(coverage.attacks):
        style = "" if refused == attempted or not attempted or kind in NEUTRAL else "bold red"
        count = f"[{style}]{refused:,}[/{style}]" if style else f"{refused:,}"
        table.add_row(kind, f"{attempted:,}" if attempted else "[red]0[/red]", count, names)
    return table


def attack_line(index: int, attack: Attack, result: AttackResult | None) -> dict[str, Any]:
    """An attack's line in a replay's output: the refusal as a step result, or `skipped` where the driver cannot
    run attacks."""
    if result is None:
        return {"step": index, "attack": attack.kind, "skipped": True}
    return {**step_result(index, result.error), "attack": attack.kind}
