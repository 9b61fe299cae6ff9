"""Thread routes: create a thread, read it as the signer may see it, its stake quote, and the Chorus loop.

A thread id is one raw path segment, percent-encoded by the client and decoded once by the `thread_id` convertor
(`reference_backend.thread_path`, which registers it on import), so every id the model accepts is reachable and
`x%2Fstake` is thread `x/stake`, never the stake quote of thread `x`.
"""

from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

import reference_backend.thread_path  # noqa: F401  registers `{name:thread_id}` before the routes below compile
from choir_model.steps import CreateThread
from reference_backend.auth import Principal
from reference_backend.cache import THREAD_STATE
from reference_backend.chorus import ChorusRequest, ChorusResult, thread_exists
from reference_backend.envelope import cached_envelope, envelope
from reference_backend.errors import unknown_thread
from reference_backend.openapi import responses
from reference_backend.routers.deps import BackendDep, CacheDep, ChorusDep, run_step, signer
from reference_backend.schemas import CreateThreadRequest, OperationResult, StakeQuote, ThreadView

router = APIRouter(tags=["threads"])


@router.post("/v1/thread/create", responses=responses(OperationResult), response_model=None)
async def create_thread(
    body: CreateThreadRequest, principal: Annotated[Principal, signer("create_thread")], backend: BackendDep
) -> Response:
    """Create a thread with the signer as its first co-author and `deposit` moved from their wallet."""
    return await run_step(backend, CreateThread(principal.user, 0, body.thread_id, body.deposit), principal)


@router.get("/v1/thread/{thread_id:thread_id}/stake", responses=responses(StakeQuote), response_model=None)
async def stake_quote(
    thread_id: str, principal: Annotated[Principal, signer("read_thread")], backend: BackendDep
) -> Response:
    """The recommended stake for a spec on this thread now, the minimum, and whether the signer could submit
    one (seeds: the stake shown before a spec is created)."""
    return envelope(backend, backend.stake_quote(principal.user, thread_id))


@router.get("/v1/thread/{thread_id:thread_id}", responses=responses(ThreadView), response_model=None)
async def read_thread(
    thread_id: str, principal: Annotated[Principal, signer("read_thread")], backend: BackendDep, cache: CacheDep
) -> Response:
    """A thread as the signer may see it: metadata by role, each message in full, as a summary, or not at all."""
    key, tags = cache.thread_key(principal.user, thread_id)
    found = cache.get(THREAD_STATE, key, tags, lambda: backend.thread_view(principal.user, thread_id))
    return cached_envelope(backend, found)


@router.post("/v1/thread/{thread_id:thread_id}/chorus", responses=responses(ChorusResult), response_model=None)
def chorus(  # a plain function: the loop searches, so it runs on the thread pool
    thread_id: str,
    body: ChorusRequest,
    principal: Annotated[Principal, signer("search")],
    backend: BackendDep,
    loop: ChorusDep,
) -> Response:
    """Run the Chorus loop (`reference_backend.chorus`) on the thread for the signer: a response whose
    citations are content the signer may cite, each with its content hash. Its experience phase searches
    content, so each run counts against the signer's search limit (seeds: 100 an hour)."""
    if not thread_exists(backend, thread_id):
        raise unknown_thread(thread_id)
    return envelope(backend, loop.run(principal.user, thread_id, body.prompt, body.max_cycles))
