"""choir_model: the executable specification of Choir (docs/spec.md, sections 1 to 8 and 11).

Pure, deterministic Python with integer token units and integer seconds. Every other implementation in the
toolkit (the Solana program, the reference backend, the simulator) is checked against this package. It imports
nothing else of the toolkit and does no I/O beyond the trace helpers in `trace`.

The usual entry point is `Model`: build one with `Params` (and optionally a settlement policy and a stake formula)
and feed it operation records (`choir_model.steps`), or use the functions in `ops` directly on a `ChoirState`.
"""

from choir_model.economics import (
    CALIBRATED_K,
    FORMULAS,
    Economics,
    LinearStake,
    QuantumStake,
    Recommendation,
    StakeFormula,
)
from choir_model.errors import ERRORS_BY_CODE, ERRORS_BY_NAME, ChoirError
from choir_model.events import Event
from choir_model.invariants import INVARIANTS, Checker, Violation, audit
from choir_model.model import Model
from choir_model.params import CHOIR, Params
from choir_model.settlement import POLICIES, Outcome, SettlementPolicy
from choir_model.state import ChoirState, Message, MessageState, Privacy, Thread
from choir_model.steps import (
    STEP_TYPES,
    CreateThread,
    Divest,
    Expire,
    Fund,
    ProcessApproval,
    RequestPublic,
    Step,
    SubmitMessage,
    SubmitSpec,
)

__all__ = [
    "CALIBRATED_K",
    "CHOIR",
    "ERRORS_BY_CODE",
    "ERRORS_BY_NAME",
    "FORMULAS",
    "INVARIANTS",
    "POLICIES",
    "STEP_TYPES",
    "Checker",
    "ChoirError",
    "ChoirState",
    "CreateThread",
    "Divest",
    "Economics",
    "Event",
    "Expire",
    "Fund",
    "LinearStake",
    "Message",
    "MessageState",
    "Model",
    "Outcome",
    "Params",
    "Privacy",
    "ProcessApproval",
    "QuantumStake",
    "Recommendation",
    "RequestPublic",
    "SettlementPolicy",
    "StakeFormula",
    "Step",
    "SubmitMessage",
    "SubmitSpec",
    "Thread",
    "Violation",
    "audit",
]
