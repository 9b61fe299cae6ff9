"""The OpenAPI document, made true: every operation lists each status it can answer with the envelope schema of
that answer (so schemathesis can hold the server to it), no 422 (validation is 400 here), the signing headers as
security schemes, Retry-After on 429, WWW-Authenticate on 401."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from reference_backend.schemas import Envelope

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
SIGNATURE_HEADERS = {
    "ChoirUser": "X-Choir-User",
    "ChoirTimestamp": "X-Choir-Timestamp",
    "ChoirNonce": "X-Choir-Nonce",
    "ChoirSignature": "X-Choir-Signature",
}


def responses(data: type[BaseModel] | None, errors: tuple[int, ...] = SIGNED_ERRORS) -> dict[int | str, Any]:
    """A route's documented answers: `data` in the envelope on 200, and the error envelope on each status."""
    out: dict[int | str, Any] = {}
    if data is not None:
        out[200] = {"model": Envelope[data], "description": "Success: `data` holds the result."}  # type: ignore[valid-type]
    for status in errors:
        out[status] = {"model": Envelope[None], "description": ERROR_DESCRIPTIONS[status]}
    return out


def document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document for `app` with the corrections above (built once, then cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {
        name: {"type": "apiKey", "in": "header", "name": header, "description": "See reference_backend.auth."}
        for name, header in SIGNATURE_HEADERS.items()
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
                operation["security"] = [{name: [] for name in SIGNATURE_HEADERS}]
    schemas = components.get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    app.openapi_schema = schema
    return schema
