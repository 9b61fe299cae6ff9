"""Token routes: treasury funding (multisig), a co-author's divestment, and the signer's wallet."""

from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

from choir_model.steps import Divest, Fund
from reference_backend.auth import Principal
from reference_backend.cache import USER_DATA
from reference_backend.envelope import cached_envelope
from reference_backend.openapi import responses
from reference_backend.routers.deps import BackendDep, CacheDep, run_step, signer
from reference_backend.schemas import DivestRequest, FundRequest, OperationResult, Wallet

router = APIRouter(tags=["tokens"])


@router.post("/v1/token/fund", responses=responses(OperationResult), response_model=None)
async def fund(body: FundRequest, principal: Annotated[Principal, signer("fund")], backend: BackendDep) -> Response:
    """Treasury -> `recipient`'s wallet; the treasury authorities sign in `X-Choir-Cosign` (multisig)."""
    return await run_step(backend, Fund(body.recipient, 0, body.amount, principal.cosigners), principal)


@router.post("/v1/token/divest", responses=responses(OperationResult), response_model=None)
async def divest(
    body: DivestRequest, principal: Annotated[Principal, signer("divest")], backend: BackendDep
) -> Response:
    """A co-author withdraws up to their share of the balance above the minimum, once per cooldown."""
    return await run_step(backend, Divest(principal.user, 0, body.thread_id, body.amount), principal)


@router.get("/v1/wallet", responses=responses(Wallet), response_model=None)
async def wallet(principal: Annotated[Principal, signer("wallet")], backend: BackendDep, cache: CacheDep) -> Response:
    """The signer's own wallet balance."""
    key, tags = cache.wallet_key(principal.user)
    found = cache.get(USER_DATA, key, tags, lambda: backend.wallet(principal.user))
    return cached_envelope(backend, found, lambda balance: Wallet(user=principal.user, balance=balance))
