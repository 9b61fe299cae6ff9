"""StakeAnalytics (seeds Impl_Messages, Analytics): recommended versus actual stake for every spec.

Recorded when a spec is submitted, completed when it settles or expires. Floats here are analytics only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class StakeAnalytics:
    """One spec's stake record. `ratio` is actual/recommended (None when the formula recommends 0);
    `success_rate` is the thread's share of approved specs among those settled before this one (None when there
    is no history); `outcome` is filled in when the spec settles or expires."""

    thread_id: str
    content_hash: str
    author: str
    submitted_at: int
    recommended: int
    actual: int
    ratio: float | None
    success_rate: float | None
    outcome: str | None = None
    settled_at: int | None = None
