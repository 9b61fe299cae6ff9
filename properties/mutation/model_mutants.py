"""Deliberately broken variants of the model's rules, for proving that the property suite bites.

Each mutant is a small subclass of `choir_model.ops.Rules` that breaks one rule of the SPEC the way a real
implementation might; `EXPECTED` says which invariant (or "difference", the comparison with the true model) is
expected to catch it. A mutant that survives the default CI campaign is a hole in the suite. The test suite
(`tests/properties/test_mutants.py`) and `choir mutate --target model` both run this catalogue."""

from __future__ import annotations

from dataclasses import replace

from choir_model import ChoirError, Params
from choir_model.economics import Economics
from choir_model.events import Event
from choir_model.ops import Rules
from choir_model.settlement import Outcome, Payout, SeedsPolicy, SettlementPolicy
from choir_model.state import ChoirState, Message, MessageState, Thread
from choir_model.steps import Divest, Expire, ProcessApproval, Step, SubmitSpec


class DustNotRouted(Rules):
    """The remainder of S // A is lost instead of going to the treasury."""

    class Policy(SeedsPolicy):
        def route(self, outcome: Outcome, stake: int, approvers: list[str], deniers: list[str]) -> Payout:
            payout = super().route(outcome, stake, approvers, deniers)
            return replace(payout, to_treasury=0) if outcome is Outcome.APPROVED else payout

    def __init__(self, params: Params, policy: SettlementPolicy, economics: Economics) -> None:
        super().__init__(params, self.Policy(), economics)


class CoAuthorOnMixedVote(Rules):
    """A spec with a split vote still makes its author a co-author."""

    def _close(self, state: ChoirState, thread: Thread, message: Message, outcome: Outcome, approvers: list[str],
               deniers: list[str]) -> list[Event]:  # fmt: skip
        events = super()._close(state, thread, message, outcome, approvers, deniers)
        if outcome is Outcome.MIXED and message.is_spec:
            thread.co_authors.append(message.author)
        return events


class FrequencyMovedOnRejection(Rules):
    """An all-deny rejection couples the author in anyway (N and so frequency rise)."""

    def _close(self, state: ChoirState, thread: Thread, message: Message, outcome: Outcome, approvers: list[str],
               deniers: list[str]) -> list[Event]:  # fmt: skip
        events = super()._close(state, thread, message, outcome, approvers, deniers)
        if outcome is Outcome.DENIED and message.is_spec and len(thread.co_authors) < self.params.max_coauthors:
            thread.co_authors.append(message.author)
        return events


class VoteAcceptedAtDeadline(Rules):
    """The window check is `now <= deadline` instead of `now < deadline`."""

    def process_approval(self, state: ChoirState, step: ProcessApproval) -> list[Event]:
        thread = state.threads.get(step.thread)
        message = thread.messages.get(step.hash) if thread else None
        if message is not None and message.deadline == step.now:
            message.deadline += 1
            try:
                return super().process_approval(state, step)
            finally:
                message.deadline -= 1
        return super().process_approval(state, step)


class CooldownIgnored(Rules):
    """Divestment forgets the cooldown."""

    def divest(self, state: ChoirState, step: Divest) -> list[Event]:
        thread = state.threads.get(step.thread)
        last = thread.last_divest.pop(step.actor, None) if thread else None
        try:
            return super().divest(state, step)
        except ChoirError:
            if thread is not None and last is not None:
                thread.last_divest[step.actor] = last
            raise


class DivestBelowMinimum(Rules):
    """The divest bound forgets to keep the minimum thread balance."""

    def divest(self, state: ChoirState, step: Divest) -> list[Event]:
        params = self.params
        self.params = params.replace(min_thread_balance=1)
        try:
            return super().divest(state, step)
        finally:
            self.params = params


class EscrowKeptAfterExpiry(Rules):
    """An expired spec still holds its stake (taken from the treasury's share so the totals add up)."""

    def expire(self, state: ChoirState, step: Expire) -> list[Event]:
        thread = state.threads.get(step.thread)
        message = thread.messages.get(step.hash) if thread is not None else None
        stake = message.stake if message is not None else 0
        events = super().expire(state, step)
        if message is not None and stake:
            message.stake, state.escrow_total, state.treasury = (
                stake,
                state.escrow_total + stake,
                state.treasury - stake,
            )
        return events


