"""The `account_creation` property (docs/spec.md section 9, "Account creation"): every account the program creates
is made with the fewest system-program calls, read from the transaction's inner instructions.

Why a property of its own: a creation that takes a longer path (Transfer, Allocate and Assign where one
CreateAccount does; a Transfer of 0 lamports to an address that holds the rent already) ends in the same accounts
as the right one, so no comparison of state tells them apart, yet each extra call costs the payer compute units
and makes the program's behaviour differ from what its specification says it does. What the program calls is an
observable of the transaction (a validator records it, explorers show it), so it is checked, exactly:

* the address holds no lamports: one `CreateAccount` of the rent-exempt minimum for the account's size, that
  size, owned by the program;
* it holds some (anyone can send lamports to an address before the program creates an account there, which makes
  `CreateAccount` fail: a known griefing of Solana programs, the `prefunded` attack): a `Transfer` of exactly the
  shortfall to the rent-exempt minimum (none when it holds the minimum or more), then `Allocate` of the size and
  `Assign` to the program. The lamports already there stay in the account; tokens are not lamports (SPEC
  section 6, invariant 1 sums the token fields), so no token amount changes.

What the address held before is read back from the transaction itself: the account's lamports after it, less
what the calls sent there (the program moves no lamports but through these calls). Checked on each transaction
that succeeds and may create an account (`CREATES`), where the transport sees inner instructions (LiteSVM); on a
validator over JSON-RPC it is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from solders.pubkey import Pubkey

PROPERTY = "account_creation"
CREATES = ("fund", "create_thread", "submit_message", "submit_spec")
"""The operations whose transaction may create an account (a fund opens the recipient's first wallet)."""

# The system program's instructions the program calls (bincode SystemInstruction: a u32 tag, then the fields).
CREATE_ACCOUNT, ASSIGN, TRANSFER, ALLOCATE = 0, 1, 2, 8
Call = tuple[Any, ...]
"""One system call as the property compares it: (name, fields...)."""


@cache
def _pubkey() -> type[Pubkey]:
    """solders' `Pubkey`, imported on first use (the property suite imports this module without solders) and kept:
    an import statement costs about 3 us each time it runs, and this property runs on every creating step."""
    from solders.pubkey import Pubkey

    return Pubkey


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 8], "little")


def system_call(data: bytes) -> Call:
    """A system instruction's data as (name, fields...); one the program never sends is named by its bytes."""
    key = _pubkey().from_bytes
    tag = int.from_bytes(data[:4], "little")
    if tag == CREATE_ACCOUNT and len(data) == 52:
        return ("CreateAccount", _u64(data, 4), _u64(data, 12), key(data[20:52]))
    if tag == ASSIGN and len(data) == 36:
        return ("Assign", key(data[4:36]))
    if tag == TRANSFER and len(data) == 12:
        return ("Transfer", _u64(data, 4))
    if tag == ALLOCATE and len(data) == 12:
        return ("Allocate", _u64(data, 4))
    return ("other", data.hex())


def fewest_calls(held: int, minimum: int, space: int, owner: Pubkey) -> list[Call]:
    """The calls that create an account of `space` bytes owned by `owner` at an address holding `held` lamports,
    `minimum` being the rent-exempt minimum for that size (see the module docstring)."""
    if held == 0:
        return [("CreateAccount", minimum, space, owner)]
    top_up = [("Transfer", minimum - held)] if held < minimum else []
    return [*top_up, ("Allocate", space), ("Assign", owner)]


def creation_problems(
    calls: list[tuple[Pubkey, bytes, list[Pubkey]]],
    account: Callable[[Pubkey], Any],
    minimum: Callable[[int], int],
    program_id: Pubkey,
) -> list[str]:
    """Where a transaction's inner instructions `calls` (program, data, accounts) create an account otherwise than
    with the fewest calls. `account(key)` is an account after the transaction (None: none there), `minimum(size)`
    the rent-exempt minimum."""
    system = _pubkey().default()
    made: dict[Pubkey, list[Call]] = {}
    for program, data, accounts in calls:
        if program == system and accounts:
            made.setdefault(accounts[-1], []).append(system_call(data))  # the account created is the last one
    problems = []
    for key, sent in made.items():
        after = account(key)
        held, space = (0, 0) if after is None else (after.lamports, len(after.data))
        received = sum(call[1] for call in sent if call[0] in ("CreateAccount", "Transfer"))
        wanted = fewest_calls(held - received, minimum(space), space, program_id)
        if sent != wanted:
            problems.append(f"the account at {key} (it held {held - received} lamports) was created with "
                            f"{_calls(sent)}, not {_calls(wanted)}")  # fmt: skip
    return problems


def _calls(calls: list[Call]) -> str:
    return ", ".join(f"{name}({', '.join(str(f) for f in fields)})" for name, *fields in calls) or "no call"


def outcome_problems(svm: Any, outcome: Any, program_id: Pubkey) -> list[str]:
    """`creation_problems` of a transaction of the program `program_id` sent to `svm` (LiteSVM), `outcome` being
    its `TxOutcome` (it succeeded); none where the transport does not see inner instructions."""
    if outcome is None or outcome.inner is None:
        return []
    return creation_problems(outcome.inner(), svm.get_account, svm.minimum_balance_for_rent_exemption, program_id)


def check_creation(lockstep: Any) -> None:
    """After a step of `CREATES` that succeeded on the lockstep's driver: raise the `account_creation`
    PropertyFailure when its transaction created an account otherwise than with the fewest calls."""
    driver = lockstep.driver
    target = getattr(driver, "driver", driver)  # a replay's witness wraps the target's driver
    outcome = getattr(target, "last_outcome", None)
    if outcome is None or outcome.inner is None:  # not a program in LiteSVM
        return
    problems = outcome_problems(target.transport.svm, outcome, target.coder.program_id)
    if problems:
        lockstep.fail(PROPERTY, problems)
