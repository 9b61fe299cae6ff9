"""`GET /v1/search`: messages the signer may search (`choir_model.privacy.can_search`), most relevant first."""

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.responses import Response

from reference_backend.auth import Principal
from reference_backend.envelope import cached_envelope
from reference_backend.openapi import responses
from reference_backend.routers.deps import BackendDep, CacheDep, signer
from reference_backend.schemas import SearchResults

router = APIRouter(tags=["search"])


@router.get("/v1/search", responses=responses(SearchResults), response_model=None)
async def search(
    principal: Annotated[Principal, signer("search")],
    backend: BackendDep,
    cache: CacheDep,
    q: Annotated[str, Query(min_length=1, max_length=1000, description="Free text.")],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    thread_id: Annotated[str | None, Query(description="Search inside one thread only.")] = None,
) -> Response:
    """Messages the signer may search, most similar first; nothing else is returned or counted."""
    found = await cache.search(principal.user, q, limit, thread_id)  # `Backend.search_async`: off the loop if slow
    return cached_envelope(backend, found)
