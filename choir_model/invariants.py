"""The invariants of SPEC section 6 (1 to 9), each a named check that returns the violations it finds.

Two ways to run them:

* `Checker` checks one step cheaply, cheap enough for every step of a property run or a simulation: it captures
  the few values the step can touch (`before`), applies nothing itself, and after the step compares them with the
  new state (`after`). Conservation uses the state's running totals instead of re-summing the world.
* `audit(state, params)` re-derives everything from scratch (totals, pending counts, every thread and message):
  the spot check that also catches a corruption the running totals cannot see.

Every invariant name is a key of `INVARIANTS`; a violation names its invariant so reports can say which broke.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from choir_model.economics import Economics
from choir_model.errors import ChoirError
from choir_model.events import Event
from choir_model.params import U64_MAX, Params
from choir_model.settlement import Direction, Outcome, SettlementPolicy
from choir_model.state import TERMINAL_STATES, TRANSITIONS, ChoirState, Message, MessageState, Thread
from choir_model.steps import (
    CreateThread,
    Divest,
    ProcessApproval,
    Step,
)

PENDING, PRIVATE, PUBLIC = MessageState.PENDING, MessageState.PRIVATE, MessageState.PUBLIC

# Transitions one step may make in the model: the seeds' graph, entry states for new messages, and
# Private -> Public for a public request with no other co-author (Pending and settled in the same step).
_STEP_TRANSITIONS = TRANSITIONS | {(None, PRIVATE), (None, PENDING), (PRIVATE, PUBLIC)}


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    message: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.message}"


class ThreadView(NamedTuple):
    balance: int
    co_authors: tuple[str, ...]
    created_at: int
    updated_at: int
    message_count: int
    last_divest: int | None
    pending: int


class MessageView(NamedTuple):
    state: MessageState
    author: str
    created_at: int
    is_spec: bool
    stake: int
    deadline: int | None
    voters: tuple[str, ...]
    votes: tuple[tuple[str, bool], ...]
    privacy: str


class Before(NamedTuple):
    """What a step can touch, captured before it runs."""

    treasury: int
    wallet_total: int
    thread_total: int
    escrow_total: int
    thread_count: int
    last_now: int | None
    names: tuple[str, ...]
    wallets: tuple[int, ...]
    thread: ThreadView | None
    message: MessageView | None


# Views are built with `tuple.__new__` on the field tuple: the same NamedTuple, without the generated `__new__`'s
# keyword handling, which is most of the cost of capturing a step (the checker builds three per step).
_new = tuple.__new__


def _thread_view(thread: Thread | None, actor: str) -> ThreadView | None:
    if thread is None:
        return None
    return _new(ThreadView, (thread.balance, tuple(thread.co_authors), thread.created_at, thread.updated_at,
                             thread.message_count, thread.last_divest.get(actor), thread.pending))  # fmt: skip


def _message_view(message: Message | None) -> MessageView | None:
    if message is None:
        return None
    return _new(MessageView, (message.state, message.author, message.created_at, message.is_spec, message.stake,
                              message.deadline, message.voters, tuple(message.votes.items()),
                              message.privacy.value))  # fmt: skip


@dataclass(slots=True)
class StepContext:
    """Everything a step check needs: the step, its result, the values before and after it."""

    state: ChoirState
    params: Params
    policy: SettlementPolicy
    economics: Economics
    step: Step
    error: ChoirError | None
    events: Sequence[Event]
    before: Before
    wallets_after: tuple[int, ...]  # the balances of `before.names` after the step
    thread: Thread | None
    message: Message | None


StepCheck = Callable[[StepContext], list[Violation]]
AuditCheck = Callable[[ChoirState, Params], list[Violation]]


@dataclass(frozen=True, slots=True)
class Invariant:
    """A SPEC section 6 invariant: its number, name, the per-step check and the whole-state audit."""

    number: int
    name: str
    summary: str
    check_step: StepCheck
    audit: AuditCheck


# ---------------------------------------------------------------------------------------------------- 1


def _conservation_step(ctx: StepContext) -> list[Violation]:
    s, b, params = ctx.state, ctx.before, ctx.params
    out = []
    total = s.wallet_total + s.treasury + s.thread_total + s.escrow_total
    if total != params.total_supply:
        out.append(Violation("conservation", f"wallets+treasury+threads+escrow = {total} != {params.total_supply}"))
    wallet_delta = sum(ctx.wallets_after) - sum(b.wallets)
    if wallet_delta != s.wallet_total - b.wallet_total:
        out.append(
            Violation(
                "conservation",
                f"touched wallets moved by {wallet_delta} but the wallet total by {s.wallet_total - b.wallet_total}",
            )
        )
    if b.thread is not None and ctx.thread is not None:
        delta = ctx.thread.balance - b.thread.balance
        if delta != s.thread_total - b.thread_total:
            out.append(
                Violation(
                    "conservation",
                    f"thread balance moved by {delta}, thread total by {s.thread_total - b.thread_total}",
                )
            )
    return out


def _conservation_audit(state: ChoirState, params: Params) -> list[Violation]:
    out = []
    wallets = sum(state.wallets.values())
    threads = sum(t.balance for t in state.threads.values())
    escrow = sum(m.stake for t in state.threads.values() for m in t.messages.values())
    total = wallets + state.treasury + threads + escrow
    if total != params.total_supply:
        out.append(Violation("conservation", f"re-summed supply {total} != {params.total_supply}"))
    for name, real, kept in (
        ("wallet", wallets, state.wallet_total),
        ("thread", threads, state.thread_total),
        ("escrow", escrow, state.escrow_total),
    ):
        if real != kept:
            out.append(Violation("conservation", f"{name} total is {real} but the running total says {kept}"))
    return out


# ---------------------------------------------------------------------------------------------------- 2


def _escrow_message(message: Message, where: Step | str, params: Params) -> list[Violation]:
    if not message.stake and not (message.state is PENDING and message.is_spec):
        return []  # the common case, decided without building a location string
    if message.stake < 0:
        return [Violation("escrow", f"{_where(where)} holds a negative stake {message.stake}")]
    if message.stake and not (message.state is PENDING and message.is_spec):
        return [Violation("escrow", f"{_where(where)} is {message.state.value} but still holds {message.stake}")]
    if message.state is PENDING and message.is_spec and message.stake < params.min_stake:
        return [Violation("escrow", f"{_where(where)} is a pending spec holding {message.stake} < minimum stake")]
    if not message.is_spec and message.stake:
        return [Violation("escrow", f"{_where(where)} is not a spec but holds {message.stake}")]
    return []


def _escrow_step(ctx: StepContext) -> list[Violation]:
    b, moved = ctx.before, ctx.state.escrow_total - ctx.before.escrow_total
    if ctx.message is None:
        if moved:
            return [Violation("escrow", f"escrow total moved by {moved} without a message")]
        return []
    out = _escrow_message(ctx.message, ctx.step, ctx.params)
    stake_before = b.message.stake if b.message else 0
    if moved != ctx.message.stake - stake_before:
        out.append(
            Violation(
                "escrow",
                f"escrow total moved by {moved}, the message's stake by {ctx.message.stake - stake_before}",
            )
        )
    if b.message and b.message.state is PENDING and ctx.message.state is PENDING and ctx.message.stake != stake_before:
        out.append(Violation("escrow", f"{_where(ctx.step)}: a pending stake changed from {stake_before}"))
    return out


def _escrow_audit(state: ChoirState, params: Params) -> list[Violation]:
    return [
        v
        for t in state.threads.values()
        for m in t.messages.values()
        for v in _escrow_message(m, f"{t.thread_id}/{m.content_hash}", params)
    ]


# ---------------------------------------------------------------------------------------------------- 3


def _coauthor_shape(thread: Thread, params: Params) -> list[Violation]:
    names = thread.co_authors
    if not names:
        return [Violation("co_authors", f"thread {thread.thread_id!r} has no co-author")]
    if len(set(names)) != len(names):
        return [Violation("co_authors", f"thread {thread.thread_id!r} lists a co-author twice: {names}")]
    if len(names) > params.max_coauthors:
        return [Violation("co_authors", f"thread {thread.thread_id!r} has {len(names)} > {params.max_coauthors}")]
    return []


def _coauthors_step(ctx: StepContext) -> list[Violation]:
    thread = ctx.thread
    if thread is None:
        return []
    out = _coauthor_shape(thread, ctx.params)
    before = ctx.before.thread
    if before is None:
        if isinstance(ctx.step, CreateThread) and thread.co_authors != [ctx.step.actor]:
            out.append(Violation("co_authors", f"a new thread's co-authors are {thread.co_authors}, not the creator"))
        return out
    after = tuple(thread.co_authors)
    if after == before.co_authors:
        return out
    m, mb = ctx.message, ctx.before.message
    joined = (
        m is not None
        and mb is not None
        and mb.state is PENDING
        and m.state is PUBLIC
        and m.is_spec
        and after == (*before.co_authors, m.author)
    )
    if not joined:
        out.append(
            Violation(
                "co_authors",
                f"co-authors changed from {list(before.co_authors)} to {list(after)} "
                "other than by a unanimous spec approval",
            )
        )
    return out


def _coauthors_audit(state: ChoirState, params: Params) -> list[Violation]:
    return [v for t in state.threads.values() for v in _coauthor_shape(t, params)]


# ---------------------------------------------------------------------------------------------------- 4


def _thread_shape(thread: Thread, params: Params) -> list[Violation]:
    out = []
    if thread.balance < params.min_thread_balance:
        out.append(
            Violation(
                "thread_balance",
                f"thread {thread.thread_id!r} holds {thread.balance} < minimum {params.min_thread_balance}",
            )
        )
    if thread.created_at > thread.updated_at:
        out.append(
            Violation(
                "thread_balance",
                f"thread {thread.thread_id!r} created_at {thread.created_at} > updated_at {thread.updated_at}",
            )
        )
    return out


def _thread_step(ctx: StepContext) -> list[Violation]:
    thread = ctx.thread
    if thread is None:
        return []
    out = _thread_shape(thread, ctx.params)
    before = ctx.before.thread
    if before is not None and thread.created_at != before.created_at:
        out.append(Violation("thread_balance", f"created_at changed from {before.created_at}"))
    if ctx.error is None and thread.updated_at != ctx.step.now:
        out.append(Violation("thread_balance", f"updated_at is {thread.updated_at} after a step at {ctx.step.now}"))
    return out


def _thread_audit(state: ChoirState, params: Params) -> list[Violation]:
    return [v for t in state.threads.values() for v in _thread_shape(t, params)]


# ---------------------------------------------------------------------------------------------------- 5


def _messages_step(ctx: StepContext) -> list[Violation]:
    m, mb, step = ctx.message, ctx.before.message, ctx.step
    out = []
    tb, thread = ctx.before.thread, ctx.thread
    if thread is not None and tb is not None:
        created = mb is None and m is not None
        if thread.message_count != tb.message_count + created:
            out.append(
                Violation(
                    "message_states",
                    f"message_count went {tb.message_count} -> "
                    f"{thread.message_count} while {'one' if created else 'no'} message was created",
                )
            )
    if m is None:
        return out
    pair = (mb.state if mb else None, m.state)
    if pair[0] != pair[1] and pair not in _STEP_TRANSITIONS:
        out.append(Violation("message_states", f"{_where(step)} moved {pair[0]} -> {pair[1].value}, not on the graph"))
    if mb is None:
        return out
    if (m.author, m.created_at, m.is_spec, m.privacy.value) != (
        mb.author,
        mb.created_at,
        mb.is_spec,
        mb.privacy,
    ):
        out.append(Violation("message_states", f"{_where(step)}: author, creation time, kind or privacy changed"))
    if mb.state in TERMINAL_STATES and _message_view(m) != mb:
        out.append(Violation("message_states", f"{_where(step)} is {mb.state.value} (terminal) but changed"))
    return out


def _messages_audit(state: ChoirState, params: Params) -> list[Violation]:
    out = []
    for t in state.threads.values():
        pending = sum(m.state is PENDING for m in t.messages.values())
        spec_authors = {m.author for m in t.messages.values() if m.state is PENDING and m.is_spec}
        if pending != t.pending or spec_authors != t.pending_spec_authors:
            out.append(
                Violation(
                    "message_states",
                    f"thread {t.thread_id!r} index says {t.pending} pending / "
                    f"{sorted(t.pending_spec_authors)}, messages say {pending} / {sorted(spec_authors)}",
                )
            )
        if len(t.messages) != t.message_count:
            out.append(
                Violation(
                    "message_states",
                    f"thread {t.thread_id!r} holds {len(t.messages)} messages, message_count says {t.message_count}",
                )
            )
        for m in t.messages.values():
            where = f"{t.thread_id}/{m.content_hash}"
            if m.state in (MessageState.DRAFT, MessageState.SUBMITTED):
                out.append(Violation("message_states", f"{where} is {m.state.value}, a pre-submission state"))
            if (m.deadline is None) != (m.state is PRIVATE):
                out.append(Violation("message_states", f"{where} is {m.state.value} with deadline {m.deadline}"))
    return out


# ---------------------------------------------------------------------------------------------------- 6


def _votes_shape(m: Message, where: Step | str) -> list[Violation]:
    stray = [name for name in m.votes if name not in m.voters]
    if stray:
        return [Violation("votes", f"{_where(where)} counts votes of {stray}, outside the voter snapshot")]
    if m.state is PENDING and m.voters and len(m.votes) >= len(m.voters):
        return [Violation("votes", f"{_where(where)} has every vote in but is still Pending")]
    if m.state is PRIVATE and (m.votes or m.voters):
        return [Violation("votes", f"{_where(where)} is Private but has voters or votes")]
    return []


def _votes_step(ctx: StepContext) -> list[Violation]:
    m, mb, step = ctx.message, ctx.before.message, ctx.step
    if m is None:
        return []
    out = _votes_shape(m, step)
    old = dict(mb.votes) if mb else {}
    if mb is not None and mb.voters and m.voters != mb.voters:
        out.append(Violation("votes", f"{_where(step)}: the voter snapshot changed from {mb.voters} to {m.voters}"))
    entering = (mb is None or mb.state is PRIVATE) and m.state is not PRIVATE
    tb = ctx.before.thread
    if entering and tb is not None:
        expected = tb.co_authors if m.is_spec else tuple(n for n in tb.co_authors if n != m.author)
        if m.voters != expected:
            out.append(
                Violation("votes", f"{_where(step)}: voters {m.voters} are not the co-authors snapshot {expected}")
            )
    if mb is not None and len(m.votes) == len(mb.votes) and tuple(m.votes.items()) == mb.votes:
        return out  # the common case: no vote recorded or changed by this step
    changed = {name for name in old if m.votes.get(name) != old[name]}
    if changed:
        out.append(Violation("votes", f"{_where(step)}: recorded votes of {sorted(changed)} changed"))
    added = [name for name in m.votes if name not in old]
    if added:
        if not isinstance(step, ProcessApproval) or added != [step.actor]:
            out.append(Violation("votes", f"{_where(step)}: votes of {added} appeared in a {step.op} by {step.actor}"))
        elif m.deadline is None or step.now >= m.deadline:
            out.append(Violation("votes", f"{_where(step)}: a vote was recorded at {step.now}, deadline {m.deadline}"))
    return out


def _votes_audit(state: ChoirState, params: Params) -> list[Violation]:
    return [
        v
        for t in state.threads.values()
        for m in t.messages.values()
        for v in _votes_shape(m, f"{t.thread_id}/{m.content_hash}")
    ]


# ---------------------------------------------------------------------------------------------------- 7


def _expected_effect(ctx: StepContext) -> tuple[Direction, Direction, str]:
    """The (temperature, frequency) directions SPEC section 5 promises for this step, and why."""
    m, mb, step = ctx.message, ctx.before.message, ctx.step
    settled = m is not None and mb is not None and mb.state is not m.state and m.state in TERMINAL_STATES
    settled = settled or (m is not None and mb is not None and mb.state is PRIVATE and m.state is PUBLIC)
    if settled and m is not None and mb is not None:
        if not mb.is_spec or mb.stake == 0:
            return Direction.SAME, Direction.SAME, "a public request settled"
        if m.state is MessageState.EXPIRED:
            outcome = Outcome.EXPIRED
        else:
            approvals = sum(m.votes.values())
            outcome = Outcome.of_votes(approvals, len(m.votes) - approvals)
        temperature, frequency = ctx.policy.temperature_effects[outcome]
        return temperature, frequency, f"a spec settled {outcome.value} under {ctx.policy.name}"
    if isinstance(step, Divest) and ctx.error is None:
        return Direction.DOWN, Direction.SAME, "a divestment"
    return Direction.SAME, Direction.SAME, f"{step.op} without settlement"


def _temperature_step(ctx: StepContext) -> list[Violation]:
    """Directions are compared exactly: T = E/N as the rational balance/N (cross-multiplied) and omega through N
    (sqrt is monotone). A float temperature cannot see a one-unit divestment from a large balance."""
    thread, tb = ctx.thread, ctx.before.thread
    if thread is None or tb is None:
        return []
    n0, n1 = len(tb.co_authors), len(thread.co_authors)
    t_cmp = (thread.balance * n0 > tb.balance * n1) - (thread.balance * n0 < tb.balance * n1)
    w_cmp = (n1 > n0) - (n1 < n0)
    temperature, frequency, why = _expected_effect(ctx)
    out = []
    if not temperature.admits(0, t_cmp):
        out.append(
            Violation(
                "temperature_frequency",
                f"{why}: E/N went {tb.balance}/{n0} -> {thread.balance}/{n1}, expected {temperature.value}",
            )
        )
    if not frequency.admits(0, w_cmp):
        out.append(
            Violation("temperature_frequency", f"{why}: N went {n0} -> {n1}, frequency expected {frequency.value}")
        )
    return out


def _temperature_audit(state: ChoirState, params: Params) -> list[Violation]:
    # Temperature and frequency are derived from balance and co-authors; the state-wide condition is that they
    # can be computed at all (the seeds' TemperatureError): every thread has a co-author and a balance.
    return [
        Violation("temperature_frequency", f"thread {t.thread_id!r} has no co-author: temperature undefined")
        for t in state.threads.values()
        if not t.co_authors
    ]


# ---------------------------------------------------------------------------------------------------- 8


def _divest_step(ctx: StepContext) -> list[Violation]:
    step, thread, tb = ctx.step, ctx.thread, ctx.before.thread
    if thread is None or tb is None:
        return []
    last_after = thread.last_divest.get(step.actor)
    if not isinstance(step, Divest) or ctx.error is not None:
        if last_after != tb.last_divest:
            return [Violation("divestment", f"{step.op} changed {step.actor}'s last divestment time")]
        return []
    out = []
    params = ctx.params
    if tb.last_divest is not None and step.now < tb.last_divest + params.divest_cooldown:
        out.append(
            Violation(
                "divestment",
                f"{step.actor} divested at {step.now}, cooldown ends at {tb.last_divest + params.divest_cooldown}",
            )
        )
    bound = (tb.balance - params.min_thread_balance) // len(tb.co_authors)
    taken = tb.balance - thread.balance
    if taken != step.amount or taken > bound:
        out.append(Violation("divestment", f"divested {taken} (asked {step.amount}), bound {bound}"))
    if last_after != step.now:
        out.append(Violation("divestment", f"last divestment time is {last_after}, not {step.now}"))
    return out


def _divest_audit(state: ChoirState, params: Params) -> list[Violation]:
    out = []
    for t in state.threads.values():
        strangers = [name for name in t.last_divest if name not in t.co_authors]
        if strangers:
            out.append(
                Violation("divestment", f"thread {t.thread_id!r}: {strangers} divested without being co-authors")
            )
        late = [name for name, at in t.last_divest.items() if state.last_now is not None and at > state.last_now]
        if late:
            out.append(Violation("divestment", f"thread {t.thread_id!r}: divestments of {late} lie in the future"))
    return out


# ---------------------------------------------------------------------------------------------------- 9


def _atomicity_step(ctx: StepContext) -> list[Violation]:
    out = []
    if ctx.error is not None:
        after = capture(ctx.state, ctx.step, ctx.thread, ctx.message, ctx.before.names)
        if after != ctx.before:
            changed = [field for field in Before._fields if getattr(after, field) != getattr(ctx.before, field)]
            out.append(Violation("atomicity", f"{ctx.step.op} failed with {ctx.error.name} but changed {changed}"))
    amounts = [ctx.state.treasury, *ctx.wallets_after]
    if ctx.thread is not None:
        amounts.append(ctx.thread.balance)
    if ctx.message is not None:
        amounts.append(ctx.message.stake)
    if min(amounts) < 0 or max(amounts) > U64_MAX:
        out.append(Violation("atomicity", f"a balance left u64: {[x for x in amounts if not 0 <= x <= U64_MAX]}"))
    return out


def _atomicity_audit(state: ChoirState, params: Params) -> list[Violation]:
    bad = [(k, v) for k, v in state.wallets.items() if not 0 <= v <= U64_MAX]
    bad += [(k, t.balance) for k, t in state.threads.items() if not 0 <= t.balance <= U64_MAX]
    if not 0 <= state.treasury <= U64_MAX:
        bad.append(("treasury", state.treasury))
    return [Violation("atomicity", f"balances outside u64: {bad}")] if bad else []


# -------------------------------------------------------------------------------------------------------------


def _where(step: Step | str) -> str:
    """Where a violation is: the message a step addresses (or an audit's ready-made location). Built only once a
    violation is found; the checks pass the step itself around."""
    if isinstance(step, str):
        return step
    return f"{step.thread_id}/{(step.content_hash or '')[:12]}"


INVARIANTS: dict[str, Invariant] = {
    inv.name: inv
    for inv in (
        Invariant(
            1,
            "conservation",
            "wallets + treasury + threads + escrow == TOTAL_SUPPLY",
            _conservation_step,
            _conservation_audit,
        ),
        Invariant(2, "escrow", "only Pending specs hold stake", _escrow_step, _escrow_audit),
        Invariant(
            3,
            "co_authors",
            "never empty, no duplicates, bounded, changed only by unanimous approval",
            _coauthors_step,
            _coauthors_audit,
        ),
        Invariant(
            4,
            "thread_balance",
            "balance >= MIN_THREAD_BALANCE, created_at <= updated_at",
            _thread_step,
            _thread_audit,
        ),
        Invariant(
            5,
            "message_states",
            "states move along the graph; terminal messages never change",
            _messages_step,
            _messages_audit,
        ),
        Invariant(
            6,
            "votes",
            "one per voter, snapshot voters only, none at or after the deadline",
            _votes_step,
            _votes_audit,
        ),
        Invariant(
            7,
            "temperature_frequency",
            "temperature and frequency move as SPEC section 5 says",
            _temperature_step,
            _temperature_audit,
        ),
        Invariant(
            8,
            "divestment",
            "cooldown respected, never below the minimum balance",
            _divest_step,
            _divest_audit,
        ),
        Invariant(
            9,
            "atomicity",
            "a failed operation changes nothing; no balance leaves u64",
            _atomicity_step,
            _atomicity_audit,
        ),
    )
}
"""Invariant name -> invariant, in SPEC order."""


class Checker:
    """Per-step invariant checking: `before = checker.before(state, step)`, apply the step, then
    `checker.after(state, step, before, error, events)` returns the violations (empty when all hold)."""

    __slots__ = ("checks", "economics", "params", "policy")

    def __init__(
        self,
        params: Params,
        policy: SettlementPolicy,
        economics: Economics,
        names: Sequence[str] | None = None,
    ) -> None:
        self.params, self.policy, self.economics = params, policy, economics
        self.checks = [INVARIANTS[name].check_step for name in (names or INVARIANTS)]

    def before(self, state: ChoirState, step: Step) -> Before:
        """Capture what `step` can touch, before it runs."""
        thread, message = focus(state, step)
        return capture(state, step, thread, message, None)

    def after(
        self, state: ChoirState, step: Step, before: Before, error: ChoirError | None, events: Sequence[Event]
    ) -> list[Violation]:
        """The violations of every checked invariant by the step that ran since `before` (empty when all hold)."""
        thread, message = focus(state, step)
        if error is not None and before.thread is None and thread is not None:
            thread = None  # a failed create_thread must not have created the thread; atomicity reports it
        wallets = state.wallets
        ctx = StepContext(
            state,
            self.params,
            self.policy,
            self.economics,
            step,
            error,
            events,
            before,
            tuple([wallets.get(name, 0) for name in before.names]),
            thread,
            message,
        )
        violations: list[Violation] = []
        for check in self.checks:
            found = check(ctx)
            if found:
                violations += found
        return violations


def focus(state: ChoirState, step: Step) -> tuple[Thread | None, Message | None]:
    """The thread and message a step addresses, where they exist."""
    thread = state.threads.get(getattr(step, "thread", None))  # type: ignore[arg-type]
    content_hash = getattr(step, "hash", None)
    message = thread.messages.get(content_hash) if thread is not None and content_hash is not None else None
    return thread, message


def capture(
    state: ChoirState, step: Step, thread: Thread | None, message: Message | None, names: tuple[str, ...] | None
) -> Before:
    """The values `step` can change. `names` are the wallets to read (default: the actor, and the payees of a
    settlement, the voters)."""
    if names is None:
        names = (step.actor,) if message is None else tuple(dict.fromkeys((step.actor, *message.voters)))
    wallets = state.wallets
    return _new(Before, (state.treasury, state.wallet_total, state.thread_total, state.escrow_total,
                         len(state.threads), state.last_now, names, tuple([wallets.get(name, 0) for name in names]),
                         _thread_view(thread, step.actor), _message_view(message)))  # fmt: skip


def audit(state: ChoirState, params: Params, names: Sequence[str] | None = None) -> list[Violation]:
    """Check the whole state from scratch against every invariant (or the named ones)."""
    violations: list[Violation] = []
    for name in names or INVARIANTS:
        violations += INVARIANTS[name].audit(state, params)
    return violations
