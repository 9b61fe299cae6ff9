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


LEAKY = "sim_testkit:LeakyPolicy"
