"""Events (seeds Impl_Messages, Event Emissions, plus expiry, co-author added, divestment, thread created and
funding). Every successful operation returns the events it caused, in the order they happened; the backend's
WebSocket deltas, the simulator's event log and the analytics are built from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True, slots=True)
class WalletFunded(Event):
    kind: ClassVar[str] = "WalletFunded"
    user: str
    amount: int


@dataclass(frozen=True, slots=True)
class ThreadCreated(Event):
    kind: ClassVar[str] = "ThreadCreated"
    thread_id: str
    creator: str
    deposit: int


@dataclass(frozen=True, slots=True)
class MessageCreated(Event):
    kind: ClassVar[str] = "MessageCreated"
    thread_id: str
    content_hash: str
    author: str


@dataclass(frozen=True, slots=True)
class MessagePrivate(Event):
    kind: ClassVar[str] = "MessagePrivate"
    thread_id: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class PublicRequested(Event):
    """A co-author asked for a private message to become public (an ApprovalRequest to the other co-authors)."""

    kind: ClassVar[str] = "PublicRequested"
    thread_id: str
    content_hash: str
    deadline: int


@dataclass(frozen=True, slots=True)
class SpecSubmitted(Event):
    kind: ClassVar[str] = "SpecSubmitted"
    thread_id: str
    content_hash: str
    stake: int
    deadline: int


@dataclass(frozen=True, slots=True)
class ApprovalReceived(Event):
    kind: ClassVar[str] = "ApprovalReceived"
    thread_id: str
    content_hash: str
    co_author: str
    decision: bool


@dataclass(frozen=True, slots=True)
class MessagePublic(Event):
    kind: ClassVar[str] = "MessagePublic"
    thread_id: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class MessageRejected(Event):
    kind: ClassVar[str] = "MessageRejected"
    thread_id: str
    content_hash: str
    outcome: str


@dataclass(frozen=True, slots=True)
class MessageExpired(Event):
    kind: ClassVar[str] = "MessageExpired"
    thread_id: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class StakeSettled(Event):
    """Where an escrowed stake went: wallets (name, amount), the thread and the treasury (remainders included)."""

    kind: ClassVar[str] = "StakeSettled"
    thread_id: str
    content_hash: str
    outcome: str
    stake: int
    to_wallets: tuple[tuple[str, int], ...]
    to_thread: int
    to_treasury: int


@dataclass(frozen=True, slots=True)
class CoAuthorAdded(Event):
    kind: ClassVar[str] = "CoAuthorAdded"
    thread_id: str
    co_author: str


@dataclass(frozen=True, slots=True)
class TokensDivested(Event):
    kind: ClassVar[str] = "TokensDivested"
    thread_id: str
    co_author: str
    amount: int


@dataclass(frozen=True, slots=True)
class TemperatureChanged(Event):
    kind: ClassVar[str] = "TemperatureChanged"
    thread_id: str
    delta: float


@dataclass(frozen=True, slots=True)
class FrequencyChanged(Event):
    kind: ClassVar[str] = "FrequencyChanged"
    thread_id: str
    delta: float
