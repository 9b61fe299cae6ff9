"""HTTP errors of the API: the one table of statuses, and the classes every error response is built from.

SPEC section 10 fixes the classes: 400 validation, 401 authentication, 403 access denied, 404 unknown, 409 state
conflict, 413 too large, 429 rate limited. Each `choir_model` error lands in exactly one class, chosen by what the
caller can do about it: a request that is wrong whatever the state (a bad thread id, a zero amount, a stake under
the minimum) is 400; a caller who lacks the right (not a co-author, not a voter, not enough treasury signatures)
is 403; a thread or message that does not exist is 404; everything that depends on the current state (funds,
windows, cooldowns, capacity, duplicates, votes already cast) is 409. The error body always carries the SPEC
name in `code` and the program's error code, so clients and the property suite compare names, not statuses.

The API's own errors (validation, signatures, storage, the chain in front of the model) have names too, and their
statuses live in the same table: an `ApiError` is made from a name and looks its status up, and a SPEC error is
always made from the model's own error class (`ApiError.of`), which carries its program code, so no status or
program code is ever written twice.
"""

from __future__ import annotations

from choir_model.errors import ERRORS_BY_NAME, ChoirError, ContentTooLarge, UnknownThread

STATUS_OF: dict[str, int] = {
    # SPEC section 7 errors (`choir_model.errors`), by SPEC section 10's classes
    "InvalidThreadId": 400,
    "InvalidAmount": 400,
    "StakeTooLow": 400,
    "NotCoAuthor": 403,
    "NotAVoter": 403,
    "Unauthorized": 403,
    "UnknownThread": 404,
    "UnknownMessage": 404,
    "ThreadExists": 409,
    "AlreadyCoAuthor": 409,
    "DuplicateContent": 409,
    "InsufficientFunds": 409,
    "ThreadFull": 409,
    "StateConflict": 409,
    "ApprovalTimeout": 409,
    "AlreadyVoted": 409,
    "BelowMinimumBalance": 409,
    "CooldownActive": 409,
    "InvalidTime": 409,
    "TemperatureError": 409,
    "ContentTooLarge": 413,
    # the API's own
    "ValidationError": 400,  # malformed JSON, wrong types, unknown fields, invalid Unicode
    "AuthError": 401,  # unsigned, stale, replayed or forged, or an unknown user
    "AccessDenied": 403,  # an admin route for a non-admin
    "NotFound": 404,  # no such route (or a test-server route on a real clock)
    "UnknownUser": 404,
    "NoChain": 404,  # /v1/consistency on a server without a chain
    "MethodNotAllowed": 405,
    "NameReserved": 409,  # a treasury authority's name
    "NameTaken": 409,  # registered with another key
    "ChainRejected": 409,  # the program refused what the model accepts
    "ChainPersistent": 409,  # a reset world in front of a deployed program
    "RateLimited": 429,
    "InternalError": 500,
    "ChainUnavailable": 502,  # the validator does not answer
    "StorageUnavailable": 503,  # the journal cannot be written: nothing changed
    "NotReady": 503,  # signed at or before a restart's replay floor: sign again
}
assert set(ERRORS_BY_NAME) <= set(STATUS_OF), "every SPEC error needs a status"

ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 429)
"""Every error status a `/v1` route can answer (besides 503 while storage is failing; see `StorageFailed`)."""

HTTP_ERRORS = {400: "ValidationError", 404: "NotFound", 405: "MethodNotAllowed"}
"""The names of the errors the HTTP framework raises itself (400: a body it cannot parse, nested too deeply)."""


class ApiError(Exception):
    """An error response: a code (SPEC name or one of the API's own) with its status from `STATUS_OF`, a message,
    and optional extras."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        self.status = STATUS_OF[code] if status is None else status
        super().__init__(f"{self.status} {code}: {message}")
        self.code = code
        self.message = message
        self.program_code: int | None = None
        self.field = field
        self.retry_after = retry_after
        self.headers = headers or {}

    @classmethod
    def of(cls, error: ChoirError, field: str | None = None) -> ApiError:
        """The response for a model (or backend) guard failure: its SPEC name, status and program code."""
        api = cls(error.name, error.detail or error.name, field=field)
        api.program_code = error.code
        return api


class StorageFailed(ApiError):
    """The journal could not be written (or the state could not be rebuilt from it): nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__("StorageUnavailable", message)


def validation_error(message: str, field: str | None = None) -> ApiError:
    return ApiError("ValidationError", message, field=field)


def unknown_thread(thread_id: str) -> ApiError:
    return ApiError.of(UnknownThread(f"thread {thread_id!r} does not exist"))


def too_large(message: str, field: str | None = None) -> ApiError:
    return ApiError.of(ContentTooLarge(message), field=field)


def http_error(status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
    """An error the HTTP framework raised (unknown route, method, unparsable body) in the API's terms."""
    return ApiError(HTTP_ERRORS.get(status, "HTTPError"), message, headers=headers, status=status)


def auth_error(reason: str, retry_after: int | None = None) -> ApiError:
    """401 `AuthError`; or, for a request signed at or before a restart's replay floor (`retry_after` given),
    503 `NotReady`: nothing is wrong with the signature, the client signs again and retries."""
    if retry_after is not None:
        return ApiError("NotReady", reason, retry_after=retry_after, headers={"Retry-After": str(retry_after)})
    return ApiError("AuthError", reason, headers={"WWW-Authenticate": 'Choir-Ed25519 realm="choir"'})


def access_denied(message: str) -> ApiError:
    return ApiError("AccessDenied", message)


def rate_limited(route: str, retry_after: int) -> ApiError:
    return ApiError(
        "RateLimited",
        f"rate limit for {route} reached; retry after {retry_after} s",
        retry_after=retry_after,
        headers={"Retry-After": str(retry_after)},
    )
