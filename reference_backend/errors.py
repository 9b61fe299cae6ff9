"""HTTP errors of the API and how each SPEC error name maps to a status (SPEC section 10).

SPEC section 10 fixes the classes: 400 validation, 401 authentication, 403 access denied, 404 unknown, 409 state
conflict, 413 too large, 429 rate limited. Each `choir_model` error lands in exactly one class, chosen by what the
caller can do about it: a request that is wrong whatever the state (a bad thread id, a zero amount, a stake under
the minimum) is 400; a caller who lacks the right (not a co-author, not a voter, not enough treasury signatures)
is 403; a thread or message that does not exist is 404; everything that depends on the current state (funds,
windows, cooldowns, capacity, duplicates, votes already cast) is 409. The error body always carries the SPEC
name in `code` and the program's error code, so clients and the property suite compare names, not statuses.
"""

from __future__ import annotations

from choir_model import ERRORS_BY_NAME, ChoirError

STATUS_OF: dict[str, int] = {
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
}
assert set(STATUS_OF) == set(ERRORS_BY_NAME), "every SPEC error needs a status"

ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 429)
"""Every error status a `/v1` route can answer (besides 503 while storage is failing; see `StorageFailed`)."""


class ApiError(Exception):
    """An error response: status, a code (SPEC name or one of the API's own), a message, and optional extras."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        program_code: int | None = None,
        field: str | None = None,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.program_code = program_code
        self.field = field
        self.retry_after = retry_after
        self.headers = headers or {}

    @classmethod
    def of(cls, error: ChoirError) -> ApiError:
        """The response for a model (or backend) guard failure."""
        return cls(STATUS_OF[error.name], error.name, error.detail or error.name, program_code=error.code)


def auth_error(reason: str, retry_after: int | None = None) -> ApiError:
    """401 `AuthError`; or, for a request signed at or before a restart's replay floor (`retry_after` given),
    503 `NotReady`: nothing is wrong with the signature, the client signs again and retries."""
    if retry_after is not None:
        return ApiError(503, "NotReady", reason, retry_after=retry_after, headers={"Retry-After": str(retry_after)})
    return ApiError(401, "AuthError", reason, headers={"WWW-Authenticate": 'Choir-Ed25519 realm="choir"'})


def access_denied(message: str) -> ApiError:
    return ApiError(403, "AccessDenied", message)


def rate_limited(route: str, retry_after: int) -> ApiError:
    return ApiError(
        429,
        "RateLimited",
        f"rate limit for {route} reached; retry after {retry_after} s",
        retry_after=retry_after,
        headers={"Retry-After": str(retry_after)},
    )
