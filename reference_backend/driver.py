"""`BackendDriver`: the reference backend behind the property suite's `Driver` interface, over real HTTP.

    from reference_backend.driver import BackendDriver
    driver = BackendDriver(params=params, policy="seeds")     # what properties.targets calls for --target backend
    driver.apply(step)   # -> None or the SPEC error name, from the HTTP answer's error.code
    driver.snapshot()    # -> the SPEC section 8 snapshot, from GET /v1/admin/snapshot
    driver.close()

Without `url`, the driver uses a test server it starts itself (`choir serve --manual-clock ... --no-rate-limits
--params ... --policy ...` on a free loopback port, data in a temporary directory) and shares it with every later
driver of the same parameters and policy in this process: each new driver resets the world (`POST
/v1/admin/reset`), so a campaign of hundreds of short examples pays for one server start. The shared servers stop
when the process exits (or on `shutdown_shared_servers()`). With `url`, it drives that server, which must have been
started with `--manual-clock` (time and reset) and the same parameters; `reset=False` keeps its world.

How a trace step becomes HTTP:
* time: trace steps carry `now`; the driver sets the server's manual clock to it (only when it changes) and signs
  with it. `InvalidTime` is checked here first (`TimeGuard`), as SPEC section 3 says for every driver;
* identity: each actor signs with its development key (sha256(name), SPEC section 8), registered on first use;
  treasury authorities co-sign `fund` (`X-Choir-Cosign`), so a trace's `signers` become real signatures;
* content: the model knows only hashes, the backend derives hashes from text. Each trace hash H gets the text
  "choir trace message H"; the backend's hash of that text is mapped back to H in snapshots, so both sides name
  messages alike (distinct trace hashes give distinct texts, so the mapping is one to one).
* disclosure: the backend answers a request naming a message its requester may not know of as if that message
  did not exist (`reference_backend.disclosure`). The driver keeps its own model of the world (it starts at
  genesis, so a server it does not reset must hold none yet) to know where that applies: there the required answer
  stands for the model's error, and the model's error itself is reported as a difference; every other answer is
  compared as it is.
Any answer that is not a success or a SPEC error (401, 429, 5xx, a transport error) raises `BackendDriverError`:
the backend failed the protocol, which is a finding, not an outcome.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx
from solders.keypair import Keypair

from choir_model import ERRORS_BY_NAME, Model, Params, Step
from choir_model.ops import invalid_time
from choir_model.steps import (
    CreateThread,
    Divest,
    Expire,
    Fund,
    ProcessApproval,
    RequestPublic,
    SubmitMessage,
    SubmitSpec,
)
from reference_backend.auth import dev_keypair, sign_headers
from reference_backend.client import encode_body
from reference_backend.content import content_hash
from reference_backend.disclosure import expected_refusal, reconcile
from reference_backend.server import ServerProcess

GENESIS = 1_700_000_000


class BackendDriverError(RuntimeError):
    """The backend answered outside the protocol (not a success, not a SPEC error)."""


def trace_content(trace_hash: str) -> str:
    """The text the driver submits for a trace's content hash."""
    return f"choir trace message {trace_hash}"


def params_json(params: Params) -> str:
    fields = {name: getattr(params, name) for name in params.__dataclass_fields__}
    fields["treasury_authorities"] = list(params.treasury_authorities)
    return json.dumps(fields, separators=(",", ":"))


class _SharedServer:
    def __init__(self, params: Params, policy: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="choir-backend-driver-"))
        args = ["--manual-clock", str(GENESIS), "--no-rate-limits", "--params", params_json(params), "--policy", policy]
        self.process = ServerProcess(self.root / "data", args).start()
        self.registered: set[str] = set()
        self.lock = threading.Lock()

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.root, ignore_errors=True)


_SHARED: dict[tuple[str, str], _SharedServer] = {}
_SHARED_LOCK = threading.Lock()


def _shared_server(params: Params, policy: str) -> _SharedServer:
    key = (params_json(params), policy)
    with _SHARED_LOCK:
        server = _SHARED.get(key)
        if server is None or server.process.process is None or server.process.process.poll() is not None:
            server = _SHARED[key] = _SharedServer(params, policy)
        return server


def shutdown_shared_servers() -> None:
    """Stop every server the drivers of this process started."""
    with _SHARED_LOCK:
        servers = list(_SHARED.values())
        _SHARED.clear()
    for server in servers:
        server.stop()


atexit.register(shutdown_shared_servers)


