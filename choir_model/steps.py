"""Operation records: the one language every part of the toolkit speaks (SPEC sections 3 and 8).

A step is one operation with its actor and `now`; its fields are exactly the trace fields of SPEC section 8, so
`to_json` / `step_from_json` (in `trace`) are plain field copies. Records are frozen: the same step can be applied
to the model, the program and the backend and compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from choir_model.state import Privacy


@dataclass(frozen=True, slots=True)
class Step:
    """Base of every operation record. `actor` is the user acting (for `fund`, the recipient)."""

    op: ClassVar[str] = ""
    actor: str
    now: int

    @property
    def thread_id(self) -> str | None:
        """The thread the step addresses, if any."""
        return getattr(self, "thread", None)

    @property
    def content_hash(self) -> str | None:
        """The message the step addresses, if any."""
        return getattr(self, "hash", None)

    def to_json(self) -> dict[str, Any]:
        """The SPEC section 8 trace object: `op` first, then the fields in declaration order."""
        out: dict[str, Any] = {"op": self.op}
        for key, value in asdict(self).items():
            out[key] = value.value if isinstance(value, Privacy) else list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True, slots=True)
class Fund(Step):
    op: ClassVar[str] = "fund"
    amount: int
    signers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CreateThread(Step):
    op: ClassVar[str] = "create_thread"
    thread: str
    deposit: int


@dataclass(frozen=True, slots=True)
class SubmitMessage(Step):
    op: ClassVar[str] = "submit_message"
    thread: str
    hash: str
    privacy: Privacy = Privacy.PUBLIC


@dataclass(frozen=True, slots=True)
class RequestPublic(Step):
    op: ClassVar[str] = "request_public"
    thread: str
    hash: str


@dataclass(frozen=True, slots=True)
class SubmitSpec(Step):
    op: ClassVar[str] = "submit_spec"
    thread: str
    hash: str
    stake: int
    privacy: Privacy = Privacy.PUBLIC


@dataclass(frozen=True, slots=True)
class ProcessApproval(Step):
    op: ClassVar[str] = "process_approval"
    thread: str
    hash: str
    approve: bool


@dataclass(frozen=True, slots=True)
class Expire(Step):
    op: ClassVar[str] = "expire"
    thread: str
    hash: str


@dataclass(frozen=True, slots=True)
class Divest(Step):
    op: ClassVar[str] = "divest"
    thread: str
    amount: int


STEP_TYPES: dict[str, type[Step]] = {
    cls.op: cls
    for cls in (Fund, CreateThread, SubmitMessage, RequestPublic, SubmitSpec, ProcessApproval, Expire, Divest)
}
"""Operation name -> record class, in SPEC section 3 order."""
