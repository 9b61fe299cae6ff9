"""The state of a Choir world (SPEC section 2): the ledger, threads and messages.

Plain slotted dataclasses, mutated only by `choir_model.ops`. Besides the SPEC's fields the state keeps a few
derived indexes so every guard is O(1) whatever the number of threads: running ledger totals (used by the cheap
conservation check), each thread's count of pending messages and the set of authors with a pending spec. The full
audit in `invariants` recomputes them from scratch and reports any drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class MessageState(StrEnum):
    """The message lifecycle (spec section 2). Draft and Submitted exist only before a message reaches the model."""

    DRAFT = "Draft"
    SUBMITTED = "Submitted"
    PRIVATE = "Private"
    PENDING = "Pending"
    PUBLIC = "Public"
    REJECTED = "Rejected"
    EXPIRED = "Expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({MessageState.PUBLIC, MessageState.REJECTED, MessageState.EXPIRED})

# The transition graph of spec section 2.
TRANSITIONS: frozenset[tuple[MessageState, MessageState]] = frozenset(
    {
        (MessageState.DRAFT, MessageState.SUBMITTED),
        (MessageState.SUBMITTED, MessageState.PRIVATE),
        (MessageState.SUBMITTED, MessageState.PENDING),
        (MessageState.PRIVATE, MessageState.PENDING),
        (MessageState.PENDING, MessageState.PUBLIC),
        (MessageState.PENDING, MessageState.REJECTED),
        (MessageState.PENDING, MessageState.EXPIRED),
    }
)


class Privacy(StrEnum):
    """The three privacy levels of Impl_Privacy (trace spelling: lower case)."""

    PUBLIC = "public"
    PREMIUM = "premium"
    THREAD_ONLY = "thread_only"


@dataclass(slots=True)
class Message:
    """A message keyed by (thread, content_hash). `stake` is what it holds in escrow now (0 once settled);
    `deadline` is None until the message enters an approval window."""

    content_hash: str
    author: str
    state: MessageState
    privacy: Privacy
    created_at: int
    is_spec: bool = False
    stake: int = 0
    deadline: int | None = None
    voters: tuple[str, ...] = ()
    votes: dict[str, bool] = field(default_factory=dict)


@dataclass(slots=True)
class Thread:
    """A thread. `co_authors` keeps insertion order. `pending` counts Pending messages (specs and public
    requests); `pending_spec_authors` holds authors with a pending spec, so the spec guards need no scan."""

    thread_id: str
    co_authors: list[str]
    balance: int
    created_at: int
    updated_at: int
    message_count: int = 0
    last_divest: dict[str, int] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    pending: int = 0
    pending_spec_authors: set[str] = field(default_factory=set)
    specs_approved: int = 0
    specs_settled: int = 0


@dataclass(slots=True)
class ChoirState:
    """The whole world. At genesis the treasury holds the supply and everything else is zero.

    `wallet_total`, `thread_total` and `escrow_total` are running sums kept by the ledger moves in `ops`;
    `last_now` is the `now` of the last successful step (the InvalidTime guard)."""

    treasury: int
    wallets: dict[str, int] = field(default_factory=dict)
    threads: dict[str, Thread] = field(default_factory=dict)
    wallet_total: int = 0
    thread_total: int = 0
    escrow_total: int = 0
    last_now: int | None = None

    @classmethod
    def genesis(cls, total_supply: int) -> ChoirState:
        return cls(treasury=total_supply)
