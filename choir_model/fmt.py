"""Amounts for people (spec section 12): whole CHOIR and the base-unit remainder, by integer arithmetic only.

A float has 53 bits of mantissa, so `balance / 10**9` cannot hold a balance near the supply (10^19 base units) to
the unit: the one base unit of dust a settlement leaves would vanish from a printed table, and the table would no
longer add up to the supply. Every human-readable amount in the toolkit goes through `choir_amount`.
"""

from __future__ import annotations

from choir_model.params import DECIMALS


def choir_amount(units: int, decimals: int = DECIMALS) -> str:
    """`units` base units as CHOIR: thousands-separated whole CHOIR, a point, then every base-unit digit.

    `choir_amount(9999999980000000001) == "9,999,999,980.000000001"`; negative amounts (deltas) keep their sign."""
    sign = "-" if units < 0 else ""
    whole, rest = divmod(abs(units), 10**decimals)
    return f"{sign}{whole:,}.{rest:0{decimals}d}" if decimals else f"{sign}{whole:,}"
