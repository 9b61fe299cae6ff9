"""The HTTP face of the backend (SPEC section 10): FastAPI routes under `/v1`, envelopes, statuses, OpenAPI.

Request flow, as in the seeds (Impl_API): body-size limit -> authentication (signature, freshness, replay) ->
rate limit -> validation -> handler -> `Backend` (the model, the journal) -> envelope. Every response, including
404 for unknown routes, 405, malformed JSON and validation errors (400, not FastAPI's 422, as SPEC section 10
says), is `{data, error, metadata}`. The OpenAPI document lists, for every operation, each status it can answer
with the envelope schema of that answer, so schemathesis can hold the server to it.

Short handlers (thread views, wallet, writes that only wait for the writer thread) run on the event loop: a hop
to the thread pool costs more than they do; a read that finds the writer holding the state lock (during a journal
commit) moves to the thread pool rather than block the loop. Search runs on the thread pool, because scoring can
take milliseconds.

Routes (all signed except `/v1/health`): register, token/fund, thread/create, message/submit (a message, or a spec
when `stake` is given), message/request-public, spec/approve, message/expire, token/divest, thread/{id}, search,
wallet, and for admins: admin/snapshot, admin/premium, and on test servers (started with a manual clock) admin/clock
and admin/reset.

FastAPI reads the annotations of route functions at definition time; they name closures of `create_app`, so this
module deliberately does not use `from __future__ import annotations`.
"""

import asyncio
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from choir_model import ChoirError, Privacy
from choir_model.steps import (
    CreateThread,
    Divest,
    Expire,
    Fund,
    ProcessApproval,
    RequestPublic,
    Step,
    SubmitMessage,
    SubmitSpec,
)
from reference_backend.auth import AuthFailure, Principal, parse_public_key, verify_request
from reference_backend.cache import THREAD_STATE, USER_DATA, Cached, CacheReport, ResponseCache
from reference_backend.chain import Consistency
from reference_backend.chorus import ChorusRequest, ChorusResult, backend_loop, thread_exists
from reference_backend.clock import ManualClock
from reference_backend.commands import PremiumCommand, RegisterCommand, StepCommand
from reference_backend.commands import Request as SignedRequest
from reference_backend.content import content_hash
from reference_backend.errors import (
    ApiError,
    access_denied,
    auth_error,
    http_error,
    rate_limited,
    too_large,
    unknown_thread,
    validation_error,
)
from reference_backend.schemas import (
    ApproveRequest,
    ClockData,
    ClockRequest,
    CreateThreadRequest,
    DivestRequest,
    Envelope,
    ErrorInfo,
    FundRequest,
    Health,
    MessageRef,
    OperationResult,
    PremiumRequest,
    RegisteredUser,
    RegisterRequest,
    SearchResults,
    Snapshot,
    StakeQuote,
    SubmitMessageRequest,
    ThreadView,
    Wallet,
)
from reference_backend.service import Backend
from reference_backend.ws import hub_of, serve_connection

log = logging.getLogger("reference_backend")

ERROR_DESCRIPTIONS = {
    400: "Validation failed (malformed JSON, wrong types, unknown fields) or a request the model refuses whatever "
    "the state (InvalidThreadId, InvalidAmount, StakeTooLow).",
    401: "Unsigned, malformed, stale, replayed or forged request, or unknown user.",
    403: "Access denied (NotCoAuthor, NotAVoter, Unauthorized, AccessDenied).",
    404: "Unknown thread or message, user or route.",
    409: "State conflict (the SPEC error name is in error.code).",
    413: "ContentTooLarge: the message or the request body is over the limit.",
    429: "RateLimited: retry after Retry-After seconds.",
    503: "StorageUnavailable: the journal could not be written, nothing changed; or NotReady: signed at or before "
    "a restart's replay floor, sign again and retry after Retry-After seconds.",
}
SIGNED_ERRORS = (400, 401, 403, 404, 409, 413, 429, 503)


_REQUEST_PREFIX = secrets.token_hex(4)
_request_numbers = itertools.count(1)


def _metadata(backend: Backend) -> dict[str, Any]:
    # A per-process random prefix and a counter: unique, and no system call per response.
    request_id = f"{_REQUEST_PREFIX}-{next(_request_numbers):x}"
    return {"api_version": "v1", "request_id": request_id, "server_time": backend.now()}


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def envelope(backend: Backend, data: BaseModel | None, status: int = 200) -> Response:
    payload = None if data is None else data.model_dump(mode="json")
    return Response(
        _json({"data": payload, "error": None, "metadata": _metadata(backend)}),
        status_code=status,
        media_type="application/json",
    )


