"""Settlement policies (SPEC section 4): where an escrowed stake goes for each outcome of an approval.

A policy is a pure function from (outcome, stake, approvers, deniers) to a `Payout`. Every integer division
rounds down and its remainder goes to the treasury, under every policy, so conservation is exact. Each policy also
declares the temperature and frequency effect spec section 4's direction table promises for each outcome; invariant 7
checks the ledger against that declaration. The program implements `seeds` only; the others are Choir's earlier
designs, kept for economists to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class Outcome(StrEnum):
    APPROVED = "approved"  # every voter approved (D == 0)
    DENIED = "denied"  # every voter denied (A == 0, D > 0)
    MIXED = "mixed"  # A > 0 and D > 0
    EXPIRED = "expired"  # the window closed before every voter voted

    @classmethod
    def of_votes(cls, approvals: int, denials: int) -> Outcome:
        if denials == 0:
            return cls.APPROVED
        return cls.DENIED if approvals == 0 else cls.MIXED


class Direction(StrEnum):
    """How a derived quantity moves in one settlement: strictly down or up, unchanged, or policy-dependent."""

    DOWN = "down"
    SAME = "same"
    UP = "up"
    ANY = "any"

    def admits(self, before: float, after: float) -> bool:
        if self is Direction.ANY:
            return True
        if self is Direction.SAME:
            return after == before
        return after < before if self is Direction.DOWN else after > before


@dataclass(frozen=True, slots=True)
class Payout:
    """Where a stake goes. `to_wallets` keeps voter order; the parts always sum to the stake."""

    to_wallets: tuple[tuple[str, int], ...] = ()
    to_thread: int = 0
    to_treasury: int = 0

    @property
    def total(self) -> int:
        """Everything routed; a policy is correct only if this equals the stake (the notebooks assert it)."""
        return sum(amount for _, amount in self.to_wallets) + self.to_thread + self.to_treasury


def split_equally(stake: int, recipients: list[str]) -> Payout:
    """`stake // n` to each recipient, the remainder `stake % n` to the treasury."""
    share, remainder = divmod(stake, len(recipients))
    if share == 0:
        return Payout(to_treasury=stake)
    return Payout(to_wallets=tuple((name, share) for name in recipients), to_treasury=remainder)


class SettlementPolicy:
    """Base policy. Subclasses override `route`; `temperature_effects` maps each outcome of a staked spec to the
    (temperature, frequency) directions the policy promises. A public request (stake 0, no co-author added) moves
    neither, under every policy."""

    name: ClassVar[str] = ""
    temperature_effects: ClassVar[dict[Outcome, tuple[Direction, Direction]]] = {}

    def route(self, outcome: Outcome, stake: int, approvers: list[str], deniers: list[str]) -> Payout:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<policy {self.name}>"


_SAME = (Direction.SAME, Direction.SAME)


class SeedsPolicy(SettlementPolicy):
    """The default: unanimous -> approvers share the stake; all deny -> the thread (the deniers' collective
    holding, so E/N rises); mixed and expired -> treasury."""

    name = "seeds"
    temperature_effects: ClassVar[dict[Outcome, tuple[Direction, Direction]]] = {
        Outcome.APPROVED: (Direction.DOWN, Direction.UP),
        Outcome.DENIED: (Direction.UP, Direction.SAME),
        Outcome.MIXED: _SAME,
        Outcome.EXPIRED: _SAME,
    }

    def route(self, outcome: Outcome, stake: int, approvers: list[str], deniers: list[str]) -> Payout:
        if outcome is Outcome.APPROVED and approvers:
            return split_equally(stake, approvers)
        if outcome is Outcome.DENIED:
            return Payout(to_thread=stake)
        return Payout(to_treasury=stake)


class Scales2024Policy(SettlementPolicy):
    """Choir, October 2024: unanimous -> the thread; denied -> the deniers' wallets; mixed and expired ->
    treasury."""

    name = "scales-2024-10"
    temperature_effects: ClassVar[dict[Outcome, tuple[Direction, Direction]]] = {
        Outcome.APPROVED: (Direction.ANY, Direction.UP),  # E grows by S while N grows by one
        Outcome.DENIED: _SAME,
        Outcome.MIXED: _SAME,
        Outcome.EXPIRED: _SAME,
    }

    def route(self, outcome: Outcome, stake: int, approvers: list[str], deniers: list[str]) -> Payout:
        if outcome is Outcome.APPROVED:
            return Payout(to_thread=stake)
        if outcome is Outcome.DENIED:
            return split_equally(stake, deniers)
        return Payout(to_treasury=stake)


class Collective2024Policy(SettlementPolicy):
    """Choir, November 2024: unanimous -> approvers share; denied -> the thread; mixed -> `S*A // (A+D)` to the
    treasury and the rest to the thread; expired -> treasury."""

    name = "collective-2024-11"
    temperature_effects: ClassVar[dict[Outcome, tuple[Direction, Direction]]] = {
        Outcome.APPROVED: (Direction.DOWN, Direction.UP),
        Outcome.DENIED: (Direction.UP, Direction.SAME),
        Outcome.MIXED: (Direction.UP, Direction.SAME),
        Outcome.EXPIRED: _SAME,
    }

    def route(self, outcome: Outcome, stake: int, approvers: list[str], deniers: list[str]) -> Payout:
        if outcome is Outcome.APPROVED and approvers:
            return split_equally(stake, approvers)
        if outcome is Outcome.DENIED:
            return Payout(to_thread=stake)
        if outcome is Outcome.MIXED:
            to_treasury = stake * len(approvers) // (len(approvers) + len(deniers))
            return Payout(to_thread=stake - to_treasury, to_treasury=to_treasury)
        return Payout(to_treasury=stake)


POLICIES: dict[str, SettlementPolicy] = {p.name: p for p in (SeedsPolicy(), Scales2024Policy(), Collective2024Policy())}
"""Policies selectable by name; `seeds` is the default."""
DEFAULT_POLICY = "seeds"
