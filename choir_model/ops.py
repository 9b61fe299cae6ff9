"""The operations (SPEC section 3): guards in SPEC order, then effects, then events.

`Rules` bundles what the transition function depends on (parameters, settlement policy, economics) and applies
one `Step` to a `ChoirState` in place. Every guard runs before any effect, so a step that raises a `ChoirError`
has changed nothing (invariant 9; the tests compare deep snapshots around every rejected step). Token movements
keep the state's running totals (`wallet_total`, `thread_total`, `escrow_total`) in step with the balances.

The methods are written flat, without helper indirection on the hot path: the benchmark's goal is 150,000
operations per second on one core.
"""

from __future__ import annotations

from collections.abc import Callable

from choir_model import errors as e
from choir_model import events as ev
from choir_model.economics import Economics
from choir_model.params import I64_MAX, Params
from choir_model.settlement import Outcome, Payout, SettlementPolicy
from choir_model.state import ChoirState, Message, MessageState, Thread
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

PRIVATE, PENDING, PUBLIC, REJECTED, EXPIRED = (
    MessageState.PRIVATE,
    MessageState.PENDING,
    MessageState.PUBLIC,
    MessageState.REJECTED,
    MessageState.EXPIRED,
)


def invalid_time(last_now: int | None, now: int, params: Params) -> str | None:
    """Why `now` is not a valid time for the next step, or None (SPEC section 3, `InvalidTime`): it may not be
    earlier than the last successful step, and it must leave room for a deadline (`now + APPROVAL_WINDOW`) in a
    signed 64-bit time. Both are trace properties: every driver checks them before a step reaches its
    implementation, since a real cluster's clock can do neither."""
    if last_now is not None and now < last_now:
        return f"now={now} is earlier than the last successful step's now={last_now}"
    if now > I64_MAX - params.approval_window:
        return f"now={now} leaves no room for a deadline now + {params.approval_window} within i64"
    return None


def divest_bound(balance: int, co_authors: int, params: Params) -> int:
    """The most one co-author may divest from a thread: an equal share of what exceeds the minimum balance, rounded
    down (the remainder stays in the thread). The rule, the step generator and the simulator's and load test's
    clients size divestments with it; the invariant checker restates it on its own, as an oracle should."""
    return (balance - params.min_thread_balance) // co_authors


