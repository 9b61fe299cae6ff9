"""The `account_creation` property (properties/creation.py, docs/spec.md section 9): the system calls that create
an account, read from a transaction's inner instructions, are the fewest for what the address held."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from solders.pubkey import Pubkey

from choir_model import CHOIR, CreateThread, Fund, Params, SubmitMessage
from programs.driver import ProgramDriver
from properties.attacks import Attack
from properties.creation import creation_problems, fewest_calls, system_call
from properties.lockstep import Lockstep

T0 = 1_700_000_000
PROGRAM = Pubkey.from_bytes(bytes([7]) * 32)
PAYER, TARGET = Pubkey.from_bytes(bytes([1]) * 32), Pubkey.from_bytes(bytes([2]) * 32)
MINIMUM = 1_280_640  # the rent-exempt minimum of a 56-byte wallet


def _data(tag: int, *fields: int | Pubkey) -> bytes:
    out = tag.to_bytes(4, "little")
    for f in fields:
        out += bytes(f) if isinstance(f, Pubkey) else f.to_bytes(8, "little")
    return out


CREATE = (Pubkey.default(), _data(0, MINIMUM, 56, PROGRAM), [PAYER, TARGET])
ALLOCATE = (Pubkey.default(), _data(8, 56), [TARGET])
ASSIGN = (Pubkey.default(), _data(1, PROGRAM), [TARGET])


def transfer(lamports: int) -> tuple[Pubkey, bytes, list[Pubkey]]:
    return (Pubkey.default(), _data(2, lamports), [PAYER, TARGET])


def problems(calls: list[tuple[Pubkey, bytes, list[Pubkey]]], held_after: int) -> list[str]:
    account = SimpleNamespace(lamports=held_after, data=bytes(56))
    return creation_problems(calls, lambda key: account if key == TARGET else None, lambda size: MINIMUM, PROGRAM)


def test_system_calls_decode() -> None:
    assert system_call(CREATE[1]) == ("CreateAccount", MINIMUM, 56, PROGRAM)
    assert system_call(transfer(5)[1]) == ("Transfer", 5)
    assert system_call(ALLOCATE[1]) == ("Allocate", 56)
    assert system_call(ASSIGN[1]) == ("Assign", PROGRAM)
    assert system_call(b"\x03\0\0\0")[0] == "other"


@pytest.mark.parametrize(
    ("held", "calls"),
    [
        (0, [CREATE]),
        (1, [transfer(MINIMUM - 1), ALLOCATE, ASSIGN]),
        (MINIMUM, [ALLOCATE, ASSIGN]),
        (10**9, [ALLOCATE, ASSIGN]),
    ],
)
def test_the_fewest_calls_hold(held: int, calls: list[tuple[Pubkey, bytes, list[Pubkey]]]) -> None:
    assert [system_call(data) for _, data, _ in calls] == fewest_calls(held, MINIMUM, 56, PROGRAM)
    assert problems(calls, max(held, MINIMUM)) == []


@pytest.mark.parametrize(
    ("held", "calls"),
    [
        (0, [transfer(MINIMUM), ALLOCATE, ASSIGN]),  # the long path at an empty address
        (MINIMUM, [transfer(0), ALLOCATE, ASSIGN]),  # a top-up of nothing
        (1, [transfer(MINIMUM), ALLOCATE, ASSIGN]),  # one lamport too many
        (1, [ALLOCATE, ASSIGN]),  # no top-up: not rent-exempt
        (1, [transfer(MINIMUM - 1), ALLOCATE]),  # never assigned
    ],
)
def test_other_calls_are_reported(held: int, calls: list[tuple[Pubkey, bytes, list[Pubkey]]]) -> None:
    received = sum(system_call(data)[1] for _, data, _ in calls if system_call(data)[0] == "Transfer")
    assert problems(calls, held + received)


def test_calls_to_other_programs_are_not_creations() -> None:
    assert problems([(PROGRAM, _data(0, 1, 2, PROGRAM), [PAYER, TARGET])], 0) == []


@pytest.mark.parametrize("arg", ["dust", "exact", "excess"])
def test_the_program_creates_prefunded_accounts_with_the_fewest_calls(choir_so: bytes, arg: str) -> None:
    """On the real program, every pre-funded creation (a wallet, a thread, a message) and every ordinary one
    passes the property (its failure would raise here), and the calls are the ones the spec states."""
    lockstep = Lockstep(Params(), driver=ProgramDriver(image=choir_so))
    lockstep.step(Fund("alice", T0, 100 * CHOIR, ("treasury1", "treasury2")))
    driver = lockstep.driver
    assert [system_call(data)[0] for _, data, _ in driver.last_outcome.inner()] == ["CreateAccount"]
    wanted = {"dust": ["Transfer", "Allocate", "Assign"], "exact": ["Allocate", "Assign"],
              "excess": ["Allocate", "Assign"]}[arg]  # fmt: skip
    for base in (Fund("bob", T0 + 1, CHOIR, ("treasury1", "treasury2")), CreateThread("alice", T0 + 1, "t1", CHOIR),
                 SubmitMessage("alice", T0 + 2, "t1", "ab" * 32)):  # fmt: skip
        assert lockstep.step(Attack.of("prefunded", arg, base)) is None
        calls = [system_call(data)[0] for _, data, _ in driver.last_outcome.inner()]
        assert calls == wanted, (base, calls)
    lockstep.close()