def error_envelope(backend: Backend, error: ApiError) -> Response:
    info = ErrorInfo(
        code=error.code,
        message=error.message,
        program_code=error.program_code,
        field=error.field,
        retry_after=error.retry_after,
    )
    return Response(
        _json({"data": None, "error": info.model_dump(mode="json"), "metadata": _metadata(backend)}),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers,
    )


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413 before reading them whole (Content-Length or counted)."""

    def __init__(self, app: ASGIApp, backend: Backend, limit: int) -> None:
        self.app = app
        self.backend = backend
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        refused = too_large(f"request body over {self.limit} bytes")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                await self._refuse(scope, receive, send, refused if declared.isdigit() else None)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send, refused)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, error: ApiError | None) -> None:
        error = error or validation_error("Content-Length is not a number")
        await error_envelope(self.backend, error)(scope, receive, send)


def cached_envelope(backend: Backend, found: Cached, wrap: Callable[[Any], BaseModel] | None = None) -> Response:
    """An envelope for a cached read, with `X-Choir-Cache: hit|miss` and `X-Choir-As-Of` (`reference_backend.cache`)."""
    response = envelope(backend, wrap(found.value) if wrap is not None else found.value)
    response.headers["X-Choir-Cache"] = "hit" if found.hit else "miss"
    response.headers["X-Choir-As-Of"] = str(found.as_of)
    return response


def signed_request(principal: Principal) -> SignedRequest:
    """What the journal keeps of a signed request: its signer, nonce and timestamp."""
    return SignedRequest(principal.user, principal.nonce, principal.timestamp)


def _target(request: Request) -> str:
    """The path and query exactly as the client sent them (what the signature covers)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


