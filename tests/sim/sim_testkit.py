"""Helpers for the simulator tests: a deliberately broken settlement policy (to prove that a broken invariant
stops a run and leaves a replayable trace) and small scenario builders."""

from __future__ import annotations

from choir_model.settlement import Outcome, Payout, SeedsPolicy


class LeakyPolicy(SeedsPolicy):
    """`seeds`, except that a unanimous approval pays every approver one base unit more than the stake holds:
    tokens appear from nowhere, which the conservation invariant must catch."""

    name = "leaky"

    def route(self, outcome: Outcome, stake: int, approvers: list[str], deniers: list[str]) -> Payout:
        payout = super().route(outcome, stake, approvers, deniers)
        if outcome is Outcome.APPROVED and payout.to_wallets:
            return Payout(tuple((name, amount + 1) for name, amount in payout.to_wallets), payout.to_thread, 0)
        return payout


class LeakyExpiryPolicy(SeedsPolicy):
    """`seeds`, except that an expired stake reaches the treasury one base unit richer. Expiries are the
    keeper's, a SimPy process: the violation surfaces from a process rather than from a vote's callback."""

    name = "leaky-expiry"

    def route(self, outcome: Outcome, stake: int, approvers: list[str], deniers: list[str]) -> Payout:
        if outcome is Outcome.EXPIRED:
            return Payout(to_treasury=stake + 1)
        return super().route(outcome, stake, approvers, deniers)


LEAKY = "sim_testkit:LeakyPolicy"
LEAKY_EXPIRY = "sim_testkit:LeakyExpiryPolicy"
