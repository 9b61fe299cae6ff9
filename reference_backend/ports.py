"""The server's TCP port: bound by `choir serve` itself, first, and held by it alone.

Why here and not in uvicorn or in each worker. With `--workers N` the N listening sockets share the port through
SO_REUSEPORT, and Linux lets any socket of the same user that sets SO_REUSEPORT join that group: a second
`choir serve --workers` started on the same port used to bind it too, and the kernel then spread clients over two
servers with two data directories (a client's write on one, its next read on the other). So the port is first
bound exclusively (a socket without SO_REUSEPORT, which the kernel refuses while any socket holds the port, and
which a later exclusive check of another server is refused by); only then are the N shared sockets bound, in the
server's own process, which hands one to each worker (`reference_backend.workers`) and keeps it for the worker it
starts again after a crash. A port in use is found before anything is rebuilt or changed (`CannotListen`: `choir
serve` exits 2), in one process as with workers. Port 0 asks the kernel for a free port; `choir serve` prints the
one it got (`bound_line`), so a caller never races another program for a port it only probed.
"""

from __future__ import annotations

import errno
import socket

BACKLOG = 2048
"""Pending connections the kernel queues per listening socket (uvicorn's default)."""


class CannotListen(ValueError):
    """The address is held by another socket (another server, or any program), or is not one of this machine's."""


def tcp_socket(host: str) -> socket.socket:
    """A TCP socket for `host` (IPv6 when it is an IPv6 address) that says it is TCP: asyncio turns Nagle's algorithm
    off only on connections of listening sockets whose protocol is IPPROTO_TCP (not 0), and with it on, every answer
    on a kept-alive connection waited 40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart reuses a port with connections in TIME_WAIT
    return sock


def listen(host: str, port: int, count: int = 1) -> list[socket.socket]:
    """`count` listening sockets on `host:port` (port 0: one the kernel chooses), or `CannotListen`. One socket holds
    the port exclusively; more share it through SO_REUSEPORT, after an exclusive bind proved nobody held it."""
    exclusive = tcp_socket(host)
    try:
        exclusive.bind((host, port))
    except OSError as error:
        exclusive.close()
        taken = error.errno == errno.EADDRINUSE
        hint = "stop the server holding it or choose another --port" if taken else "check --host and --port"
        raise CannotListen(f"cannot listen on {host}:{port}: {error.strerror}; {hint}") from None
    if count == 1:
        exclusive.listen(BACKLOG)
        return [exclusive]
    port = exclusive.getsockname()[1]
    exclusive.close()  # the shared sockets cannot bind beside it; a competitor's exclusive bind now meets them
    shared: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = tcp_socket(host)
            shared.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
    except OSError as error:  # taken in the instant between the two binds
        for sock in shared:
            sock.close()
        raise CannotListen(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return shared


def bound_line(host: str, port: int) -> str:
    """What `choir serve` prints on stderr once it holds its port, before it rebuilds its state and serves
    (`ServerProcess` reads the port from it)."""
    shown = f"[{host}]" if ":" in host else host
    return f"choir serve: bound http://{shown}:{port} (serving once the state is rebuilt)"