def create_app(backend: Backend) -> FastAPI:
    """The FastAPI application for a started `Backend` (the caller owns the backend's lifecycle)."""
    config = backend.config
    app = FastAPI(
        title="Choir reference backend",
        version="1.0.0",
        summary="The reference REST API of Choir over the executable model (SPEC section 10).",
        description=__doc__,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.backend = backend
    app.router.redirect_slashes = False  # `/v1/wallet/` is an unknown route (404 envelope), not a bare 307
    chorus_loop = backend_loop(backend)
    cache = app.state.cache = ResponseCache(backend)

    # -- dependencies -------------------------------------------------------------------------------------------

    async def verified(request: Request, body: bytes, own_key: Any = None) -> Principal:
        """Check the signature (`reference_backend.auth`); a request signed ahead of the server clock has its
        nonce persisted before anything else happens, so no restart can accept it again."""
        now = backend.now()
        try:
            principal = verify_request(
                request.headers, request.method, _target(request), body, now, config.max_skew,
                backend.key_of, backend.replay, own_key=own_key,
            )  # fmt: skip
        except AuthFailure as failure:
            raise auth_error(failure.reason, failure.retry_after) from None
        if principal.timestamp > now:
            await asyncio.wrap_future(backend.persist_nonce(principal))
        return principal

    async def authenticate(request: Request) -> Principal:
        return await verified(request, await request.body())

    async def authenticate_registration(request: Request) -> Principal:
        body = await request.body()
        try:
            claimed = json.loads(body).get("public_key")
        except (ValueError, AttributeError, RecursionError):
            claimed = None
        if not isinstance(claimed, str):
            raise validation_error("public_key must be a base58 ed25519 public key", field="public_key")
        try:
            key = parse_public_key(claimed)
        except ValueError as error:  # well-formed text that is no key: nothing can be signed with it
            raise auth_error(f"cannot verify a signature with this public_key: {error}") from None
        return await verified(request, body, key)

    def limited(route: str, auth: Callable[[Request], Awaitable[Principal]] = authenticate) -> Any:
        async def dependency(principal: Annotated[Principal, Depends(auth)]) -> Principal:
            wait = backend.limiter.admit(principal.user, route, backend.now())
            if wait is not None:
                raise rate_limited(route, wait)
            return principal

        return Depends(dependency)

    async def admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.user not in config.admin_names:
            raise access_denied(f"{principal.user!r} is not an administrator")
        return principal

    async def read(function: Callable[..., Any], *args: Any) -> Any:
        """A short read: inline when the state is free, on the thread pool while the writer commits."""
        result = backend.read(function, *args)
        return result if result is not None else await run_in_threadpool(function, *args)

    async def run(step: Step, principal: Principal, content: str | None = None) -> Response:
        accepted = await asyncio.wrap_future(backend.submit(StepCommand(step, content, signed_request(principal))))
        result = OperationResult(
            op=step.op,
            seq=accepted.seq,
            now=accepted.step.now,
            thread_id=step.thread_id,
            content_hash=step.content_hash,
        )
        return envelope(backend, result)

    def responses(data: type[BaseModel] | None, errors: tuple[int, ...] = SIGNED_ERRORS) -> dict[int | str, Any]:
        out: dict[int | str, Any] = {}
        if data is not None:
            out[200] = {"model": Envelope[data], "description": "Success: `data` holds the result."}  # type: ignore[valid-type]
        for status in errors:
            out[status] = {"model": Envelope[None], "description": ERROR_DESCRIPTIONS[status]}
        return out

    Admin = Annotated[Principal, Depends(admin)]

    # -- routes -------------------------------------------------------------------------------------------------

    @app.get("/v1/health", responses=responses(Health, ()), response_model=None, tags=["service"])
    async def health() -> Response:
        """Liveness and the journal and index positions (unsigned)."""
        status = "failed" if backend.failed else "degraded" if backend.degraded else "ok"
        health = Health(
            status=status,
            reason=backend.failed or backend.degraded,
            journal_seq=backend.journal_seq,
            indexed_seq=backend.indexed_seq,
        )
        return envelope(backend, health)

    @app.post("/v1/user/register", responses=responses(RegisteredUser), response_model=None, tags=["users"])
    async def register(
        body: RegisterRequest,
        principal: Annotated[Principal, limited("register", authenticate_registration)],
    ) -> Response:
        """Bind `name` to `public_key`. Signed with that key as `X-Choir-User: name`; idempotent for the same key."""
        if principal.user != body.name:
            raise validation_error("X-Choir-User must be the name being registered", field="name")
        command = RegisterCommand(body.name, body.public_key, signed_request(principal))
        record = await asyncio.wrap_future(backend.submit(command))
        return envelope(backend, RegisteredUser(name=record.name, public_key=record.public_key, premium=record.premium))

    @app.post("/v1/token/fund", responses=responses(OperationResult), response_model=None, tags=["tokens"])
    async def fund(body: FundRequest, principal: Annotated[Principal, limited("fund")]) -> Response:
        """Treasury -> `recipient`'s wallet; the treasury authorities sign in `X-Choir-Cosign` (multisig)."""
        return await run(Fund(body.recipient, 0, body.amount, principal.cosigners), principal)

    @app.post("/v1/thread/create", responses=responses(OperationResult), response_model=None, tags=["threads"])
    async def create_thread(
        body: CreateThreadRequest, principal: Annotated[Principal, limited("create_thread")]
    ) -> Response:
        """Create a thread with the signer as its first co-author and `deposit` moved from their wallet."""
        return await run(CreateThread(principal.user, 0, body.thread_id, body.deposit), principal)

    @app.post("/v1/message/submit", responses=responses(OperationResult), response_model=None, tags=["messages"])
    async def submit_message(
        body: SubmitMessageRequest, principal: Annotated[Principal, limited("submit_message")]
    ) -> Response:
        """A co-author's message (Private), or with `stake` an outsider's spec (Pending, stake escrowed). The content
        hash is the sha256 of `content`."""
        size = len(body.content.encode("utf-8"))
        if size > config.max_content_bytes:
            raise too_large(f"content is {size} bytes, the limit is {config.max_content_bytes}", field="content")
        digest = content_hash(body.content)
        privacy = Privacy(body.privacy)
        step: Step
        if body.stake is None:
            step = SubmitMessage(principal.user, 0, body.thread_id, digest, privacy)
        else:
            step = SubmitSpec(principal.user, 0, body.thread_id, digest, body.stake, privacy)
        return await run(step, principal, body.content)

    @app.post(
        "/v1/message/request-public", responses=responses(OperationResult), response_model=None, tags=["messages"]
    )
    async def request_public(body: MessageRef, principal: Annotated[Principal, limited("request_public")]) -> Response:
        """The author asks the other co-authors to make a Private message public (no stake)."""
        return await run(RequestPublic(principal.user, 0, body.thread_id, body.content_hash.lower()), principal)

    @app.post("/v1/spec/approve", responses=responses(OperationResult), response_model=None, tags=["messages"])
    async def approve(body: ApproveRequest, principal: Annotated[Principal, limited("approve")]) -> Response:
        """A co-author's vote on a Pending message; the last vote settles it."""
        step = ProcessApproval(principal.user, 0, body.thread_id, body.content_hash.lower(), body.approve)
        return await run(step, principal)

    @app.post("/v1/message/expire", responses=responses(OperationResult), response_model=None, tags=["messages"])
    async def expire(body: MessageRef, principal: Annotated[Principal, limited("expire")]) -> Response:
        """Close an approval window that has passed (anyone may); the stake goes to the treasury."""
        return await run(Expire(principal.user, 0, body.thread_id, body.content_hash.lower()), principal)

    @app.post("/v1/token/divest", responses=responses(OperationResult), response_model=None, tags=["tokens"])
    async def divest(body: DivestRequest, principal: Annotated[Principal, limited("divest")]) -> Response:
        """A co-author withdraws up to their share of the balance above the minimum, once per cooldown."""
        return await run(Divest(principal.user, 0, body.thread_id, body.amount), principal)

    @app.get(  # before the thread route: its path converter would take ".../stake" as part of the thread id
        "/v1/thread/{thread_id:path}/stake", responses=responses(StakeQuote), response_model=None, tags=["threads"]
    )
    async def stake_quote(thread_id: str, principal: Annotated[Principal, limited("read_thread")]) -> Response:
        """The recommended stake for a spec on this thread now, the minimum, and whether the signer could submit
        one (seeds: the stake shown before a spec is created)."""
        return envelope(backend, await read(backend.stake_quote, principal.user, thread_id))

    @app.get("/v1/thread/{thread_id:path}", responses=responses(ThreadView), response_model=None, tags=["threads"])
    async def read_thread(thread_id: str, principal: Annotated[Principal, limited("read_thread")]) -> Response:
        """A thread as the signer may see it: metadata by role, each message in full, as a summary, or not at all."""
        key, tags = cache.thread_key(principal.user, thread_id)
        found = await cache.aget(THREAD_STATE, key, tags, lambda: read(backend.thread_view, principal.user, thread_id))
        return cached_envelope(backend, found)

    @app.post(
        "/v1/thread/{thread_id:path}/chorus", responses=responses(ChorusResult), response_model=None, tags=["threads"]
    )
    def chorus(  # a plain function: the loop searches, so it runs on the thread pool
        thread_id: str, body: ChorusRequest, principal: Annotated[Principal, limited("search")]
    ) -> Response:
        """Run the Chorus loop (`reference_backend.chorus`) on the thread for the signer: a response whose
        citations are content the signer may cite, each with its content hash. Its experience phase searches
        content, so each run counts against the signer's search limit (seeds: 100 an hour)."""
        if not thread_exists(backend, thread_id):
            raise unknown_thread(thread_id)
        return envelope(backend, chorus_loop.run(principal.user, thread_id, body.prompt, body.max_cycles))

    @app.get("/v1/search", responses=responses(SearchResults), response_model=None, tags=["search"])
    def search(  # a plain function: FastAPI runs it on its thread pool, so a long search never blocks the loop
        principal: Annotated[Principal, limited("search")],
        q: Annotated[str, Query(min_length=1, max_length=1000, description="Free text.")],
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        thread_id: Annotated[str | None, Query(description="Search inside one thread only.")] = None,
    ) -> Response:
        """Messages the signer may search, most similar first; nothing else is returned or counted."""
        return cached_envelope(backend, cache.search(principal.user, q, limit, thread_id))

    @app.get("/v1/wallet", responses=responses(Wallet), response_model=None, tags=["tokens"])
    async def wallet(principal: Annotated[Principal, limited("wallet")]) -> Response:
        """The signer's own wallet balance."""
        key, tags = cache.wallet_key(principal.user)
        found = await cache.aget(USER_DATA, key, tags, lambda: read(backend.wallet, principal.user))
        return cached_envelope(backend, found, lambda balance: Wallet(user=principal.user, balance=balance))

    hub = hub_of(backend)

    @app.websocket("/v1/ws")
    async def websocket(socket: WebSocket) -> None:
        """Live thread state: signed auth, subscribe, snapshot then ordered deltas (`reference_backend.ws`)."""
        await serve_connection(hub, socket)

    @app.get("/v1/consistency", responses=responses(Consistency), response_model=None, tags=["admin"])
    async def consistency(principal: Admin) -> Response:
        """Compare the model's state with the Choir program's accounts (servers started with --chain; admins)."""
        if backend.chain is None:
            raise ApiError("NoChain", "this server runs without a chain (it was started with --chain none)")
        return envelope(backend, await run_in_threadpool(backend.chain.check, backend))

    @app.get("/v1/admin/cache", responses=responses(CacheReport), response_model=None, tags=["admin"])
    async def cache_report(principal: Admin) -> Response:
        """Response-cache counters: hits, misses and hit ratio per kind, expiries, invalidations."""
        return envelope(backend, cache.report())

    @app.get("/v1/admin/snapshot", responses=responses(Snapshot), response_model=None, tags=["admin"])
    async def snapshot(principal: Admin) -> Response:
        """The SPEC section 8 snapshot of the whole state (administrators only)."""
        return envelope(backend, Snapshot.model_validate(await read(backend.snapshot)))

    @app.post("/v1/admin/premium", responses=responses(RegisteredUser), response_model=None, tags=["admin"])
    async def premium(body: PremiumRequest, principal: Admin) -> Response:
        """Grant or revoke a registered user's premium status."""
        command = PremiumCommand(body.name, body.premium, signed_request(principal))
        record = await asyncio.wrap_future(backend.submit(command))
        return envelope(backend, RegisteredUser(name=record.name, public_key=record.public_key, premium=record.premium))

    if isinstance(backend.clock, ManualClock):

        @app.post("/v1/admin/clock", responses=responses(ClockData), response_model=None, tags=["admin"])
        async def set_clock(body: ClockRequest, principal: Admin) -> Response:
            """Set the server clock (servers started with a manual clock only: tests and differential runs)."""
            return envelope(backend, ClockData(now=backend.set_clock(body.now)))

        @app.post("/v1/admin/reset", responses=responses(Health), response_model=None, tags=["admin"])
        async def reset(principal: Admin) -> Response:
            """Forget every operation, message and index entry; users stay (manual-clock test servers only: the
            differential driver runs many short worlds on one server)."""
            await asyncio.wrap_future(backend.reset(signed_request(principal)))
            return envelope(backend, Health(status="ok", journal_seq=backend.journal_seq, indexed_seq=0))

    # -- errors -------------------------------------------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, error: ApiError) -> Response:
        return error_envelope(backend, error)

    @app.exception_handler(ChoirError)
    async def on_choir_error(request: Request, error: ChoirError) -> Response:
        return error_envelope(backend, ApiError.of(error))

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, error: RequestValidationError) -> Response:
        problems = error.errors()
        first = problems[0] if problems else {}
        field = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
        message = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in problems[:5]
        )
        return error_envelope(backend, validation_error(message or "invalid request", field=field))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, error: StarletteHTTPException) -> Response:
        # 400 here is Starlette's "error parsing the body" (a body nested too deeply for the JSON parser, ...).
        message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed here"}
        text = message.get(error.status_code, str(error.detail))
        return error_envelope(backend, http_error(error.status_code, text, dict(error.headers or {})))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_envelope(backend, ApiError("InternalError", "internal error; nothing was changed"))

    app.add_middleware(BodyLimit, backend=backend, limit=config.max_body_bytes)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, made true: no 422 (validation is 400 here), the signing headers as security schemes,
    Retry-After on 429, WWW-Authenticate on 401."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    schemes = {
        "ChoirUser": "X-Choir-User",
        "ChoirTimestamp": "X-Choir-Timestamp",
        "ChoirNonce": "X-Choir-Nonce",
        "ChoirSignature": "X-Choir-Signature",
    }
    components["securitySchemes"] = {
        name: {"type": "apiKey", "in": "header", "name": header, "description": "See reference_backend.auth."}
        for name, header in schemes.items()
    }
    for path, methods in schema.get("paths", {}).items():
        for operation in methods.values():
            answers = operation.get("responses", {})
            answers.pop("422", None)
            if "429" in answers:
                answers["429"]["headers"] = {
                    "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer", "minimum": 1}}
                }
            if "401" in answers:
                answers["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
            if path != "/v1/health":
                operation["security"] = [{name: [] for name in schemes}]
    schemas = components.get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = schema
    return schema
