"""Running the backend: in the foreground (`choir serve`), in a thread (tests) or as a child process (the
differential driver, the crash test, benchmarks).

By default one process, one uvicorn worker: the model lives in memory and the writer thread is its only mutator.
`workers > 1` keeps that one writer in this process and serves HTTP from that many worker processes, each with a
replica that follows the writer (`reference_backend.workers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from reference_backend.clock import Clock
from reference_backend.config import BackendConfig
from reference_backend.ports import bound_line, listen
from reference_backend.service import Backend

if TYPE_CHECKING:
    from reference_backend.chain import Chain
    from reference_backend.workers import Spawned, WriterHost
    from reference_backend.ws import WsSettings

log = logging.getLogger("reference_backend")

BOUND = re.compile(re.escape(bound_line("HOST", 0)).replace("HOST", r"\S+").replace(":0", r":(\d+)"))
"""The line `choir serve` prints once it holds its port, with the port as group 1."""

SWITCH_INTERVAL = 0.0005
"""Seconds a thread waiting for the GIL waits before it asks the running one to let go (CPython's default is 0.005).
Why `choir serve` shortens it: under load the event loop holds the GIL almost all the time, and the writer thread
gives it up for every fsync of a group commit; getting it back took up to the default 5 ms each time, which was
most of a commit's time (a commit under a busy thread: p50 6 to 10 ms at 0.005, 1.0 ms at 0.0005), and every write
waits for its commit."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def uvicorn_config(app: object, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        backlog=2048,
    )


def serve(
    config: BackendConfig,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    chain: str | Callable[[Backend], Chain] | None = None,
    ws: WsSettings | None = None,
    workers: int = 1,
) -> None:
    """Start the backend and serve until interrupted (SIGINT/SIGTERM), then close it cleanly. `chain` puts the Choir
    program in front of the model (`reference_backend.chain`): `"litesvm"` (the program built from source), or a
    function making the chain for the started backend (`choir serve` passes `litesvm_chain` with the built `.so`,
    or `rpc_chain`). A chain that cannot start (`ChainStartError`) stops the server before it listens; `ws` sets
    the WebSocket timings; `workers` > 1 serves HTTP from that many processes around this one's writer."""
    from reference_backend.chain import attach, litesvm_chain

    if isinstance(chain, str) and chain != "litesvm":
        raise ValueError(f"unknown chain {chain!r}: litesvm, or a function making a Chain")
    factory: Callable[[Backend], Chain] | None = litesvm_chain if isinstance(chain, str) else chain
    sys.setswitchinterval(SWITCH_INTERVAL)
    sockets = listen(host, port, workers)  # `CannotListen` before anything starts (`reference_backend.ports`)
    print(bound_line(host, sockets[0].getsockname()[1]), file=sys.stderr, flush=True)
    spawned = _spawn(sockets) if workers > 1 else []  # their imports overlap the writer's start
    try:
        backend = Backend(config).start()
    except BaseException:
        _end(spawned, sockets)
        raise
    made: Chain | None = None
    try:
        if factory is not None:
            made = factory(backend)
            attach(backend, made)  # on ChainStartError `made` is still closed below
        if workers > 1:
            from reference_backend.workers import serve_workers

            serve_workers(backend, sockets, log_level, ws, spawned)
            return
        from reference_backend.app import create_app  # here: the writer's process of `--workers` serves no HTTP
        from reference_backend.ws import hub_of

        if ws is not None:
            hub_of(backend).settings = ws
        server = uvicorn.Server(uvicorn_config(create_app(backend), host, port, log_level))
        server.run(sockets=sockets)
    finally:
        _end(spawned, sockets)  # workers that never got their start frame (a chain that could not start)
        backend.close()
        if made is not None:
            made.close()


def _spawn(sockets: list[socket.socket]) -> list[Spawned]:
    from reference_backend.workers import spawn

    return [spawn(listener) for listener in sockets]


def _end(spawned: list[Spawned], sockets: list[socket.socket]) -> None:
    for worker in spawned:
        worker.sock.close()  # a worker still waiting for its start frame exits
        worker.process.wait(10)
    for listener in sockets:
        listener.close()


