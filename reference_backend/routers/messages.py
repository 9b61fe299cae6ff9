"""Message routes: submit a message or a spec, ask for publication, vote, and expire a window that has passed."""

from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

from choir_model import Privacy
from choir_model.steps import Expire, ProcessApproval, RequestPublic, Step, SubmitMessage, SubmitSpec
from reference_backend.auth import Principal
from reference_backend.content import content_hash
from reference_backend.errors import too_large
from reference_backend.openapi import responses
from reference_backend.routers.deps import BackendDep, run_step, signer
from reference_backend.schemas import ApproveRequest, MessageRef, OperationResult, SubmitMessageRequest

router = APIRouter(tags=["messages"])


@router.post("/v1/message/submit", responses=responses(OperationResult), response_model=None)
async def submit_message(
    body: SubmitMessageRequest, principal: Annotated[Principal, signer("submit_message")], backend: BackendDep
) -> Response:
    """A co-author's message (Private), or with `stake` an outsider's spec (Pending, stake escrowed). The content
    hash is the sha256 of `content`."""
    size = len(body.content.encode("utf-8"))
    limit = backend.config.max_content_bytes
    if size > limit:
        raise too_large(f"content is {size} bytes, the limit is {limit}", field="content")
    digest = content_hash(body.content)
    privacy = Privacy(body.privacy)
    step: Step
    if body.stake is None:
        step = SubmitMessage(principal.user, 0, body.thread_id, digest, privacy)
    else:
        step = SubmitSpec(principal.user, 0, body.thread_id, digest, body.stake, privacy)
    return await run_step(backend, step, principal, body.content)


@router.post("/v1/message/request-public", responses=responses(OperationResult), response_model=None)
async def request_public(
    body: MessageRef, principal: Annotated[Principal, signer("request_public")], backend: BackendDep
) -> Response:
    """The author asks the other co-authors to make a Private message public (no stake)."""
    step = RequestPublic(principal.user, 0, body.thread_id, body.content_hash.lower())
    return await run_step(backend, step, principal)


@router.post("/v1/spec/approve", responses=responses(OperationResult), response_model=None)
async def approve(
    body: ApproveRequest, principal: Annotated[Principal, signer("approve")], backend: BackendDep
) -> Response:
    """A co-author's vote on a Pending message; the last vote settles it."""
    step = ProcessApproval(principal.user, 0, body.thread_id, body.content_hash.lower(), body.approve)
    return await run_step(backend, step, principal)


@router.post("/v1/message/expire", responses=responses(OperationResult), response_model=None)
async def expire(body: MessageRef, principal: Annotated[Principal, signer("expire")], backend: BackendDep) -> Response:
    """Close an approval window that has passed (anyone may); the stake goes to the treasury."""
    return await run_step(backend, Expire(principal.user, 0, body.thread_id, body.content_hash.lower()), principal)
