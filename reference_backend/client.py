"""`ChoirClient`: the Python client of the reference backend. It signs every request (see `reference_backend.auth`),
unwraps the envelope, raises `ChoirApiError` with the SPEC error name on failure, and exposes each route as a
typed method returning the same pydantic models the server documents in its OpenAPI.

Retries follow the seeds (Impl_API, Backoff Strategy): after a refusal that says "nothing happened, try later"
(429 rate limited, 503 storage unavailable) or a connection that could not be opened, wait 1 s, then 5 s, then
30 s, then fail. Each retry is signed afresh (new timestamp and nonce, so it is not a replay). A timeout after the
request was sent is not retried: a write may have been applied, and repeating it is the caller's decision.

    from reference_backend.auth import dev_keypair
    alice = ChoirClient("http://127.0.0.1:8000", "alice", dev_keypair("alice"))
    alice.register()
    alice.create_thread("t1", deposit=2 * 10**9)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel
from solders.keypair import Keypair

from reference_backend.auth import sign_headers
from reference_backend.content import content_hash
from reference_backend.schemas import (
    ClockData,
    Health,
    OperationResult,
    RegisteredUser,
    SearchResults,
    Snapshot,
    StakeQuote,
    ThreadView,
    Wallet,
)
from reference_backend.thread_path import thread_segment

SEED_BACKOFF = (1.0, 5.0, 30.0)
RETRY_STATUSES = (429, 503)
M = TypeVar("M", bound=BaseModel)
PrivacyName = Literal["public", "premium", "thread_only"]


class ChoirApiError(Exception):
    """A refused request: HTTP status, the error code (a SPEC name such as `StakeTooLow`, or `AuthError`, ...)."""

    def __init__(self, status: int, error: dict[str, Any] | None, attempts: int = 1) -> None:
        error = error or {}
        self.status = status
        self.code: str = error.get("code", "HTTPError")
        self.message: str = error.get("message", "")
        self.program_code: int | None = error.get("program_code")
        self.field: str | None = error.get("field")
        self.retry_after: int | None = error.get("retry_after")
        self.attempts = attempts
        super().__init__(f"{status} {self.code}: {self.message}")


def encode_body(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class ChoirClient:
    """A signed client for one user. `clock` gives the request timestamps (the server's clock, for a server on a
    manual clock); `sleep` is injectable so tests check the backoff without waiting."""

    def __init__(
        self,
        base_url: str,
        user: str,
        keypair: Keypair,
        *,
        clock: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Sequence[float] = SEED_BACKOFF,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.keypair = keypair
        self.clock = clock or (lambda: int(time.time()))
        self.sleep = sleep
        self.backoff = tuple(backoff)
        self._own_http = http is None
        self.http = http or httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> ChoirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        cosigners: Sequence[tuple[str, Keypair]] = (),
    ) -> httpx.Response:
        """Sign and send once; return the raw response (no retry, no unwrapping)."""
        content = b"" if body is None else encode_body(body)
        request = self.http.build_request(
            method, path, content=content or None, params={k: v for k, v in (params or {}).items() if v is not None}
        )
        target = request.url.raw_path.decode("ascii")
        request.headers.update(sign_headers(method, target, content, self.user, self.keypair, self.clock(), cosigners))
        if content:
            request.headers["content-type"] = "application/json"
        return self.http.send(request)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        cosigners: Sequence[tuple[str, Keypair]] = (),
    ) -> Any:
        """Send with the seeds' backoff and return the envelope's `data`, or raise `ChoirApiError`."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.send(method, path, body, params, cosigners)
            except httpx.ConnectError:
                if attempt > len(self.backoff):
                    raise
                self.sleep(self.backoff[attempt - 1])
                continue
            try:
                payload = response.json()
            except ValueError:
                payload = {}
            if response.is_success:
                return payload.get("data")
            if response.status_code in RETRY_STATUSES and attempt <= len(self.backoff):
                self.sleep(self.backoff[attempt - 1])
                continue
            raise ChoirApiError(response.status_code, payload.get("error"), attempt)

    def _model(self, model: type[M], method: str, path: str, body: Any = None, **kwargs: Any) -> M:
        return model.model_validate(self.call(method, path, body, **kwargs))

    # -- routes -----------------------------------------------------------------------------------------------------

    def health(self) -> Health:
        response = self.http.get("/v1/health")
        return Health.model_validate(response.json()["data"])

    def register(self) -> RegisteredUser:
        """Register this client's public key under its user name (idempotent)."""
        body = {"name": self.user, "public_key": str(self.keypair.pubkey())}
        return self._model(RegisteredUser, "POST", "/v1/user/register", body)

    def fund(self, recipient: str, amount: int, authorities: Sequence[tuple[str, Keypair]]) -> OperationResult:
        """Treasury -> `recipient`, co-signed by treasury authorities given as (name, keypair)."""
        body = {"recipient": recipient, "amount": amount}
        return self._model(OperationResult, "POST", "/v1/token/fund", body, cosigners=authorities)

    def create_thread(self, thread_id: str, deposit: int) -> OperationResult:
        return self._model(OperationResult, "POST", "/v1/thread/create", {"thread_id": thread_id, "deposit": deposit})

    def submit_message(self, thread_id: str, content: str, privacy: PrivacyName = "public") -> OperationResult:
        """A co-author's message; the result's `content_hash` is sha256(content)."""
        body = {"thread_id": thread_id, "content": content, "privacy": privacy}
        return self._model(OperationResult, "POST", "/v1/message/submit", body)

    def submit_spec(self, thread_id: str, content: str, stake: int, privacy: PrivacyName = "public") -> OperationResult:
        """An outsider's spec with `stake` base units escrowed."""
        body = {"thread_id": thread_id, "content": content, "privacy": privacy, "stake": stake}
        return self._model(OperationResult, "POST", "/v1/message/submit", body)

    def request_public(self, thread_id: str, content_hash: str) -> OperationResult:
        body = {"thread_id": thread_id, "content_hash": content_hash}
        return self._model(OperationResult, "POST", "/v1/message/request-public", body)

    def approve(self, thread_id: str, content_hash: str, approve: bool = True) -> OperationResult:
        """Vote on a pending message (the model's process_approval)."""
        body = {"thread_id": thread_id, "content_hash": content_hash, "approve": approve}
        return self._model(OperationResult, "POST", "/v1/spec/approve", body)

    def expire(self, thread_id: str, content_hash: str) -> OperationResult:
        body = {"thread_id": thread_id, "content_hash": content_hash}
        return self._model(OperationResult, "POST", "/v1/message/expire", body)

    def divest(self, thread_id: str, amount: int) -> OperationResult:
        return self._model(OperationResult, "POST", "/v1/token/divest", {"thread_id": thread_id, "amount": amount})

    def thread(self, thread_id: str) -> ThreadView:
        return self._model(ThreadView, "GET", f"/v1/thread/{thread_segment(thread_id)}")

    def stake_quote(self, thread_id: str) -> StakeQuote:
        return self._model(StakeQuote, "GET", f"/v1/thread/{thread_segment(thread_id)}/stake")

    def search(self, q: str, limit: int = 10, thread_id: str | None = None) -> SearchResults:
        params = {"q": q, "limit": limit, "thread_id": thread_id}
        return self._model(SearchResults, "GET", "/v1/search", params=params)

    def wallet(self) -> Wallet:
        return self._model(Wallet, "GET", "/v1/wallet")

    def snapshot(self) -> Snapshot:
        """The whole state (administrators only)."""
        return self._model(Snapshot, "GET", "/v1/admin/snapshot")

    def set_premium(self, name: str, premium: bool = True) -> RegisteredUser:
        return self._model(RegisteredUser, "POST", "/v1/admin/premium", {"name": name, "premium": premium})

    def set_clock(self, now: int) -> ClockData:
        """Move a manual server clock (administrators, servers started with --manual-clock)."""
        return self._model(ClockData, "POST", "/v1/admin/clock", {"now": now})

    @staticmethod
    def content_hash(content: str) -> str:
        """The hash the server will give `content` (sha256 of its UTF-8 bytes)."""
        return content_hash(content)