class ServerThread:
    """A backend served by uvicorn on a thread of this process (tests): `with ServerThread(config) as s: s.url`.
    With `workers` > 1 the thread runs the writer's side of `choir serve --workers` (`reference_backend.workers`)
    and the HTTP workers are child processes; their clocks follow a manual clock with each commit.

    The test keeps a handle on `backend` (and its clock) for white-box checks."""

    def __init__(
        self,
        config: BackendConfig,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        workers: int = 1,
        port: int = 0,
    ) -> None:
        self.config = config
        self.backend = Backend(config, clock=clock)
        self.host = host
        self.sockets = listen(host, port, workers)  # held from here: no other server can take the port meanwhile
        self.port = int(self.sockets[0].getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        self.workers = workers
        self._server: uvicorn.Server | None = None
        self._host: WriterHost | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ServerThread:
        self.backend.start()
        if self.workers > 1:
            return self._start_workers()
        from reference_backend.app import create_app

        self._server = uvicorn.Server(uvicorn_config(create_app(self.backend), self.host, self.port))
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        server = self._server
        self._thread = threading.Thread(target=lambda: server.run(sockets=self.sockets), name="uvicorn", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def _start_workers(self) -> ServerThread:
        from reference_backend.workers import WriterHost

        host = self._host = WriterHost(self.backend, self.sockets, "warning", None)
        self._thread = threading.Thread(target=asyncio.run, args=(host.run(),), name="choir-writer-host", daemon=True)
        self._thread.start()
        while not host.started.wait(0.05):
            if not self._thread.is_alive():
                raise RuntimeError("the test server's workers did not start")
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        if self._host is not None and self._thread is not None:
            self._host.stop()
            self._thread.join(30)
        for listener in self.sockets:
            listener.close()
        self.backend.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class ProcessStat:
    pid: int
    state: str  # "Z": exited (a zombie holds no file and no socket any more, whoever reaps it and whenever)
    parent: int
    group: int


def processes() -> list[ProcessStat]:
    """Every process of this machine, from Linux `/proc` (empty elsewhere): what a crash test waits for."""
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            found.append(ProcessStat(int(entry.name), fields[0], int(fields[1]), int(fields[2])))
    return found


def _group_running(group: int) -> bool:
    """Whether a process of process group `group` has not exited yet."""
    return any(p.group == group and p.state != "Z" for p in processes())


class ServerProcess:
    """`choir serve` as a child process on a free loopback port; `kill()` is SIGKILL (the crash test)."""

    def __init__(self, data_dir: Path, extra_args: Sequence[str] = (), host: str = "127.0.0.1") -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.extra_args = list(extra_args)
        self.port = 0
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.server.log"

    def start(self, timeout: float = 30.0, port: int | None = None) -> ServerProcess:
        """Start on `port` (by default one the server asks the kernel for, read from its log: no race with another
        program for a port probed free) and wait until `/v1/health` answers."""
        import httpx  # here, not at the top: `choir serve` imports this module and never polls

        self.port = port or 0
        self.url = ""
        command = [
            sys.executable, "-m", "choir.cli", "serve", "--host", self.host, "--port", str(self.port),
            "--data", str(self.data_dir), "--log-level", "warning", *self.extra_args,
        ]  # fmt: skip
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed when it exits
        logged = log_file.tell()  # this start's lines come after
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # A session of its own, so a crash (`kill`) takes its HTTP workers (`--workers`) down at the same moment.
        self.process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        log_file.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log_path}")
            if not self.url:
                self.port = self.port or self._bound_port(logged)
                if not self.port:
                    time.sleep(0.05)
                    continue
                self.url = f"http://{self.host}:{self.port}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/v1/health", timeout=1.0).status_code == 200:
                    return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"the server did not answer within {timeout} s; see {self.log_path}")

    def _bound_port(self, offset: int) -> int:
        """The port this start's server printed it holds (`reference_backend.ports.bound_line`), 0 until then."""
        with open(self.log_path, "rb") as log_file:
            log_file.seek(offset)
            found = BOUND.search(log_file.read().decode("utf-8", "replace"))
        return int(found.group(1)) if found else 0

    def kill(self) -> None:
        """SIGKILL to the server and its worker processes: no cleanup at all, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            deadline = time.monotonic() + 10
            while _group_running(self.process.pid) and time.monotonic() < deadline:
                time.sleep(0.01)  # its workers too: until they have exited they hold the port

    def crash_and_restart(self, timeout: float = 30.0) -> float:
        """SIGKILL, then start again on the same port and data directory, so clients find it at the same URL;
        return the seconds it was down."""
        started = time.monotonic()
        self.kill()
        self.start(timeout, port=self.port)
        return time.monotonic() - started

    def stop(self) -> None:
        """SIGTERM and wait (a clean shutdown); SIGKILL after 10 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
