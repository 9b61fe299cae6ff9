"""Attack kind `bad_field`: instruction arguments outside their Borsh domain, and instruction data that stops at its
discriminator (SPEC section 9: the program's arguments are the Anchor-format IDL's, read strictly).

Why apart from `bad_data` (the data one byte short or long, or another instruction's discriminator): those keep
every argument's value in its domain, so a reader that takes a bool of 2 as false, a privacy past the last variant,
or an argument the data does not hold (read from whatever follows the data in the runtime's input) passes them.
Each corruption here keeps the data's length, or removes every argument, so only the reader's own check can refuse
it, with `InstructionDidNotDeserialize`, and a reader without that check either accepts the step (the bool and the
enum: a vote or a message the client never asked for) or reads past the end of the input (the bare discriminator).

The choices (`field_choices`) come from the IDL: every one-byte argument with a domain (a bool: 0 and 1; an enum
without fields: its variant indexes) gets its first value past the domain (the one value that tells a bound one
too high from the right one); every instruction with arguments gets `bare`.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from properties.attacks import Tx

BARE = "bare"


def _domains(coder: Any, instruction: str) -> dict[str, int]:
    """Each one-byte argument of `instruction` with a domain, and how many values it has."""
    args = dict(coder.instructions[instruction].args)
    spec = next(ix for ix in coder.idl["instructions"] if ix["name"] == instruction)
    out = {}
    for arg in spec["args"]:
        codec = args[arg["name"]]
        if arg["type"] == "bool":
            out[arg["name"]] = 2
        elif codec.variants is not None:
            out[arg["name"]] = len(codec.variants)
    return out


@cache
def field_choices(instruction: str) -> tuple[str, ...]:
    """The `bad_field` choices for `instruction` (from this repository's IDL: choices are made from the model's
    state alone, before any driver is asked): `field=value` for the value just past each domain, and `bare` when
    the instruction has arguments."""
    from programs.client.coder import IdlCoder

    coder = IdlCoder.from_file()
    fields = tuple(f"{name}={n}" for name, n in _domains(coder, instruction).items())
    return (*fields, BARE) if coder.instructions[instruction].args else fields


def _offset(tx: Tx, field: str) -> int:
    """Where argument `field` starts in the transaction's instruction data."""
    coder = tx.env.driver.coder
    instruction = coder.instructions[tx.name]
    values = coder.decode_instruction(tx.data)[1]
    out = bytearray(instruction.discriminator)
    for name, codec in instruction.args:
        if name == field:
            return len(out)
        codec.encode(values[name], out)
    raise ValueError(f"{tx.name} has no argument {field!r}")


def bad_field(tx: Tx, arg: str) -> None:
    """An argument just past its domain (`field=value`: a bool of 2, a privacy one past the last variant), or the
    instruction's discriminator alone (`bare`)."""
    discriminator = tx.env.driver.coder.instructions[tx.name].discriminator
    if arg == BARE:
        tx.data = discriminator
        return
    field, _, value = arg.partition("=")
    at = _offset(tx, field)
    tx.data = tx.data[:at] + bytes([int(value)]) + tx.data[at + 1 :]
