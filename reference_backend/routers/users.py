"""`POST /v1/user/register`: bind a name to an ed25519 public key."""

import asyncio
from typing import Annotated

from fastapi import APIRouter
from starlette.responses import Response

from reference_backend.auth import Principal
from reference_backend.commands import RegisterCommand, UserRecord
from reference_backend.envelope import envelope
from reference_backend.errors import validation_error
from reference_backend.openapi import responses
from reference_backend.routers.deps import BackendDep, signed_request, signer
from reference_backend.schemas import RegisteredUser, RegisterRequest

router = APIRouter(tags=["users"])


def registered(record: UserRecord) -> RegisteredUser:
    return RegisteredUser(name=record.name, public_key=record.public_key, premium=record.premium)


@router.post("/v1/user/register", responses=responses(RegisteredUser), response_model=None)
async def register(
    body: RegisterRequest, principal: Annotated[Principal, signer("register", registration=True)], backend: BackendDep
) -> Response:
    """Bind `name` to `public_key`. Signed with that key as `X-Choir-User: name`; idempotent for the same key."""
    if principal.user != body.name:
        raise validation_error("X-Choir-User must be the name being registered", field="name")
    command = RegisterCommand(body.name, body.public_key, signed_request(principal))
    return envelope(backend, registered(await asyncio.wrap_future(backend.submit(command))))
