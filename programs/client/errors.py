"""Error names for program failures: the IDL's custom errors (Choir's SPEC section 7 names), Anchor's framework
errors (malformed accounts or instruction data), and the runtime's own instruction errors.

Why here: a driver answers with an error *name*; which names exist is the IDL's business for custom errors and
Anchor's for framework codes, so any program implementing the Choir IDL maps the same way.
"""

from __future__ import annotations

from typing import Any

from solders.transaction_status import InstructionErrorCustom, TransactionErrorInstructionError

from programs.client.coder import IdlCoder

ANCHOR_FRAMEWORK_ERRORS: dict[int, str] = {
    100: "InstructionMissing",
    101: "InstructionFallbackNotFound",
    102: "InstructionDidNotDeserialize",
    103: "InstructionDidNotSerialize",
    2000: "ConstraintMut",
    2001: "ConstraintHasOne",
    2002: "ConstraintSigner",
    2003: "ConstraintRaw",
    2004: "ConstraintOwner",
    2006: "ConstraintSeeds",
    2012: "ConstraintAddress",
    2500: "RequireViolated",
    2502: "RequireKeysEqViolated",
    3000: "AccountDiscriminatorAlreadySet",
    3001: "AccountDiscriminatorNotFound",
    3002: "AccountDiscriminatorMismatch",
    3003: "AccountDidNotDeserialize",
    3005: "AccountNotEnoughKeys",
    3006: "AccountNotMutable",
    3007: "AccountOwnedByWrongProgram",
    3010: "AccountNotSigner",
    3012: "AccountNotInitialized",
}


def error_name(coder: IdlCoder, err: Any) -> str:
    """A transaction error -> a name: the IDL's error name for custom codes, Anchor's framework name, or the
    runtime's error as text (for example `ArithmeticOverflow`, `MissingRequiredSignature`)."""
    if isinstance(err, TransactionErrorInstructionError):
        inner = err.err
        if isinstance(inner, InstructionErrorCustom):
            code = inner.code
            return coder.error_name(code) or ANCHOR_FRAMEWORK_ERRORS.get(code) or f"Custom({code})"
        text = str(inner)
        # Fieldless errors print as e.g. "InstructionErrorFieldless.ArithmeticOverflow" or "ArithmeticOverflow".
        return text.rsplit(".", 1)[-1]
    return str(err).rsplit(".", 1)[-1]
