"""Frames between the writer process and its HTTP workers (`reference_backend.workers`).

A frame is a 4-byte big-endian length and a pickle. Why pickle: both ends are this program, on a socketpair the
writer process made for the one worker it started (no other process can connect to it), and the frames carry the
backend's own objects (commands, accepted operations with their events, search answers). Errors travel as their
class and fields (`encode_error`): an exception with its own constructor does not survive pickling as itself.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import struct
from collections.abc import Callable
from typing import Any

from choir_model import ChoirError
from reference_backend.auth import AuthFailure
from reference_backend.errors import ApiError

HEADER = struct.Struct("!I")


class FrameProtocol(asyncio.Protocol):
    """One end of a socketpair, as an asyncio protocol: every complete frame that arrives goes to `on_frame`, in
    order, as it is read; `send` queues a frame and the frames queued during one turn of the event loop leave in
    one write. Why not asyncio streams: under load each call paid two awaited reads and a write of its own, on
    both ends, and the writer's process answers every request of every worker."""

    def __init__(self, on_frame: Callable[[Any], None], on_close: Callable[[], None]) -> None:
        self.on_frame = on_frame
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._inbox = bytearray()
        self._outbox: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        inbox = self._inbox
        inbox += data
        start = 0
        while len(inbox) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(inbox, start)
            end = start + HEADER.size + size
            if len(inbox) < end:
                break
            frame = pickle.loads(inbox[start + HEADER.size : end])
            start = end
            self.on_frame(frame)
        del inbox[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.on_close()

    def send(self, frame: Any) -> None:
        """Queue a frame (event loop thread); dropped once the other end has gone."""
        if self.closed:
            return
        data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(HEADER.pack(len(data)))
        self._outbox.append(data)

    def _flush(self) -> None:
        data, self._outbox = b"".join(self._outbox), []
        if self.transport is not None and not self.closed:
            self.transport.write(data)


async def connect(sock: socket.socket, on_frame: Callable[[Any], None], on_close: Callable[[], None]) -> FrameProtocol:
    """A `FrameProtocol` over a connected socket (a socketpair's end)."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_unix_connection(lambda: FrameProtocol(on_frame, on_close), sock=sock)
    return protocol


def encode_error(error: BaseException) -> tuple[Any, ...]:
    """An error as its class, arguments and fields: a model error (`ChoirError`, which the HTTP layer turns into
    its SPEC answer), an `AuthFailure` (401 with its reason) or an `ApiError` as itself, anything else as an
    `InternalError`."""
    if not isinstance(error, (ChoirError, ApiError, AuthFailure)):
        error = ApiError("InternalError", f"the writer's process failed: {error!r}")
    return (type(error), error.args, vars(error))


def decode_error(fields: tuple[Any, ...]) -> BaseException:
    """The error `encode_error` took apart (its constructor is not called: the fields are already made)."""
    kind, args, state = fields
    error = kind.__new__(kind)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error