class TerminalStateChanged(Rules):
    """Expiry also applies to messages already Public or Rejected."""

    def expire(self, state: ChoirState, step: Expire) -> list[Event]:
        thread = state.threads.get(step.thread)
        message = thread.messages.get(step.hash) if thread else None
        terminal = message is not None and message.state in (MessageState.PUBLIC, MessageState.REJECTED)
        if terminal and message.deadline is not None and step.now >= message.deadline:
            message.state = MessageState.PENDING
            thread.pending += 1  # type: ignore[union-attr]
        return super().expire(state, step)


class FailedSpecHalfApplies(Rules):
    """A rejected spec still charges the author one base unit (paid to the treasury)."""

    def submit_spec(self, state: ChoirState, step: SubmitSpec) -> list[Event]:
        try:
            return super().submit_spec(state, step)
        except ChoirError:
            if state.wallets.get(step.actor, 0) > 0:
                state.wallets[step.actor] -= 1
                state.wallet_total -= 1
                state.treasury += 1
            raise


class DuplicateVoteCounted(Rules):
    """A second vote by the same voter replaces the first instead of failing with AlreadyVoted."""

    def process_approval(self, state: ChoirState, step: ProcessApproval) -> list[Event]:
        thread = state.threads.get(step.thread)
        message = thread.messages.get(step.hash) if thread else None
        if message is not None and message.state is MessageState.PENDING:
            message.votes.pop(step.actor, None)
        return super().process_approval(state, step)


class WrongVoterSnapshot(Rules):
    """A spec's voters leave out the thread's creator (snapshot taken from the wrong list)."""

    def submit_spec(self, state: ChoirState, step: SubmitSpec) -> list[Event]:
        events = super().submit_spec(state, step)
        message = state.threads[step.thread].messages[step.hash]
        if len(message.voters) > 1:
            message.voters = message.voters[1:]
        return events


class DenialPaysTheTreasury(Rules):
    """The seeds policy routes an all-deny stake to the treasury instead of the thread."""

    class Policy(SeedsPolicy):
        def route(self, outcome: Outcome, stake: int, approvers: list[str], deniers: list[str]) -> Payout:
            return (
                Payout(to_treasury=stake)
                if outcome is Outcome.DENIED
                else super().route(outcome, stake, approvers, deniers)
            )

    def __init__(self, params: Params, policy: SettlementPolicy, economics: Economics) -> None:
        super().__init__(params, self.Policy(), economics)


class ExpiryOneSecondEarly(Rules):
    """Expiry is allowed at `deadline - 1`."""

    def expire(self, state: ChoirState, step: Expire) -> list[Event]:
        return super().expire(state, replace(step, now=step.now + 1))


class ClockMayGoBack(Rules):
    """The InvalidTime guard is missing."""

    def apply(self, state: ChoirState, step: Step) -> list[Event]:
        last = state.last_now
        state.last_now = None
        try:
            return super().apply(state, step)
        except ChoirError:
            state.last_now = last
            raise


EXPECTED: dict[type[Rules], set[str]] = {
    DustNotRouted: {"conservation"},
    CoAuthorOnMixedVote: {"co_authors", "temperature_frequency"},
    FrequencyMovedOnRejection: {"co_authors", "temperature_frequency"},
    VoteAcceptedAtDeadline: {"votes", "difference"},
    CooldownIgnored: {"divestment", "difference"},
    DivestBelowMinimum: {"thread_balance", "divestment", "difference"},
    EscrowKeptAfterExpiry: {"escrow", "difference"},
    TerminalStateChanged: {"message_states", "difference"},
    FailedSpecHalfApplies: {"atomicity"},
    DuplicateVoteCounted: {"votes", "difference"},
    WrongVoterSnapshot: {"votes", "difference"},
    DenialPaysTheTreasury: {"temperature_frequency", "difference"},
    ExpiryOneSecondEarly: {"difference", "thread_balance"},
    ClockMayGoBack: {"difference"},
}


MODEL_MUTANTS: dict[str, type[Rules]] = {mutant.__name__: mutant for mutant in EXPECTED}
"""The catalogue by name (what `choir mutate --target model` reports and its workers look up)."""
