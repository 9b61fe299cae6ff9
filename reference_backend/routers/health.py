"""`GET /v1/health`: liveness and the journal and index positions (the only unsigned route)."""

from fastapi import APIRouter
from starlette.responses import Response

from reference_backend.envelope import envelope
from reference_backend.openapi import responses
from reference_backend.routers.deps import BackendDep
from reference_backend.schemas import Health

router = APIRouter(tags=["service"])


@router.get("/v1/health", responses=responses(Health, ()), response_model=None)
async def health(backend: BackendDep) -> Response:
    """Liveness and the journal and index positions (unsigned)."""
    status = "failed" if backend.failed else "degraded" if backend.degraded else "ok"
    answer = Health(
        status=status,
        reason=backend.failed or backend.degraded,
        journal_seq=backend.journal_seq,
        indexed_seq=backend.indexed_seq,
    )
    return envelope(backend, answer)
