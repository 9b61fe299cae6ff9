"""The invariants of SPEC section 6 (1 to 9), each named, each reported under its own name.

Two ways to run them:

* `Checker` checks one step, cheap enough for every step of a property run or a simulation: `before` captures the
  few values the step can touch (the thread and message it addresses, the wallets of its actor and voters, the
  ledger totals), and `after` compares them with the new state, one method per invariant.
  Conservation uses the state's running totals instead of re-summing the world.
* `audit(state, params)` re-derives everything from scratch (totals, pending counts, every thread and message):
  the spot check that also catches a corruption the running totals cannot see.

Every invariant name is a key of `INVARIANTS`; a violation names its invariant so reports can say which broke.
The per-step form of each invariant is one method of `Checker` (named after it, in SPEC order); the whole-state
shapes it shares with `audit` (co-authors, thread balance, escrow, votes) are the same helpers, called only when a
cheap test has already seen the shape broken.
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
from choir_model.state import TERMINAL_STATES, TRANSITIONS, ChoirState, Message, MessageState, Privacy, Thread
from choir_model.steps import CreateThread, Divest, ProcessApproval, Step

PENDING, PRIVATE, PUBLIC = MessageState.PENDING, MessageState.PRIVATE, MessageState.PUBLIC

# Transitions one step may make in the model: spec section 2's graph, entry states for new messages, and
# Private -> Public for a public request with no other co-author (Pending and settled in the same step).
_STEP_TRANSITIONS = TRANSITIONS | {(None, PRIVATE), (None, PENDING), (PRIVATE, PUBLIC)}

# The sign of a comparison (-1, 0, 1) each direction admits, read off `Direction.admits` once.
_ADMITTED = {d: frozenset(c for c in (-1, 0, 1) if d.admits(0, c)) for d in Direction}


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    message: str

    def __str__(self) -> str:
        return f"[{self.invariant}] {self.message}"


AuditCheck = Callable[[ChoirState, Params], list[Violation]]


@dataclass(frozen=True, slots=True)
class Invariant:
    """A SPEC section 6 invariant: its number, name and the whole-state audit (its per-step form is a section of
    `Checker.after`)."""

    number: int
    name: str
    summary: str
    audit: AuditCheck


# ---------------------------------------------------------------------------------------------------- 1


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
    return []


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


def _thread_audit(state: ChoirState, params: Params) -> list[Violation]:
    return [v for t in state.threads.values() for v in _thread_shape(t, params)]


# ---------------------------------------------------------------------------------------------------- 5


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


def _votes_audit(state: ChoirState, params: Params) -> list[Violation]:
    return [
        v
        for t in state.threads.values()
        for m in t.messages.values()
        for v in _votes_shape(m, f"{t.thread_id}/{m.content_hash}")
    ]


# ---------------------------------------------------------------------------------------------------- 7


def _temperature_audit(state: ChoirState, params: Params) -> list[Violation]:
    # Temperature and frequency are derived from balance and co-authors; the state-wide condition is that they
    # can be computed at all (`TemperatureError`, spec section 5): every thread has a co-author and a balance.
    return [
        Violation("temperature_frequency", f"thread {t.thread_id!r} has no co-author: temperature undefined")
        for t in state.threads.values()
        if not t.co_authors
    ]


# ---------------------------------------------------------------------------------------------------- 8


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


def _atomicity_audit(state: ChoirState, params: Params) -> list[Violation]:
    bad = [(k, v) for k, v in state.wallets.items() if not 0 <= v <= U64_MAX]
    bad += [(k, t.balance) for k, t in state.threads.items() if not 0 <= t.balance <= U64_MAX]
    bad += [
        (f"{k}/{h}", m.stake)
        for k, t in state.threads.items()
        for h, m in t.messages.items()
        if not 0 <= m.stake <= U64_MAX
    ]  # escrowed stakes are balances too (a program account field)
    if not 0 <= state.treasury <= U64_MAX:
        bad.append(("treasury", state.treasury))
    return [Violation("atomicity", f"balances outside u64: {bad}")] if bad else []


INVARIANTS: dict[str, Invariant] = {
    inv.name: inv
    for inv in (
        Invariant(1, "conservation", "wallets + treasury + threads + escrow == TOTAL_SUPPLY", _conservation_audit),
        Invariant(2, "escrow", "only Pending specs hold stake", _escrow_audit),
        Invariant(
            3, "co_authors", "never empty, no duplicates, bounded, changed only by unanimous approval", _coauthors_audit
        ),
        Invariant(4, "thread_balance", "balance >= MIN_THREAD_BALANCE, created_at <= updated_at", _thread_audit),
        Invariant(5, "message_states", "states move along the graph; terminal messages never change", _messages_audit),
        Invariant(6, "votes", "one per voter, snapshot voters only, none at or after the deadline", _votes_audit),
        Invariant(
            7, "temperature_frequency", "temperature and frequency move as SPEC section 5 says", _temperature_audit
        ),
        Invariant(8, "divestment", "cooldown respected, never below the minimum balance", _divest_audit),
        Invariant(9, "atomicity", "a failed operation changes nothing; no balance leaves u64", _atomicity_audit),
    )
}
"""Invariant name -> invariant, in SPEC order."""


# -------------------------------------------------------------------------------------------------------------
# Per-step capture


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
    privacy: Privacy


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


def _message_view(message: Message) -> MessageView:
    return _new(MessageView, (message.state, message.author, message.created_at, message.is_spec, message.stake,
                              message.deadline, message.voters, tuple(message.votes.items()),
                              message.privacy))  # fmt: skip


class _Addresses(dict[type, tuple[bool, bool]]):
    """Step type -> (names a thread, names a message), read once per type from the record's fields: a type lookup
    instead of a `getattr` with a default, which raises and catches inside for every `Fund`."""

    def __missing__(self, cls: type) -> tuple[bool, bool]:
        fields = getattr(cls, "__dataclass_fields__", {})
        self[cls] = found = ("thread" in fields, "hash" in fields)
        return found


_ADDRESSES = _Addresses()


def capture(
    state: ChoirState, step: Step, thread: Thread | None, message: Message | None, names: tuple[str, ...] | None
) -> Before:
    """The values `step` can change. `names` are the wallets to read (default: the actor, and the payees of a
    settlement, the voters). The views are built inline: this runs before every checked step."""
    actor = step.actor
    if names is None:
        names = (actor,) if message is None or not message.voters else tuple(dict.fromkeys((actor, *message.voters)))
    wallets = state.wallets
    return _new(Before, (
        state.treasury, state.wallet_total, state.thread_total, state.escrow_total, len(state.threads),
        state.last_now, names,
        (wallets.get(names[0], 0),) if len(names) == 1 else tuple([wallets.get(name, 0) for name in names]),
        None if thread is None else _new(ThreadView, (
            thread.balance, tuple(thread.co_authors), thread.created_at, thread.updated_at, thread.message_count,
            thread.last_divest.get(actor), thread.pending)),
        None if message is None else _message_view(message),
    ))  # fmt: skip


# -------------------------------------------------------------------------------------------------------------
# Per-step checking


class Checker:
    """Per-step invariant checking: `before = checker.before(state, step)`, apply the step, then
    `checker.after(state, step, before, error, events)` returns the violations (empty when all hold), in SPEC
    order. `names` restricts the report to some invariants, in the order given.

    `after` runs one method per invariant, in SPEC order (`conservation` ... `atomicity`), each given the step,
    its error, the `Before` capture and what the step addresses now (its thread, its message); a method about a
    thread or a message runs only when the step addresses one. Each method's common case (nothing broken) is a few
    comparisons: messages are built, and the shape helpers shared with `audit` called, only once a cheap test has
    seen something broken."""

    __slots__ = ("_order", "economics", "params", "policy")

    def __init__(
        self,
        params: Params,
        policy: SettlementPolicy,
        economics: Economics,
        names: Sequence[str] | None = None,
    ) -> None:
        self.params, self.policy, self.economics = params, policy, economics
        self._order = {INVARIANTS[name].name: i for i, name in enumerate(names)} if names else None

    def before(self, state: ChoirState, step: Step) -> Before:
        """Capture what `step` can touch, before it runs."""
        names_thread, names_message = _ADDRESSES[type(step)]
        thread = state.threads.get(step.thread) if names_thread else None  # type: ignore[attr-defined]
        message = thread.messages.get(step.hash) if names_message and thread is not None else None  # type: ignore[attr-defined]
        return capture(state, step, thread, message, None)

    def after(
        self, state: ChoirState, step: Step, before: Before, error: ChoirError | None, events: Sequence[Event]
    ) -> list[Violation]:
        """The violations of every checked invariant by the step that ran since `before` (empty when all hold)."""
        names_thread, names_message = _ADDRESSES[type(step)]
        thread = state.threads.get(step.thread) if names_thread else None  # type: ignore[attr-defined]
        message = thread.messages.get(step.hash) if names_message and thread is not None else None  # type: ignore[attr-defined]
        if error is not None and before.thread is None and thread is not None:
            thread = None  # a failed create_thread must not have created the thread; atomicity reports it
        names, wallets = before.names, state.wallets
        touched = (wallets.get(names[0], 0),) if len(names) == 1 else tuple([wallets.get(n, 0) for n in names])
        out: list[Violation] = []
        self.conservation(state, before, thread, touched, out)
        self.escrow(state, step, before, message, out)
        if thread is not None:
            self.co_authors(step, before, thread, message, out)
            self.thread_balance(step, error, before, thread, out)
            self.message_states(step, before, thread, message, out)
            if message is not None:
                self.votes(step, before, message, out)
            if before.thread is not None:  # the thread existed before and after the step
                self.temperature_frequency(step, error, before, thread, message, out)
                self.divestment(step, error, before, thread, out)
        self.atomicity(state, step, error, before, thread, message, touched, out)
        order = self._order
        if out and order is not None:
            out = sorted((v for v in out if v.invariant in order), key=lambda v: order[v.invariant])
        return out

    # -- 1 ----------------------------------------------------------------------------------------------------

    def conservation(
        self, state: ChoirState, before: Before, thread: Thread | None, wallets: tuple[int, ...], out: list[Violation]
    ) -> None:
        """The supply adds up, and the touched wallets and thread moved with the running totals."""
        supply = self.params.total_supply
        total = state.wallet_total + state.treasury + state.thread_total + state.escrow_total
        if total != supply:
            out.append(Violation("conservation", f"wallets+treasury+threads+escrow = {total} != {supply}"))
        wallets0 = before.wallets
        moved = wallets[0] - wallets0[0] if len(wallets) == 1 else sum(wallets) - sum(wallets0)
        total_moved = state.wallet_total - before.wallet_total
        if moved != total_moved:
            out.append(
                Violation("conservation", f"touched wallets moved by {moved} but the wallet total by {total_moved}")
            )
        if thread is not None and before.thread is not None:
            balance_moved = thread.balance - before.thread.balance
            thread_moved = state.thread_total - before.thread_total
            if balance_moved != thread_moved:
                out.append(
                    Violation(
                        "conservation", f"thread balance moved by {balance_moved}, thread total by {thread_moved}"
                    )
                )

    # -- 2 ----------------------------------------------------------------------------------------------------

    def escrow(self, state: ChoirState, step: Step, before: Before, m: Message | None, out: list[Violation]) -> None:
        """Only a pending spec holds stake, and the escrow total moves with the message's stake."""
        moved = state.escrow_total - before.escrow_total
        mb = before.message
        if m is None:
            if moved:
                out.append(Violation("escrow", f"escrow total moved by {moved} without a message"))
            return
        stake, stake0 = m.stake, (mb.stake if mb is not None else 0)
        if stake or (m.state is PENDING and m.is_spec):
            out += _escrow_message(m, step, self.params)
        if moved != stake - stake0:
            out.append(Violation("escrow", f"escrow total moved by {moved}, the message's stake by {stake - stake0}"))
        if mb is not None and mb.state is PENDING and m.state is PENDING and stake != stake0:
            out.append(Violation("escrow", f"{_where(step)}: a pending stake changed from {stake0}"))

    # -- 3 ----------------------------------------------------------------------------------------------------

    def co_authors(self, step: Step, before: Before, thread: Thread, m: Message | None, out: list[Violation]) -> None:
        """The shape, and a change only by a unanimous spec approval adding its author."""
        tb = before.thread
        authors = thread.co_authors
        n = len(authors)
        if not n or n > self.params.max_coauthors or (n > 1 and len(set(authors)) != n):
            out += _coauthor_shape(thread, self.params)
        if tb is None:
            if isinstance(step, CreateThread) and authors != [step.actor]:
                out.append(Violation("co_authors", f"a new thread's co-authors are {authors}, not the creator"))
            return
        now, was = tuple(authors), tb.co_authors
        if now == was:
            return
        mb = before.message
        joined = (
            m is not None
            and mb is not None
            and mb.state is PENDING
            and m.state is PUBLIC
            and m.is_spec
            and now == (*was, m.author)
        )
        if not joined:
            out.append(
                Violation(
                    "co_authors",
                    f"co-authors changed from {list(was)} to {list(now)} other than by a unanimous spec approval",
                )
            )

    # -- 4 ----------------------------------------------------------------------------------------------------

    def thread_balance(
        self, step: Step, error: ChoirError | None, before: Before, thread: Thread, out: list[Violation]
    ) -> None:
        """The balance stays at or above the minimum, creation time is fixed, and a step moves `updated_at`."""
        tb = before.thread
        if thread.balance < self.params.min_thread_balance or thread.created_at > thread.updated_at:
            out += _thread_shape(thread, self.params)
        if tb is not None and thread.created_at != tb.created_at:
            out.append(Violation("thread_balance", f"created_at changed from {tb.created_at}"))
        if error is None and thread.updated_at != step.now:
            out.append(Violation("thread_balance", f"updated_at is {thread.updated_at} after a step at {step.now}"))

    # -- 5 ----------------------------------------------------------------------------------------------------

    def message_states(
        self, step: Step, before: Before, thread: Thread, m: Message | None, out: list[Violation]
    ) -> None:
        """States move along the graph, a message's identity is fixed, terminal messages are frozen, and
        `message_count` counts exactly the messages created."""
        tb, mb = before.thread, before.message
        if tb is not None:
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
            return
        state0 = mb.state if mb is not None else None
        if state0 != m.state and (state0, m.state) not in _STEP_TRANSITIONS:
            out.append(
                Violation("message_states", f"{_where(step)} moved {state0} -> {m.state.value}, not on the graph")
            )
        if mb is None:
            return
        if m.author != mb.author or m.created_at != mb.created_at or m.is_spec != mb.is_spec or m.privacy != mb.privacy:
            out.append(Violation("message_states", f"{_where(step)}: author, creation time, kind or privacy changed"))
        if state0 in TERMINAL_STATES and _message_view(m) != mb:
            out.append(Violation("message_states", f"{_where(step)} is {mb.state.value} (terminal) but changed"))

    # -- 6 ----------------------------------------------------------------------------------------------------

    def votes(self, step: Step, before: Before, m: Message, out: list[Violation]) -> None:
        """The shape, a fixed voter snapshot taken on entering the window, and only the step's own vote added,
        before the deadline."""
        mb, tb = before.message, before.thread
        votes, voters, state = m.votes, m.voters, m.state
        if votes:
            if votes.keys() - voters or state is PRIVATE or (state is PENDING and voters and len(votes) >= len(voters)):
                out += _votes_shape(m, step)
        elif voters and state is PRIVATE:
            out += _votes_shape(m, step)
        if mb is not None and mb.voters and voters != mb.voters:
            out.append(Violation("votes", f"{_where(step)}: the voter snapshot changed from {mb.voters} to {voters}"))
        if (mb is None or mb.state is PRIVATE) and state is not PRIVATE and tb is not None:
            expected = tb.co_authors if m.is_spec else tuple([n for n in tb.co_authors if n != m.author])
            if voters != expected:
                out.append(
                    Violation("votes", f"{_where(step)}: voters {voters} are not the co-authors snapshot {expected}")
                )
        if mb is None:
            if votes:
                out += _votes_changed(m, {}, step)
            return
        # The one change that is allowed, decided without the report's bookkeeping: every recorded vote kept and
        # the acting voter's appended, by process_approval, before the deadline.
        items = tuple(votes.items())
        if items != mb.votes and not (
            items[:-1] == mb.votes
            and items[-1][0] == step.actor
            and isinstance(step, ProcessApproval)
            and m.deadline is not None
            and step.now < m.deadline
        ):
            out += _votes_changed(m, dict(mb.votes), step)

    # -- 7 ----------------------------------------------------------------------------------------------------

    def temperature_frequency(
        self,
        step: Step,
        error: ChoirError | None,
        before: Before,
        thread: Thread,
        m: Message | None,
        out: list[Violation],
    ) -> None:
        """Temperature and frequency move as the policy declares for the step's settlement, compared exactly:
        T = E/N as the rational balance/N (cross-multiplied) and omega through N (sqrt is monotone). A float
        temperature cannot see a one-unit divestment from a large balance."""
        tb, mb = before.thread, before.message
        balance, balance0 = thread.balance, tb.balance
        n1, n0 = len(thread.co_authors), len(tb.co_authors)
        e_n0, e0_n1 = balance * n0, balance0 * n1
        t_cmp = (e_n0 > e0_n1) - (e_n0 < e0_n1)
        w_cmp = (n1 > n0) - (n1 < n0)
        settled = m is not None and mb is not None and mb.state is not m.state and m.state in TERMINAL_STATES
        divested = error is None and isinstance(step, Divest)
        if not (t_cmp or w_cmp or settled or divested):
            return
        outcome = None
        if settled and mb.is_spec and mb.stake:
            if m.state is MessageState.EXPIRED:
                outcome = Outcome.EXPIRED
            else:
                approvals = sum(m.votes.values())
                outcome = Outcome.of_votes(approvals, len(m.votes) - approvals)
            temperature, frequency = self.policy.temperature_effects[outcome]
        elif divested:
            temperature, frequency = Direction.DOWN, Direction.SAME
        else:  # no settlement, or a public request's (no stake, no co-author)
            temperature, frequency = Direction.SAME, Direction.SAME
        t_ok, w_ok = t_cmp in _ADMITTED[temperature], w_cmp in _ADMITTED[frequency]
        if t_ok and w_ok:
            return
        if settled:
            why = f"a spec settled {outcome.value} under {self.policy.name}" if outcome else "a public request settled"
        else:
            why = "a divestment" if divested else f"{step.op} without settlement"
        if not t_ok:
            out.append(
                Violation(
                    "temperature_frequency",
                    f"{why}: E/N went {balance0}/{n0} -> {balance}/{n1}, expected {temperature.value}",
                )
            )
        if not w_ok:
            out.append(
                Violation("temperature_frequency", f"{why}: N went {n0} -> {n1}, frequency expected {frequency.value}")
            )

    # -- 8 ----------------------------------------------------------------------------------------------------

    def divestment(
        self, step: Step, error: ChoirError | None, before: Before, thread: Thread, out: list[Violation]
    ) -> None:
        """Cooldown and bound kept, and only a divestment moves the actor's last divestment time."""
        tb, params = before.thread, self.params
        last_after, last_before = thread.last_divest.get(step.actor), tb.last_divest
        if not isinstance(step, Divest) or error is not None:
            if last_after != last_before:
                out.append(Violation("divestment", f"{step.op} changed {step.actor}'s last divestment time"))
            return
        if last_before is not None and step.now < last_before + params.divest_cooldown:
            out.append(
                Violation(
                    "divestment",
                    f"{step.actor} divested at {step.now}, cooldown ends at {last_before + params.divest_cooldown}",
                )
            )
        bound = (tb.balance - params.min_thread_balance) // len(tb.co_authors)
        taken = tb.balance - thread.balance
        if taken != step.amount or taken > bound:
            out.append(Violation("divestment", f"divested {taken} (asked {step.amount}), bound {bound}"))
        if last_after != step.now:
            out.append(Violation("divestment", f"last divestment time is {last_after}, not {step.now}"))

    # -- 9 ----------------------------------------------------------------------------------------------------

    def atomicity(
        self,
        state: ChoirState,
        step: Step,
        error: ChoirError | None,
        before: Before,
        thread: Thread | None,
        m: Message | None,
        wallets: tuple[int, ...],
        out: list[Violation],
    ) -> None:
        """A failed step changed nothing it could touch, and every touched balance is a u64."""
        if error is not None:
            after = capture(state, step, thread, m, before.names)
            if after != before:
                changed = [field for field in Before._fields if getattr(after, field) != getattr(before, field)]
                out.append(Violation("atomicity", f"{step.op} failed with {error.name} but changed {changed}"))
        if (
            0 <= state.treasury <= U64_MAX
            and (0 <= wallets[0] <= U64_MAX if len(wallets) == 1 else min(wallets) >= 0 and max(wallets) <= U64_MAX)
            and (thread is None or 0 <= thread.balance <= U64_MAX)
            and (m is None or 0 <= m.stake <= U64_MAX)
        ):
            return
        amounts = [state.treasury, *wallets]
        if thread is not None:
            amounts.append(thread.balance)
        if m is not None:
            amounts.append(m.stake)
        out.append(Violation("atomicity", f"a balance left u64: {[x for x in amounts if not 0 <= x <= U64_MAX]}"))


def _votes_changed(m: Message, old: dict[str, bool], step: Step) -> list[Violation]:
    """Invariant 6 for a step that changed a message's votes: recorded votes never change, and the only new vote
    is the acting voter's, cast by `process_approval` before the deadline."""
    out = []
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


def _where(step: Step | str) -> str:
    """Where a violation is: the message a step addresses (or an audit's ready-made location). Built only once a
    violation is found; the checks pass the step itself around."""
    if isinstance(step, str):
        return step
    return f"{step.thread_id}/{(step.content_hash or '')[:12]}"


def audit(state: ChoirState, params: Params, names: Sequence[str] | None = None) -> list[Violation]:
    """Check the whole state from scratch against every invariant (or the named ones)."""
    violations: list[Violation] = []
    for name in names or INVARIANTS:
        violations += INVARIANTS[name].audit(state, params)
    return violations