class Rules:
    """The transition function of one Choir world: `apply(state, step) -> events`."""

    __slots__ = ("_dispatch", "economics", "params", "policy")

    def __init__(self, params: Params, policy: SettlementPolicy, economics: Economics) -> None:
        self.params = params
        self.policy = policy
        self.economics = economics
        self._dispatch: dict[type[Step], Callable[[ChoirState, Step], list[ev.Event]]] = {
            Fund: self.fund,
            CreateThread: self.create_thread,
            SubmitMessage: self.submit_message,
            RequestPublic: self.request_public,
            SubmitSpec: self.submit_spec,
            ProcessApproval: self.process_approval,
            Expire: self.expire,
            Divest: self.divest,
        }  # type: ignore[dict-item]

    def apply(self, state: ChoirState, step: Step) -> list[ev.Event]:
        """Apply one step. Raises a `ChoirError` (and changes nothing) when a guard fails."""
        reason = invalid_time(state.last_now, step.now, self.params)
        if reason is not None:
            raise e.InvalidTime(reason)
        events = self._dispatch[type(step)](state, step)
        state.last_now = step.now
        return events

    # -- lookups shared by the guards -------------------------------------------------------------------------

    @staticmethod
    def _thread(state: ChoirState, thread_id: str) -> Thread:
        thread = state.threads.get(thread_id)
        if thread is None:
            raise e.UnknownThread(f"thread {thread_id!r} does not exist")
        return thread

    @staticmethod
    def _message(thread: Thread, content_hash: str) -> Message:
        message = thread.messages.get(content_hash)
        if message is None:
            raise e.UnknownMessage(f"no message {content_hash[:16]}... in thread {thread.thread_id!r}")
        return message

    @staticmethod
    def _pending(message: Message) -> None:
        if message.state is not PENDING:
            raise e.StateConflict(f"message is {message.state.value}, not Pending")

    # -- operations ------------------------------------------------------------------------------------------

    def fund(self, state: ChoirState, step: Fund) -> list[ev.Event]:
        """Treasury -> wallet, signed by `treasury_threshold` distinct treasury authorities."""
        params = self.params
        signed = len(set(step.signers).intersection(params.treasury_authorities))
        if signed < params.treasury_threshold:
            raise e.Unauthorized(f"{signed} treasury authorities signed, {params.treasury_threshold} needed")
        amount = step.amount
        if amount <= 0:
            raise e.InvalidAmount(f"amount must be > 0, got {amount}")
        if state.treasury < amount:
            raise e.InsufficientFunds(f"treasury holds {state.treasury}, asked {amount}")
        state.treasury -= amount
        state.wallets[step.actor] = state.wallets.get(step.actor, 0) + amount
        state.wallet_total += amount
        return [ev.WalletFunded(step.actor, amount)]

    def create_thread(self, state: ChoirState, step: CreateThread) -> list[ev.Event]:
        params = self.params
        thread_id = step.thread
        try:
            size = len(thread_id.encode("utf-8"))
        except UnicodeEncodeError:  # a lone UTF-16 surrogate: no UTF-8 encoding, so no id (SPEC section 3.2)
            raise e.InvalidThreadId(
                f"thread id {thread_id!r} is not valid Unicode (it has no UTF-8 encoding)"
            ) from None
        if not 1 <= size <= params.thread_id_max:
            raise e.InvalidThreadId(f"thread id must be 1..{params.thread_id_max} bytes of UTF-8, got {size}")
        if thread_id in state.threads:
            raise e.ThreadExists(f"thread {thread_id!r} already exists")
        deposit = step.deposit
        if deposit < params.min_thread_balance:
            raise e.BelowMinimumBalance(f"deposit {deposit} < minimum thread balance {params.min_thread_balance}")
        held = state.wallets.get(step.actor, 0)
        if held < deposit:
            raise e.InsufficientFunds(f"{step.actor} holds {held}, deposit {deposit}")
        state.wallets[step.actor] = held - deposit
        state.wallet_total -= deposit
        state.thread_total += deposit
        state.threads[thread_id] = Thread(thread_id, [step.actor], deposit, step.now, step.now)
        return [ev.ThreadCreated(thread_id, step.actor, deposit)]

    def submit_message(self, state: ChoirState, step: SubmitMessage) -> list[ev.Event]:
        """A co-author writes freely: the message is Private."""
        thread = self._thread(state, step.thread)
        if step.actor not in thread.co_authors:
            raise e.NotCoAuthor(f"{step.actor} is not a co-author of {thread.thread_id!r}")
        content_hash = step.hash
        if content_hash in thread.messages:
            raise e.DuplicateContent(f"{content_hash[:16]}... already in {thread.thread_id!r}")
        thread.messages[content_hash] = Message(content_hash, step.actor, PRIVATE, step.privacy, step.now)
        thread.message_count += 1
        thread.updated_at = step.now
        return [
            ev.MessageCreated(thread.thread_id, content_hash, step.actor),
            ev.MessagePrivate(thread.thread_id, content_hash),
        ]

    def request_public(self, state: ChoirState, step: RequestPublic) -> list[ev.Event]:
        """A co-author asks the others to make a private message public; no stake. With no other co-author the
        (empty) vote is unanimous and the message is Public at once."""
        thread = self._thread(state, step.thread)
        message = self._message(thread, step.hash)
        if message.state is not PRIVATE:
            raise e.StateConflict(f"message is {message.state.value}, not Private")
        if step.actor != message.author or step.actor not in thread.co_authors:
            raise e.NotCoAuthor(f"{step.actor} is not the message's author and a co-author")
        if thread.pending >= self.params.max_pending:
            raise e.ThreadFull(f"{thread.pending} pending messages, limit {self.params.max_pending}")
        deadline = step.now + self.params.approval_window
        message.state = PENDING
        message.deadline = deadline
        message.voters = tuple(name for name in thread.co_authors if name != step.actor)
        thread.pending += 1
        thread.updated_at = step.now
        events: list[ev.Event] = [ev.PublicRequested(thread.thread_id, message.content_hash, deadline)]
        if not message.voters:
            events += self._settle(state, thread, message)
        return events

    def submit_spec(self, state: ChoirState, step: SubmitSpec) -> list[ev.Event]:
        """Anyone who is not a co-author stakes tokens on a message; the co-authors vote within the window."""
        params = self.params
        thread = self._thread(state, step.thread)
        author = step.actor
        if author in thread.co_authors:
            raise e.AlreadyCoAuthor(f"{author} is already a co-author of {thread.thread_id!r}")
        content_hash = step.hash
        if content_hash in thread.messages:
            raise e.DuplicateContent(f"{content_hash[:16]}... already in {thread.thread_id!r}")
        stake = step.stake
        if stake < params.min_stake:
            raise e.StakeTooLow(f"stake {stake} < minimum {params.min_stake}")
        held = state.wallets.get(author, 0)
        if held < stake:
            raise e.InsufficientFunds(f"{author} holds {held}, stake {stake}")
        if author in thread.pending_spec_authors:
            raise e.StateConflict(f"{author} already has a pending spec in {thread.thread_id!r}")
        seats = len(thread.co_authors) + len(thread.pending_spec_authors)
        if seats >= params.max_coauthors or thread.pending >= params.max_pending:
            raise e.ThreadFull(
                f"{seats} co-authors and reserved seats (max {params.max_coauthors}), "
                f"{thread.pending} pending (max {params.max_pending})"
            )
        deadline = step.now + params.approval_window
        state.wallets[author] = held - stake
        state.wallet_total -= stake
        state.escrow_total += stake
        thread.messages[content_hash] = Message(
            content_hash,
            author,
            PENDING,
            step.privacy,
            step.now,
            True,
            stake,
            deadline,
            tuple(thread.co_authors),
        )
        thread.pending += 1
        thread.pending_spec_authors.add(author)
        thread.message_count += 1
        thread.updated_at = step.now
        return [
            ev.MessageCreated(thread.thread_id, content_hash, author),
            ev.SpecSubmitted(thread.thread_id, content_hash, stake, deadline),
        ]

    def process_approval(self, state: ChoirState, step: ProcessApproval) -> list[ev.Event]:
        """Record one vote; the last vote settles the message in the same operation."""
        thread = self._thread(state, step.thread)
        message = self._message(thread, step.hash)
        self._pending(message)
        if step.now >= message.deadline:  # type: ignore[operator]
            raise e.ApprovalTimeout(f"now={step.now} is at or after the deadline {message.deadline}")
        voter = step.actor
        if voter not in message.voters:
            raise e.NotAVoter(f"{voter} is not in the message's voter snapshot")
        if voter in message.votes:
            raise e.AlreadyVoted(f"{voter} already voted")
        message.votes[voter] = step.approve
        thread.updated_at = step.now
        events: list[ev.Event] = [ev.ApprovalReceived(thread.thread_id, message.content_hash, voter, step.approve)]
        if len(message.votes) == len(message.voters):
            events += self._settle(state, thread, message)
        return events

    def expire(self, state: ChoirState, step: Expire) -> list[ev.Event]:
        """Anyone closes a window that has passed (a crank on chain); the stake goes where the policy says."""
        thread = self._thread(state, step.thread)
        message = self._message(thread, step.hash)
        self._pending(message)
        if step.now < message.deadline:  # type: ignore[operator]
            raise e.StateConflict(f"now={step.now} is before the deadline {message.deadline}")
        thread.updated_at = step.now
        return self._close(state, thread, message, Outcome.EXPIRED, [], [])

    def divest(self, state: ChoirState, step: Divest) -> list[ev.Event]:
        """A co-author withdraws at most their equal share of what exceeds the minimum balance, once per
        cooldown."""
        params = self.params
        thread = self._thread(state, step.thread)
        actor = step.actor
        if actor not in thread.co_authors:
            raise e.NotCoAuthor(f"{actor} is not a co-author of {thread.thread_id!r}")
        amount = step.amount
        if amount <= 0:
            raise e.InvalidAmount(f"amount must be > 0, got {amount}")
        bound = divest_bound(thread.balance, len(thread.co_authors), params)
        if amount > bound:
            raise e.BelowMinimumBalance(f"amount {amount} > (balance - minimum) // N = {bound}")
        last = thread.last_divest.get(actor)
        if last is not None and step.now < last + params.divest_cooldown:
            raise e.CooldownActive(f"next divest for {actor} at {last + params.divest_cooldown}, now={step.now}")
        before = self._temperature(thread)
        thread.balance -= amount
        state.thread_total -= amount
        state.wallets[actor] = state.wallets.get(actor, 0) + amount
        state.wallet_total += amount
        thread.last_divest[actor] = step.now
        thread.updated_at = step.now
        return [
            ev.TokensDivested(thread.thread_id, actor, amount),
            ev.TemperatureChanged(thread.thread_id, self._temperature(thread) - before),
        ]

    # -- settlement ------------------------------------------------------------------------------------------

    def _temperature(self, thread: Thread) -> float:
        return self.economics.temperature(thread.balance, len(thread.co_authors), self.params.unit)

    def _settle(self, state: ChoirState, thread: Thread, message: Message) -> list[ev.Event]:
        votes = message.votes
        approvers = [name for name in message.voters if votes[name]]
        deniers = [name for name in message.voters if not votes[name]]
        return self._close(state, thread, message, Outcome.of_votes(len(approvers), len(deniers)), approvers, deniers)

    def _close(
        self,
        state: ChoirState,
        thread: Thread,
        message: Message,
        outcome: Outcome,
        approvers: list[str],
        deniers: list[str],
    ) -> list[ev.Event]:
        """Move a Pending message to its terminal state, route its stake and add the co-author."""
        thread_id, content_hash, stake = thread.thread_id, message.content_hash, message.stake
        n_before = len(thread.co_authors)
        t_before = self._temperature(thread)
        payout = self.policy.route(outcome, stake, approvers, deniers) if stake else Payout()
        events: list[ev.Event] = []
        if outcome is Outcome.APPROVED:
            message.state = PUBLIC
            events.append(ev.MessagePublic(thread_id, content_hash))
            if message.is_spec:
                thread.co_authors.append(message.author)
                events.append(ev.CoAuthorAdded(thread_id, message.author))
        elif outcome is Outcome.EXPIRED:
            message.state = EXPIRED
            events.append(ev.MessageExpired(thread_id, content_hash))
        else:
            message.state = REJECTED
            events.append(ev.MessageRejected(thread_id, content_hash, outcome.value))
        thread.pending -= 1
        if message.is_spec:
            thread.pending_spec_authors.discard(message.author)
            thread.specs_settled += 1
            thread.specs_approved += outcome is Outcome.APPROVED
        if stake:
            message.stake = 0
            state.escrow_total -= stake
            wallets = state.wallets
            for name, amount in payout.to_wallets:
                wallets[name] = wallets.get(name, 0) + amount
            state.wallet_total += sum(amount for _, amount in payout.to_wallets)
            thread.balance += payout.to_thread
            state.thread_total += payout.to_thread
            state.treasury += payout.to_treasury
            events.append(
                ev.StakeSettled(
                    thread_id,
                    content_hash,
                    outcome.value,
                    stake,
                    payout.to_wallets,
                    payout.to_thread,
                    payout.to_treasury,
                )
            )
        t_after = self._temperature(thread)
        if t_after != t_before:
            events.append(ev.TemperatureChanged(thread_id, t_after - t_before))
        n_after = len(thread.co_authors)
        if n_after != n_before:
            frequency = self.economics.frequency
            events.append(ev.FrequencyChanged(thread_id, frequency(n_after) - frequency(n_before)))
        return events