class BackendDriver:
    """The property suite's driver for the reference backend (see the module docstring)."""

    name = "backend"

    def __init__(
        self,
        params: Params | None = None,
        policy: str = "seeds",
        url: str | None = None,
        admin: str = "treasury1",
        reset: bool = True,
        timeout: float = 30.0,
    ) -> None:
        self.params = params or Params()
        self.policy = policy
        self._shared = _shared_server(self.params, policy) if url is None else None
        self.url = url or self._shared.process.url  # type: ignore[union-attr]
        self.registered: set[str] = self._shared.registered if self._shared else set()
        self.admin = admin
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        self.clock: int | None = None
        self.last_now: int | None = None
        self.to_backend: dict[str, str] = {}
        self.to_trace: dict[str, str] = {}
        self.requests = 0
        self.world = Model(self.params, policy=policy)  # where disclosure applies (see the module docstring)
        self.clock = self._server_time()
        if reset:
            self._admin_call("POST", "/v1/admin/reset")

    # -- the Driver interface -------------------------------------------------------------------------------------

    def apply(self, step: Step) -> str | None:
        expected = expected_refusal(self.world, step)
        if invalid_time(self.last_now, step.now, self.params) is not None:
            return "InvalidTime"
        self._set_clock(step.now)
        method, path, body, content = self._request(step)
        cosigners = [(name, dev_keypair(name)) for name in step.signers] if isinstance(step, Fund) else []
        for name in [step.actor, *(name for name, _ in cosigners)]:
            self._register(name, step.now)
        response = self._send(method, path, body, step.actor, step.now, cosigners)
        if response.is_success:
            if content is not None:
                self._remember(step.hash, content)  # type: ignore[attr-defined]
            self.last_now = step.now
            return None
        error = self._error(response)
        if error in ERRORS_BY_NAME:
            return reconcile(error, expected)
        raise BackendDriverError(f"{step.op}: HTTP {response.status_code} {response.text[:300]}")

    def snapshot(self) -> dict[str, Any]:
        data = self._admin_call("GET", "/v1/admin/snapshot")
        messages = {}
        for key, value in data["messages"].items():
            thread_id, _, backend_hash = key.rpartition("/")
            messages[f"{thread_id}/{self.to_trace.get(backend_hash, backend_hash)}"] = value
        data["messages"] = {key: messages[key] for key in sorted(messages)}
        return data

    def close(self) -> None:
        self.http.close()

    # -- helpers --------------------------------------------------------------------------------------------------

    def _backend_hash(self, trace_hash: str) -> str:
        return self.to_backend.get(trace_hash, trace_hash)

    def _remember(self, trace_hash: str, content: str) -> None:
        backend_hash = content_hash(content)
        self.to_backend[trace_hash] = backend_hash
        self.to_trace[backend_hash] = trace_hash

    def _request(self, step: Step) -> tuple[str, str, dict[str, Any], str | None]:
        """(method, path, body, submitted text) of a step."""
        if isinstance(step, Fund):
            return "POST", "/v1/token/fund", {"recipient": step.actor, "amount": step.amount}, None
        if isinstance(step, CreateThread):
            return "POST", "/v1/thread/create", {"thread_id": step.thread, "deposit": step.deposit}, None
        if isinstance(step, (SubmitMessage, SubmitSpec)):
            text = trace_content(step.hash)
            body: dict[str, Any] = {"thread_id": step.thread, "content": text, "privacy": step.privacy.value}
            if isinstance(step, SubmitSpec):
                body["stake"] = step.stake
            return "POST", "/v1/message/submit", body, text
        if isinstance(step, RequestPublic):
            ref = {"thread_id": step.thread, "content_hash": self._backend_hash(step.hash)}
            return "POST", "/v1/message/request-public", ref, None
        if isinstance(step, ProcessApproval):
            vote = {"thread_id": step.thread, "content_hash": self._backend_hash(step.hash), "approve": step.approve}
            return "POST", "/v1/spec/approve", vote, None
        if isinstance(step, Expire):
            ref = {"thread_id": step.thread, "content_hash": self._backend_hash(step.hash)}
            return "POST", "/v1/message/expire", ref, None
        if isinstance(step, Divest):
            return "POST", "/v1/token/divest", {"thread_id": step.thread, "amount": step.amount}, None
        raise BackendDriverError(f"no route for {step.op}")

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        user: str,
        now: int,
        cosigners: list[tuple[str, Keypair]] | None = None,
    ) -> httpx.Response:
        content = encode_body(body) if body is not None else b""
        request = self.http.build_request(method, path, content=content or None)
        target = request.url.raw_path.decode("ascii")
        request.headers.update(sign_headers(method, target, content, user, dev_keypair(user), now, cosigners or ()))
        if content:
            request.headers["content-type"] = "application/json"
        self.requests += 1
        try:
            return self.http.send(request)
        except httpx.HTTPError as error:
            raise BackendDriverError(f"{method} {path}: {error!r}") from error

    @staticmethod
    def _error(response: httpx.Response) -> str:
        try:
            return str(response.json()["error"]["code"])
        except (ValueError, KeyError, TypeError):
            return f"HTTP{response.status_code}"

    def _server_time(self) -> int:
        """The server's clock, from the (unsigned) health answer's metadata."""
        try:
            return int(self.http.get("/v1/health").json()["metadata"]["server_time"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            raise BackendDriverError(f"{self.url} does not answer /v1/health: {error!r}") from error

    def _admin_call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        now = self.clock if self.clock is not None else self._server_time()
        response = self._send(method, path, body, self.admin, now)
        if not response.is_success:
            raise BackendDriverError(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()["data"]

    def _set_clock(self, now: int) -> None:
        if self.clock == now:
            return
        # Signed at the server's current time: the new time may be days away (beyond the freshness window).
        current = self.clock if self.clock is not None else self._server_time()
        response = self._send("POST", "/v1/admin/clock", {"now": now}, self.admin, current)
        if not response.is_success:
            raise BackendDriverError(f"setting the clock: HTTP {response.status_code} {response.text[:300]}")
        self.clock = now

    def _register(self, name: str, now: int) -> None:
        if name in self.registered or name in self.params.treasury_authorities:
            return
        body = {"name": name, "public_key": str(dev_keypair(name).pubkey())}
        response = self._send("POST", "/v1/user/register", body, name, now)
        if not response.is_success:
            raise BackendDriverError(f"registering {name!r}: HTTP {response.status_code} {response.text[:300]}")
        self.registered.add(name)
