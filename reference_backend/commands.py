"""What the writer (`reference_backend.writer`) takes and what it answers: one command per kind of change, each
with the signed request it came from (whose nonce the journal keeps for replay protection)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from choir_model import Step
from choir_model import events as ev


@dataclass(slots=True)
class Request:
    """The signed request a command came from (its nonce is persisted for replay protection)."""

    user: str
    nonce: str
    signed_at: int


@dataclass(slots=True)
class StepCommand:
    """One model operation; `step.now` is replaced by the writer's clock. `content` is the text of a submitted
    message (its sha256 is already `step.hash`)."""

    step: Step
    content: str | None = None
    request: Request | None = None


@dataclass(slots=True)
class RegisterCommand:
    name: str
    public_key: str
    request: Request | None = None


@dataclass(slots=True)
class PremiumCommand:
    name: str
    premium: bool
    request: Request | None = None


@dataclass(slots=True)
class NonceCommand:
    """Persist the nonce of a request signed ahead of the server clock (`reference_backend.auth`: such a request
    could pass a restarted server's replay floor, so its nonce must outlive the process)."""

    request: Request


@dataclass(slots=True)
class ResetCommand:
    """Forget the whole Choir world (test servers only: the differential driver runs many worlds on one server).
    Registered users stay."""

    request: Request | None = None


Command = StepCommand | RegisterCommand | PremiumCommand | NonceCommand | ResetCommand


@dataclass(frozen=True, slots=True)
class Accepted:
    """The result of an accepted operation; `witnessed` is what the writer's witness read right after it applied."""

    seq: int
    step: Step
    events: list[ev.Event]
    witnessed: Any = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    name: str
    public_key: str
    premium: bool
