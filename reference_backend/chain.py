"""The chain behind the backend (issue 7, item 3): every accepted operation also goes to the Choir program, and
`GET /v1/consistency` compares the backend's state with the program's accounts.

Why this shape: the seeds record content hashes and token state on Solana, and the backend must never acknowledge
what the chain refused. So the chain comes *before* the model in the writer: for each operation the writer first
sends the transaction (`programs.driver.ProgramDriver`, in an in-process LiteSVM by default); if the program
refuses, the model is asked on a copy of its state: if it refuses too (the usual case: the program agrees with the
oracle), the client gets the model's own error, exactly as without a chain; if it would accept, the backend
answers `ChainRejected` (409, with the program's error name). Either way neither the model nor the journal
changes. If the program accepts, the model applies the step as before and the journal commits it. The
one case that cannot be undone is the program accepting what the model then refuses (the chain has no rollback):
that is a disagreement between the program and the oracle, which the property suite exists to rule out; it is
recorded as a divergence, the client gets the model's error, and `/v1/consistency` reports it.

The embedded chain is rebuilt from the journal when the server starts (replaying every journaled operation into a
fresh LiteSVM), and from nothing when a test server resets its world. Both sides are read under the backend's
state lock, so `/v1/consistency` compares one consistent cut: the model's SPEC section 8 snapshot against the
program's accounts rendered by the same renderer (`ProgramDriver.snapshot`).

Known limits: only the embedded chain exists (`--chain rpc URL` to a validator is not wired yet); and the writer's
two recovery paths (a journal commit that fails, an internal error that makes it rebuild the model from the
journal and redo the rest of the batch) do not rewind the chain, which then holds operations the journal does not:
`/v1/consistency` shows it, and a restart (which rebuilds the chain from the journal) repairs it.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from choir_model import Step
from choir_model.trace import step_from_json
from reference_backend.errors import ApiError

if TYPE_CHECKING:
    from programs.driver import ProgramDriver
    from reference_backend.service import Backend

log = logging.getLogger("reference_backend")


class ChainRejected(ApiError):
    def __init__(self, name: str) -> None:
        super().__init__(409, "ChainRejected", f"the Choir program refused the operation: {name}; nothing changed")
        self.program_error = name


@dataclass
class Divergence:
    seq_before: int
    step: dict[str, Any]
    model_error: str


class Consistency(BaseModel):
    consistent: bool = Field(description="The model's snapshot equals the program's, and no step ever diverged.")
    journal_seq: int
    chain_steps: int = Field(description="Operations the program accepted since it was (re)built.")
    rejected: int = Field(
        description="Operations the program refused although the model accepts them (answered "
        "ChainRejected, not journaled)."
    )
    refused_by_both: int = Field(description="Operations both refused (answered with the model's error).")
    differences: list[str] = Field(description="Snapshot paths where the two states differ (first 20).")
    divergences: list[dict[str, Any]]


def differences(left: Any, right: Any, path: str = "") -> list[str]:
    """Paths where two JSON values differ."""
    if isinstance(left, dict) and isinstance(right, dict):
        out: list[str] = []
        for key in sorted(set(left) | set(right)):
            if key not in left or key not in right:
                out.append(f"{path}/{key}")
            else:
                out.extend(differences(left[key], right[key], f"{path}/{key}"))
        return out
    return [] if left == right else [path or "/"]


@dataclass
class Chain:
    """The program driver the writer consults before the model. `factory` builds a fresh driver (genesis)."""

    factory: Callable[[], ProgramDriver]
    driver: ProgramDriver | None = None
    generation: int = -1
    accepted: int = 0
    rejected: int = 0
    agreed: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _fresh(self, generation: int) -> ProgramDriver:
        if self.driver is not None:
            self.driver.close()
        self.driver = self.factory()
        self.generation = generation
        self.accepted = self.rejected = self.agreed = 0
        self.divergences = []
        return self.driver

    def replay(self, backend: Backend) -> int:
        """Rebuild the chain from the journal (at start): every journaled operation, in order."""
        driver = self._fresh(backend._generation)
        count = 0
        for seq, line in backend.journal.lines(after=0):
            error = driver.apply(step_from_json(json.loads(line), seq))
            if error is not None:
                raise RuntimeError(f"journal row {seq} is refused by the program: {error}")
            count += 1
        self.accepted = count
        return count

    def before(self, backend: Backend, step: Step) -> None:
        """Send `step` to the program (the writer thread, under the state lock); ChainRejected if refused."""
        with self.lock:
            driver = self.driver
            if driver is None or self.generation != backend._generation:
                driver = self._fresh(backend._generation)  # a reset world starts from genesis
            error = driver.apply(step)
            if error is None:
                self.accepted += 1
                return
            # Refused: if the model refuses too, answer exactly as the model alone would (it changes nothing).
            if copy.deepcopy(backend.model).try_apply(step) is not None:
                self.agreed += 1
                backend.model.apply(step)
            self.rejected += 1
            raise ChainRejected(error)

    def model_refused(self, backend: Backend, step: Step, error: str) -> None:
        """The program accepted what the model refused: record the divergence (it cannot be rolled back)."""
        log.error("chain divergence: the program accepted %s, the model refused it (%s)", step, error)
        self.divergences.append(Divergence(backend.journal_seq, step.to_json(), error))

    def check(self, backend: Backend) -> Consistency:
        """Compare the model with the program's accounts, under the state lock (one consistent cut)."""
        with backend._state_lock, self.lock:
            model = backend.model.snapshot()
            chain = self.driver.snapshot() if self.driver is not None else {}
            seq = backend.journal_seq
        diff = differences(model, chain)
        return Consistency(
            consistent=not diff and not self.divergences,
            journal_seq=seq,
            chain_steps=self.accepted,
            rejected=self.rejected,
            refused_by_both=self.agreed,
            differences=diff[:20],
            divergences=[d.__dict__ for d in self.divergences],
        )

    def close(self) -> None:
        if self.driver is not None:
            self.driver.close()
            self.driver = None


def litesvm_chain(backend: Backend) -> Chain:
    """The embedded chain: the Choir program in an in-process LiteSVM with the backend's parameters."""
    from programs.driver import ProgramDriver

    if backend.config.policy != "seeds":
        raise ValueError("the Choir program implements the seeds policy only: serve with --policy seeds")
    params = backend.config.params
    return Chain(lambda: ProgramDriver(params))


def attach(backend: Backend, chain: Chain) -> Chain:
    """Put `chain` in front of the model (call after `backend.start()`, before serving requests)."""
    with backend._state_lock:
        chain.replay(backend)
        backend.chain = chain
    return chain
