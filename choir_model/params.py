"""The model's parameters (SPEC section 1): one immutable object that economists change and the program reads
from its config account. Amounts are base units (1 CHOIR = 10**DECIMALS), durations are seconds."""

from __future__ import annotations

from dataclasses import dataclass

DECIMALS = 9
CHOIR = 10**DECIMALS
U64_MAX = 2**64 - 1
I64_MAX = 2**63 - 1

_INTEGER_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("decimals", 0, 19),  # 10**20 base units would not fit u64 (and one CHOIR must fit the supply, checked below)
    ("total_supply", 1, U64_MAX),
    ("min_stake", 1, U64_MAX),
    ("min_thread_balance", 1, U64_MAX),
    ("approval_window", 0, I64_MAX),  # a duration added to an i64 time
    ("divest_cooldown", 0, I64_MAX),
    ("max_coauthors", 1, 32),  # program layouts hold 32
    ("max_pending", 1, U64_MAX),
    ("thread_id_max", 1, 32),  # a PDA seed
    ("treasury_threshold", 1, 3),
)
"""Each integer field of `Params` with its range (SPEC section 1; the program's config account stores them as u64,
i64 or u8)."""


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
        """Raise ValueError naming the first parameter that cannot work: every field is typed (an integer field
        takes an integer, not a boolean or 1.5; the authorities are a tuple of non-empty names) and within the range
        the ledger and the program's config account hold (SPEC section 1)."""
        for name, low, high in _INTEGER_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if not low <= value <= high:
                raise ValueError(f"{name} must be in {low}..{high}, got {value}")
        if 10**self.decimals > self.total_supply:
            raise ValueError(f"decimals {self.decimals} make one CHOIR (10**decimals) more than total_supply")
        for name in ("min_stake", "min_thread_balance"):
            value = getattr(self, name)
            if value > self.total_supply:
                raise ValueError(f"{name} must be in 1..total_supply, got {value}")
        authorities = self.treasury_authorities
        if not isinstance(authorities, tuple) or not all(isinstance(a, str) and a for a in authorities):
            raise ValueError(f"treasury_authorities must be a list of non-empty names, got {authorities!r}")
        if not 1 <= len(authorities) <= 3 or len(set(authorities)) != len(authorities):
            raise ValueError("treasury_authorities must be 1 to 3 distinct names")
        if not 1 <= self.treasury_threshold <= len(authorities):
            raise ValueError("treasury_threshold must be in 1..len(treasury_authorities)")

    def replace(self, **changes: object) -> Params:
        """A copy with some fields changed (validated)."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields.update(changes)
        return Params(**fields)  # type: ignore[arg-type]
