"""Frames between the writer process and its HTTP workers (`reference_backend.workers`).

A frame is a 4-byte big-endian length and a pickle. Why pickle: both ends are this program, on a socketpair the
writer process made for the one worker it started (no other process can connect to it), and the frames carry the
backend's own objects (commands, accepted operations with their events, search answers). Errors travel as their
class and fields (`encode_error`): an exception with its own constructor does not survive pickling as itself.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from typing import Any

from reference_backend.auth import AuthFailure
from reference_backend.errors import ApiError

HEADER = struct.Struct("!I")


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next frame (`asyncio.IncompleteReadError` when the other end has gone)."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return pickle.loads(await reader.readexactly(size))


def write_frame(writer: asyncio.StreamWriter, frame: Any) -> None:
    data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    writer.write(HEADER.pack(len(data)) + data)


def encode_error(error: BaseException) -> tuple[Any, ...]:
    """An error as its class, arguments and fields: an `AuthFailure` (answered 401 with its reason) or an
    `ApiError` as itself, anything else as an `InternalError`."""
    if not isinstance(error, (ApiError, AuthFailure)):
        error = ApiError("InternalError", f"the writer's process failed: {error!r}")
    return (type(error), error.args, vars(error))


def decode_error(fields: tuple[Any, ...]) -> BaseException:
    """The error `encode_error` took apart (its constructor is not called: the fields are already made)."""
    kind, args, state = fields
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error
