"""Frames between the writer process and its HTTP workers (`reference_backend.workers`).

A frame is a 4-byte big-endian length and a pickle. Why pickle: both ends are this program, on a socketpair the
writer process made for the one worker it started (no other process can connect to it), and the frames carry the
backend's own objects (commands, accepted operations with their events, search answers). Errors travel as their
fields (`encode_error`), since an exception with its own constructor does not survive pickling as itself.
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
    """An error as plain fields: an `AuthFailure` (401 with its reason), an `ApiError` (its code, message and
    extras), anything else as an `InternalError`."""
    if isinstance(error, AuthFailure):
        return ("auth", error.reason, error.retry_after)
    if isinstance(error, ApiError):
        fields = (error.field, error.retry_after, error.headers, error.status, error.program_code)
        return ("api", error.code, error.message, *fields)
    return ("api", "InternalError", f"the writer process failed: {error!r}", None, None, None, None, None)


def decode_error(fields: tuple[Any, ...]) -> BaseException:
    if fields[0] == "auth":
        return AuthFailure(fields[1], fields[2])
    _, code, message, field, retry_after, headers, status, program_code = fields
    error = ApiError(code, message, field=field, retry_after=retry_after, headers=headers, status=status)
    error.program_code = program_code
    return error
