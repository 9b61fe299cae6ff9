"""The model's parameters (SPEC section 1): one immutable object that economists change and the program reads
from its config account. Amounts are base units (1 CHOIR = 10**DECIMALS), durations are seconds."""

from __future__ import annotations

from dataclasses import dataclass

DECIMALS = 9
CHOIR = 10**DECIMALS
U64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Params:
    """Every knob of the economics. Defaults are SPEC section 1; `validate` rejects combinations the ledger cannot
    honour (a supply outside u64, a threshold no signer set can meet)."""

    decimals: int = DECIMALS
    total_supply: int = 10_000_000_000 * CHOIR
    min_stake: int = 1 * CHOIR
    min_thread_balance: int = 1 * CHOIR
    approval_window: int = 7 * 24 * 3600
    divest_cooldown: int = 24 * 3600
    max_coauthors: int = 10
    max_pending: int = 20
    thread_id_max: int = 32
    treasury_authorities: tuple[str, ...] = ("treasury1", "treasury2", "treasury3")
    treasury_threshold: int = 2

    def __post_init__(self) -> None:
        self.validate()

    @property
    def unit(self) -> int:
        """Base units per CHOIR."""
        return 10**self.decimals

    def validate(self) -> None:
        """Raise ValueError naming the first parameter that cannot work."""
        if not 0 < self.total_supply <= U64_MAX:
            raise ValueError(f"total_supply must be in 1..{U64_MAX}, got {self.total_supply}")
        for name in ("min_stake", "min_thread_balance"):
            value = getattr(self, name)
            if not 1 <= value <= self.total_supply:
                raise ValueError(f"{name} must be in 1..total_supply, got {value}")
        for name in ("approval_window", "divest_cooldown"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 seconds")
        if not 1 <= self.max_coauthors <= 32:
            raise ValueError("max_coauthors must be in 1..32 (program layouts hold up to 32)")
        if self.max_pending < 1:
            raise ValueError("max_pending must be >= 1")
        if not 1 <= self.thread_id_max <= 32:
            raise ValueError("thread_id_max must be in 1..32 (PDA seed limit)")
        if not 1 <= len(self.treasury_authorities) <= 3 or len(set(self.treasury_authorities)) != len(
            self.treasury_authorities
        ):
            raise ValueError("treasury_authorities must be 1 to 3 distinct names")
        if not 1 <= self.treasury_threshold <= len(self.treasury_authorities):
            raise ValueError("treasury_threshold must be in 1..len(treasury_authorities)")

    def replace(self, **changes: object) -> Params:
        """A copy with some fields changed (validated)."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields.update(changes)
        return Params(**fields)  # type: ignore[arg-type]
