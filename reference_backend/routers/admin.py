"""Administrators' routes (`Admin`: a signer among `BackendConfig.admin_names`): the chain's consistency, cache
counters, the whole snapshot, premium status; and on test servers (a manual clock) the clock and a world reset."""

import asyncio

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from reference_backend.cache import CacheReport
from reference_backend.chain import Consistency
from reference_backend.commands import PremiumCommand
from reference_backend.envelope import envelope
from reference_backend.errors import ApiError
from reference_backend.openapi import responses
from reference_backend.routers.deps import Admin, BackendDep, CacheDep, signed_request
from reference_backend.routers.users import registered
from reference_backend.schemas import ClockData, ClockRequest, Health, PremiumRequest, RegisteredUser, Snapshot

router = APIRouter(tags=["admin"])
test_router = APIRouter(tags=["admin"])
"""Routes of servers started with a manual clock only (tests and differential runs)."""


@router.get("/v1/consistency", responses=responses(Consistency), response_model=None)
async def consistency(principal: Admin, backend: BackendDep) -> Response:
    """Compare the model's state with the Choir program's accounts (servers started with --chain; admins)."""
    if backend.chain is None:
        raise ApiError("NoChain", "this server runs without a chain (it was started with --chain none)")
    return envelope(backend, await run_in_threadpool(backend.chain.check, backend))


@router.get("/v1/admin/cache", responses=responses(CacheReport), response_model=None)
async def cache_report(principal: Admin, backend: BackendDep, cache: CacheDep) -> Response:
    """Response-cache counters: hits, misses and hit ratio per kind, expiries, invalidations."""
    return envelope(backend, cache.report())


@router.get("/v1/admin/snapshot", responses=responses(Snapshot), response_model=None)
async def snapshot(principal: Admin, backend: BackendDep) -> Response:
    """The SPEC section 8 snapshot of the whole state (administrators only)."""
    return envelope(backend, Snapshot.model_validate(await run_in_threadpool(backend.snapshot)))


@router.post("/v1/admin/premium", responses=responses(RegisteredUser), response_model=None)
async def premium(body: PremiumRequest, principal: Admin, backend: BackendDep) -> Response:
    """Grant or revoke a registered user's premium status."""
    command = PremiumCommand(body.name, body.premium, signed_request(principal))
    return envelope(backend, registered(await asyncio.wrap_future(backend.submit(command))))


@test_router.post("/v1/admin/clock", responses=responses(ClockData), response_model=None)
async def set_clock(body: ClockRequest, principal: Admin, backend: BackendDep) -> Response:
    """Set the server clock (servers started with a manual clock only: tests and differential runs)."""
    # On the thread pool: a worker process asks the writer's process (`reference_backend.workers`).
    return envelope(backend, ClockData(now=await run_in_threadpool(backend.set_clock, body.now)))


@test_router.post("/v1/admin/reset", responses=responses(Health), response_model=None)
async def reset(principal: Admin, backend: BackendDep) -> Response:
    """Forget every operation, message and index entry; users stay (manual-clock test servers only: the
    differential driver runs many short worlds on one server)."""
    await asyncio.wrap_future(backend.reset(signed_request(principal)))
    return envelope(backend, Health(status="ok", journal_seq=backend.journal_seq, indexed_seq=0))
