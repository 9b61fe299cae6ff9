"""Small statistics used by the summary tables: kept here, dependency-free, so they are tested on their own."""

from __future__ import annotations

import math
from collections.abc import Iterable


def gini(values: Iterable[float]) -> float:
    """The Gini coefficient of non-negative values: 0 when all are equal, (n-1)/n when one holds everything.
    Empty or all-zero inputs give 0."""
    xs = sorted(float(v) for v in values)
    n = len(xs)
    total = sum(xs)
    if n == 0 or total <= 0:
        return 0.0
    if xs[0] < 0:
        raise ValueError("gini needs non-negative values")
    weighted = sum((i + 1) * x for i, x in enumerate(xs))
    return 2.0 * weighted / (n * total) - (n + 1) / n


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when the denominator is 0 (a share of nothing is undefined, not 0)."""
    return numerator / denominator if denominator else math.nan


def median(values: list[float]) -> float:
    xs = sorted(v for v in values if v is not None and not math.isnan(v))
    if not xs:
        return math.nan
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
