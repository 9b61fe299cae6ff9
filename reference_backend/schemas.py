"""Request and response models of the `/v1` API (SPEC section 10): the OpenAPI document is generated from these.

Requests are strict: unknown fields are refused and nothing is coerced (`false` is not an integer, `"5"` is not an
amount). They check shape only (types, u64 ranges, hash spelling); every rule of Choir is the model's to judge, so
an empty thread id or a zero stake reaches `choir_model` and comes back with the model's own error name, exactly as
the property suite expects. Every response, success or error, is an `Envelope`.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from choir_model.params import U64_MAX

I64_MIN, I64_MAX = -(2**63), 2**63 - 1


def unicode_text(text: str) -> str:
    """Refuse text that is not Unicode: a lone surrogate (JSON's `"\\ud800"`) has no UTF-8 form, so it could be
    neither hashed nor stored, nor be a thread id the program's PDA seeds can hold. Refused here, as a 400
    `ValidationError`, it never reaches the writer."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(f"not valid Unicode: a lone surrogate at position {error.start}") from None
    return text


Text = Annotated[str, AfterValidator(unicode_text)]
"""A string of valid Unicode (every free-text request field)."""

U64 = Annotated[int, Field(ge=0, le=U64_MAX, description="Base units, an unsigned 64-bit integer.")]
I64 = Annotated[int, Field(ge=I64_MIN, le=I64_MAX)]
Hash = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$", description="sha256 of the message text, 64 hex digits.")]
Name = Annotated[Text, Field(min_length=1, max_length=128, description="A user name.")]
PrivacyName = Literal["public", "premium", "thread_only"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# -- requests ----------------------------------------------------------------------------------------------------


class RegisterRequest(Strict):
    """Bind a name to an ed25519 public key; the request must be signed by that key."""

    name: Name
    public_key: Annotated[
        str,
        Field(
            min_length=32,
            max_length=44,
            pattern=r"^[1-9A-HJ-NP-Za-km-z]+$",
            description="base58 ed25519 public key. A string that is not a point of the curve cannot sign: 401.",
        ),
    ]


class FundRequest(Strict):
    """Treasury -> wallet. The treasury authorities approve by co-signing (`X-Choir-Cosign`)."""

    recipient: Name
    amount: U64


class CreateThreadRequest(Strict):
    thread_id: Text
    deposit: U64


class SubmitMessageRequest(Strict):
    """A co-author's message (no `stake`: the model's submit_message) or an outsider's spec (`stake` given: the
    model's submit_spec). The server stores `content` and uses its sha256 as the content hash."""

    thread_id: Text
    content: Text
    privacy: PrivacyName = "public"
    stake: U64 | None = None


class MessageRef(Strict):
    thread_id: Text
    content_hash: Hash


class ApproveRequest(Strict):
    """A co-author's vote on a pending message (the model's process_approval)."""

    thread_id: Text
    content_hash: Hash
    approve: bool


class DivestRequest(Strict):
    thread_id: Text
    amount: U64


class PremiumRequest(Strict):
    name: Name
    premium: bool


class ClockRequest(Strict):
    now: I64


# -- responses ---------------------------------------------------------------------------------------------------


class ErrorInfo(BaseModel):
    code: str = Field(description="A SPEC error name (StakeTooLow, ...) or ValidationError, AuthError, ...")
    message: str
    program_code: int | None = Field(None, description="The on-chain custom error code, for SPEC errors.")
    field: str | None = Field(None, description="The offending request field, for validation errors.")
    retry_after: int | None = Field(None, description="Seconds to wait, for 429.")


class Metadata(BaseModel):
    api_version: Literal["v1"] = "v1"
    request_id: str
    server_time: int


T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    """Every response: `data` on success, `error` on failure, `metadata` always."""

    data: T | None = None
    error: ErrorInfo | None = None
    metadata: Metadata


class RegisteredUser(BaseModel):
    name: str
    public_key: str
    premium: bool


class OperationResult(BaseModel):
    """An accepted operation: its place in the journal and what it addressed."""

    op: str
    seq: int = Field(description="Journal sequence number; the operation is durable when this is returned.")
    now: int
    thread_id: str | None = None
    content_hash: str | None = None


class MessageView(BaseModel):
    """One message as the viewer may see it (`choir_model.privacy.view_of`). A summary view carries no hash, no
    author and no text; stake and deadline go to co-authors and the message's author, votes to co-authors."""

    view: Literal["full", "detailed_summary", "limited_summary", "minimal_summary"]
    state: str
    privacy: PrivacyName
    created_at: int
    content_hash: str | None = None
    author: str | None = None
    is_spec: bool | None = None
    content: str | None = None
    summary: str | None = None
    can_cite: bool
    stake: int | None = None
    deadline: int | None = None
    votes: dict[str, bool] | None = None


class ThreadView(BaseModel):
    """A thread: public metadata for everyone, private metadata (co-authors, balance, hashes, temperature) for
    co-authors only (`choir_model.privacy.visible_metadata`)."""

    thread_id: str
    role: Literal["co_author", "premium", "public"]
    created_at: int
    updated_at: int
    message_count: int
    co_authors: list[str] | None = None
    balance: int | None = None
    temperature: float | None = None
    frequency: float | None = None
    content_hashes: list[str] | None = None
    messages: list[MessageView]


class StakeQuote(BaseModel):
    """What a would-be spec author is shown before staking (seeds' submission flow: `recommended_stake =
    calculate_stake_requirement(thread)`): the formula's advice, the enforced minimum, and whether the thread can
    take a spec from this viewer now. Only a co-author is quoted from the thread's balance and co-authors; anyone
    else from its public metadata (`reference_backend.disclosure`), so no quote inverts to a private balance."""

    thread_id: str
    recommended_stake: int = Field(description="The stake formula's recommendation now, base units (advisory).")
    basis: Literal["thread", "public"] = Field(
        description="thread: computed from the thread's balance and co-authors (for its co-authors); public: from "
        "its public metadata only (one co-author holding the minimum balance, at the thread's age)."
    )
    min_stake: int = Field(description="The smallest stake the rules accept, base units.")
    open: bool = Field(
        description="The viewer is not a co-author, has no pending spec here, and the thread has a free seat and "
        "room for one more pending message (what a spec needs to be accepted now)."
    )


class SearchHit(BaseModel):
    thread_id: str
    content_hash: str
    author: str
    state: str
    privacy: PrivacyName
    score: float
    snippet: str


class SearchResults(BaseModel):
    query: str
    count: int = Field(description="Number of hits returned; only hits the viewer may search are counted.")
    indexed_seq: int = Field(
        description="The journal position the search index has reached: writes with a higher `seq` may not be "
        "found yet (search is eventually consistent, usually by milliseconds)."
    )
    results: list[SearchHit]


class Wallet(BaseModel):
    user: str
    balance: int


class ThreadSnapshot(BaseModel):
    balance: int
    co_authors: list[str]
    created_at: int
    updated_at: int
    message_count: int
    temperature: float
    frequency: float


class MessageSnapshot(BaseModel):
    state: str
    author: str
    stake: int
    deadline: int | None
    votes: dict[str, bool]


class Snapshot(BaseModel):
    """The SPEC section 8 snapshot of the whole state (admins only)."""

    treasury: int
    wallets: dict[str, int]
    threads: dict[str, ThreadSnapshot]
    messages: dict[str, MessageSnapshot]


class ClockData(BaseModel):
    now: int


class Health(BaseModel):
    """`ok`; `degraded` while journal writes fail (a full disk: `reason` says so; reads still work); `failed` when
    the journal cannot even be read back (every write refused until a restart)."""

    status: Literal["ok", "degraded", "failed"]
    reason: str | None = None
    journal_seq: int
    indexed_seq: int


def envelope_schema(data: type[Any] | None) -> type[BaseModel]:
    """The envelope model for a data type (None: the error envelope, whose data is always null)."""
    return Envelope[data] if data is not None else Envelope[None]  # type: ignore[valid-type]
