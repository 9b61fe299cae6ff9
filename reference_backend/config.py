"""The backend's configuration: one immutable object built by `choir serve` (or a test) and read everywhere.

Defaults follow SPEC section 10 and the seeds (Impl_API rate limits). Anything that changes what the service
accepts lives here, so a test can state exactly the server it runs (a manual clock, no rate limits for the
differential campaign, a small content limit) and the CLI is only a translation of flags into this object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from choir_model import POLICIES, Params
from choir_model.model import CheckMode
from reference_backend.auth import parse_public_key
from reference_backend.embedding import parse_embedder

HOUR = 3600


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` requests in any `window` seconds, per user and route (a sliding window)."""

    count: int
    window: int = HOUR

    def __post_init__(self) -> None:
        if self.count < 1 or self.window < 1:
            raise ValueError(f"a rate limit needs count >= 1 and window >= 1, got {self.count}/{self.window}s")


SEED_RATE_LIMITS: dict[str, RateLimit] = {
    "create_thread": RateLimit(10),
    "submit_message": RateLimit(60),
    "search": RateLimit(100),
}
"""Impl_API: create_thread 10/hour, submit_message 60/hour, search_content 100/hour."""

ROUTE_NAMES = (
    "register",
    "fund",
    "create_thread",
    "submit_message",
    "request_public",
    "approve",
    "expire",
    "divest",
    "read_thread",
    "search",
    "wallet",
)
"""Names a rate limit can be attached to (one per route)."""


def parse_rate_limit(text: str) -> tuple[str, RateLimit]:
    """`route=COUNT` or `route=COUNT/SECONDS` (the CLI's `--rate-limit`)."""
    route, sep, rest = text.partition("=")
    if not sep or route not in ROUTE_NAMES:
        raise ValueError(f"expected ROUTE=COUNT[/SECONDS] with ROUTE one of {', '.join(ROUTE_NAMES)}, got {text!r}")
    count, _, window = rest.partition("/")
    try:
        return route, RateLimit(int(count), int(window) if window else HOUR)
    except ValueError as error:
        raise ValueError(f"bad rate limit {text!r}: {error}") from None


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """Everything the service needs to start.

    `authorities` maps each treasury authority to its base58 ed25519 public key; when empty, the development keys
    seeded by `sha256(name)` are used (SPEC section 8's convention), which anyone can recompute: fine on loopback
    and in tests, never in production (`choir serve` warns). `admins` may read the full snapshot, set premium users
    and (with a manual clock) move time; by default they are the treasury authorities."""

    data_dir: Path
    qdrant_url: str | None = None
    params: Params = field(default_factory=Params)
    policy: str = "seeds"
    check: CheckMode = "step"
    rate_limits: dict[str, RateLimit] = field(default_factory=lambda: dict(SEED_RATE_LIMITS))
    max_content_bytes: int = 32 * 1024
    max_skew: int = 120
    manual_clock: int | None = None
    authorities: dict[str, str] = field(default_factory=dict)
    admins: tuple[str, ...] | None = None
    sync: Literal["full", "normal"] = "full"
    embedder: str = "none"
    snapshot_every: int = 10_000
    search_wait: float = 2.0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"unknown policy {self.policy!r}; choose one of {', '.join(POLICIES)}")
        unknown = sorted(set(self.rate_limits) - set(ROUTE_NAMES))
        if unknown:
            raise ValueError(f"rate limits for unknown routes: {', '.join(unknown)}")
        if self.max_content_bytes < 1 or self.max_skew < 1 or self.snapshot_every < 1:
            raise ValueError("max_content_bytes, max_skew and snapshot_every must be positive")
        parse_embedder(self.embedder)
        if self.data_dir.exists() and not self.data_dir.is_dir():
            raise ValueError(f"data directory {self.data_dir}: not a folder")
        shape = "authorities must map each treasury authority's name to its base58 public key"
        if not isinstance(self.authorities, dict):
            raise ValueError(shape)
        for name, key in self.authorities.items():
            if not isinstance(name, str) or not isinstance(key, str):
                raise ValueError(shape)
            try:
                parse_public_key(key)
            except ValueError as error:
                raise ValueError(f"authority {name!r}: {error}") from None

    @property
    def max_body_bytes(self) -> int:
        """Largest request body read at all: room for the content JSON-escaped (up to 6 bytes per byte for
        control characters) plus the other fields. Larger bodies get 413 before they are read."""
        return 6 * self.max_content_bytes + 4096

    @property
    def admin_names(self) -> tuple[str, ...]:
        return self.admins if self.admins is not None else self.params.treasury_authorities
