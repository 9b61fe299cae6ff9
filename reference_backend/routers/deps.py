"""What route handlers receive, as named types (FastAPI dependencies through `typing.Annotated`), and the two
helpers every handler shares.

Request flow, as in the seeds (Impl_API): body-size limit (`reference_backend.envelope.BodyLimit`) ->
authentication (signature, freshness, replay) -> rate limit -> validation -> handler -> `Backend` -> envelope. A
route names its signer and its limit together in its signature, `Annotated[Principal, signer("route")]`; the
administrators' routes, which have no limit, take `Admin`.

Why one dependency for the signer and its limit: FastAPI solves every dependency node on every request (about
10 us each on the bench machine, with the same work again for a node that another one names), and a rate limit as
a route dependency naming `Signed` cost two more nodes than this on every signed request.

FastAPI reads these annotations at run time, so this module and the routers do not use
`from __future__ import annotations`.
"""

import asyncio
import json
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.responses import Response

from choir_model.steps import Step
from reference_backend.auth import AuthFailure, Principal, parse_public_key
from reference_backend.cache import ResponseCache
from reference_backend.chorus import ChorusLoop
from reference_backend.commands import Request as SignedRequest
from reference_backend.commands import StepCommand
from reference_backend.envelope import envelope
from reference_backend.errors import access_denied, auth_error, validation_error
from reference_backend.schemas import OperationResult
from reference_backend.service import Backend


async def backend_of(request: Request) -> Backend:
    return request.app.state.backend


async def cache_of(request: Request) -> ResponseCache:
    return request.app.state.cache


async def chorus_of(request: Request) -> ChorusLoop:
    return request.app.state.chorus


BackendDep = Annotated[Backend, Depends(backend_of)]
CacheDep = Annotated[ResponseCache, Depends(cache_of)]
ChorusDep = Annotated[ChorusLoop, Depends(chorus_of)]


def _target(request: Request) -> str:
    """The path and query exactly as the client sent them (what the signature covers)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string") or b""
    return (raw + (b"?" + query if query else b"")).decode("latin-1")


async def _verified(
    request: Request, backend: Backend, body: bytes, own_key: Any = None, route: str | None = None
) -> Principal:
    """Check the signature, admit the request and count it against the limit of `route` (`Backend.verify`,
    `reference_backend.auth`)."""
    try:
        return await backend.verify(request.headers, request.method, _target(request), body, own_key, route)
    except AuthFailure as failure:
        raise auth_error(failure.reason, failure.retry_after) from None


async def _authenticated(request: Request, route: str | None) -> Principal:
    """The signer of the request, with a key the server knows (a registered user or a treasury authority). The
    backend is read off the request, not through `BackendDep`: every signed route resolves this, and each
    sub-dependency is one more node FastAPI solves per request."""
    return await _verified(request, request.app.state.backend, await request.body(), route=route)


async def authenticate(request: Request) -> Principal:
    """The signer of a request to a route with no rate limit (`Signed`; FastAPI reads every parameter of a
    dependency as a request parameter, so the route is not one here)."""
    return await _authenticated(request, None)


async def authenticate_registration(request: Request, route: str) -> Principal:
    """The signer of a registration, whose key is the one the body registers."""
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
    return await _verified(request, request.app.state.backend, body, key, route)


Signed = Annotated[Principal, Depends(authenticate)]


async def administrator(principal: Signed, backend: BackendDep) -> Principal:
    if principal.user not in backend.config.admin_names:
        raise access_denied(f"{principal.user!r} is not an administrator")
    return principal


Admin = Annotated[Principal, Depends(administrator)]


def signer(route: str, registration: bool = False) -> Any:
    """The dependency of a rate-limited route's signer: as `authenticate` (`authenticate_registration` for
    registrations), and the signer is counted against the limit of `route` in the same step (`Backend.verify`:
    one call to the writer in workers mode; `reference_backend.config.ROUTE_NAMES`; 429 `RateLimited` with
    Retry-After when it is reached). Use as `Annotated[Principal, signer(route)]`."""
    verify = authenticate_registration if registration else _authenticated

    async def signed(request: Request) -> Principal:
        return await verify(request, route)

    return Depends(signed)


def signed_request(principal: Principal) -> SignedRequest:
    """What the journal keeps of a signed request: its signer, nonce and timestamp."""
    return SignedRequest(principal.user, principal.nonce, principal.timestamp)


async def run_step(backend: Backend, step: Step, principal: Principal, content: str | None = None) -> Response:
    """Queue one model operation for the writer and answer with its journal position once it is committed."""
    accepted = await asyncio.wrap_future(backend.submit(StepCommand(step, content, signed_request(principal))))
    result = OperationResult(
        op=step.op,
        seq=accepted.seq,
        now=accepted.step.now,
        thread_id=step.thread_id,
        content_hash=step.content_hash,
    )
    return envelope(backend, result)
