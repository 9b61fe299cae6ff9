"""Signed requests (SPEC section 10, seeds Impl_Security): every `/v1` call carries an ed25519 signature.

What is signed, byte for byte (`canonical_request`):

    CHOIR-REQUEST-V2\\n<user>\\n<METHOD>\\n<target>\\n<timestamp>\\n<nonce>\\n<sha256 hex of the body>

`user` is the sender's name percent-encoded exactly as `X-Choir-User` carries it (`quote(name, safe="")`, so it
holds no newline), `target` the path and query exactly as sent (percent-encoded), `timestamp` integer Unix seconds,
`nonce` 8 to 64 characters of `[A-Za-z0-9_-]` chosen fresh for every request. The headers are `X-Choir-User`,
`X-Choir-Timestamp`, `X-Choir-Nonce`, `X-Choir-Signature` (base58), and for a treasury `fund` any number of
co-signatures in `X-Choir-Cosign: name=signature, ...` (multisig, SPEC section 3), each over
`CHOIR-COSIGN-V1\\n` followed by the request's canonical bytes (`cosign_message`).

Why the sender is signed: the co-signatures of a `fund` authorise one request, and that request is named by its
sender, nonce and body. Without the sender in the bytes, anyone who saw a co-signed request could send the same
bytes under a name of their own (fresh nonce space) and spend the treasury's approval again; with it, a
co-signature verifies for one sender, one nonce, one method and path (the operation) and one body (recipient and
amount), and the nonce is spent at its first use. The cosign prefix keeps a co-signature from ever standing in
for a signature of the co-signer's own requests, and the other way round.

A request is refused with 401 when it is unsigned or malformed, stale (timestamp more than `max_skew` seconds from
the server clock, either way), from an unknown user, forged (signature does not verify) or replayed (the same user
and nonce seen before). The seeds ask for method, path, timestamp and body hash; the nonce is added so that two
identical requests in the same second (a retried vote, a trace that repeats a failing step) are distinguishable
from a replay. Nonces are remembered only after every signature verifies, so nobody can burn another user's nonce.

Replay across restarts (`ReplayGuard.floor`): every verified nonce is remembered in memory until its timestamp
can no longer pass the freshness check, whatever happens to the request afterwards (a read, a write, a refusal, a
WebSocket session). A restarted server forgets that memory, so it accepts only requests signed strictly after a
floor: the last second the previous run could have accepted a request at (with the system clock, the second this
run started, or the journal's last operation time if later; with a manual clock, the highest time it was ever
set to, persisted). A request signed at or before the floor is answered 503 `NotReady` with `Retry-After: 1`:
a client signs again with a fresh timestamp. The only requests a previous run accepted with a timestamp above the
floor are those signed ahead of its clock, so their nonces are persisted before they are answered
(`requests` table) and reloaded at start. Hence: a signed request is accepted at most once, across restarts,
provided the system clock does not step back across a restart.

Keys: users register their own public key (proof of possession: the registration is signed with it); treasury
authorities' keys come from the configuration. `dev_keypair(name)` is the SPEC section 8 development convention
(seed = sha256(name)) used by tests and the differential driver.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

PREFIX = b"CHOIR-REQUEST-V2"
COSIGN_PREFIX = b"CHOIR-COSIGN-V1"
USER, TIMESTAMP, NONCE, SIGNATURE, COSIGN = (
    "x-choir-user",
    "x-choir-timestamp",
    "x-choir-nonce",
    "x-choir-signature",
    "x-choir-cosign",
)
_NONCE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_TIMESTAMP = re.compile(r"-?[0-9]{1,19}")


class AuthFailure(Exception):
    """Why a request was refused (answered 401 `AuthError`, nothing changed)."""

    def __init__(self, reason: str, retry_after: int | None = None, unknown: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.unknown = unknown  # the signer or a co-signer has no key here


@dataclass(frozen=True, slots=True)
class Principal:
    """Who signed a request: the user, and for `fund` the verified co-signers in header order."""

    user: str
    timestamp: int
    nonce: str
    cosigners: tuple[str, ...] = ()


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_request(user: str, method: str, target: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """The exact bytes the sender's signature covers."""
    return b"\n".join(
        (PREFIX, quote(user, safe="").encode(), method.upper().encode(), target.encode(), str(timestamp).encode(),
         nonce.encode(), body_digest(body).encode())
    )  # fmt: skip


def cosign_message(request: bytes) -> bytes:
    """The bytes a co-signer signs to authorise the request whose canonical bytes are `request`."""
    return COSIGN_PREFIX + b"\n" + request


def dev_keypair(name: str) -> Keypair:
    """The development keypair of a name: seeded by sha256(name) (SPEC section 8). Public knowledge: never use it
    for a key that guards anything."""
    return Keypair.from_seed(hashlib.sha256(name.encode("utf-8")).digest())


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def sign_headers(
    method: str,
    target: str,
    body: bytes,
    user: str,
    keypair: Keypair,
    timestamp: int,
    cosigners: Sequence[tuple[str, Keypair]] = (),
    nonce: str | None = None,
) -> dict[str, str]:
    """The authentication headers of one request (what `reference_backend.client` sends)."""
    nonce = nonce or new_nonce()
    message = canonical_request(user, method, target, timestamp, nonce, body)
    headers = {
        USER: quote(user, safe=""),
        TIMESTAMP: str(timestamp),
        NONCE: nonce,
        SIGNATURE: str(keypair.sign_message(message)),
    }
    if cosigners:
        cosigned = cosign_message(message)
        headers[COSIGN] = ", ".join(f"{quote(name, safe='')}={kp.sign_message(cosigned)}" for name, kp in cosigners)
    return headers


def parse_public_key(text: str) -> Pubkey:
    """A base58 ed25519 public key, or ValueError."""
    try:
        key = Pubkey.from_string(text)
    except Exception as error:  # solders raises ValueError or its own ParseHashError depending on the input
        raise ValueError(f"not a base58 ed25519 public key: {error}") from None
    if not key.is_on_curve():
        raise ValueError("public key is not a point on the ed25519 curve")
    return key


def _verifies(signature_text: str, key: Pubkey, message: bytes) -> bool:
    try:
        signature = Signature.from_string(signature_text.strip())
    except Exception:
        return False
    return signature.verify(key, message)


class ReplayGuard:
    """Remembers (user, nonce) pairs until their timestamp can no longer pass the freshness check, and refuses
    timestamps at or before `floor` (see the module docstring: what a restart forgot)."""

    def __init__(self, max_skew: int) -> None:
        self.max_skew = max_skew
        self.floor: int | None = None
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._next_prune = 4096

    def remember(self, user: str, nonce: str, timestamp: int, now: int) -> bool:
        """Record a pair; False if it was already seen (a replay)."""
        key = (user, nonce)
        with self._lock:
            if key in self._seen:
                return False
            self._seen[key] = timestamp
            if len(self._seen) >= self._next_prune:
                horizon = now - 2 * self.max_skew
                self._seen = {k: ts for k, ts in self._seen.items() if ts >= horizon}
                self._next_prune = max(4096, 2 * len(self._seen))
            return True

    def open(self, floor: int | None, persisted: Iterable[tuple[str, str, int]]) -> None:
        """Start a run: refuse timestamps at or before `floor`, and remember the pairs persisted above it."""
        with self._lock:
            self.floor = floor
            for user, nonce, timestamp in persisted:
                self._seen[(user, nonce)] = timestamp


def verify_request(
    headers: Mapping[str, str],
    method: str,
    target: str,
    body: bytes,
    now: int,
    max_skew: int,
    key_of: Callable[[str], Pubkey | None],
    replay: ReplayGuard,
    own_key: Pubkey | None = None,
) -> Principal:
    """Check one request's signature(s); raise `AuthFailure` or return the principal.

    `own_key`, when given, is the key to verify the user's signature with instead of the registry (registration:
    the new key proves possession of itself)."""
    raw_user, raw_ts, nonce, signature = (headers.get(h) for h in (USER, TIMESTAMP, NONCE, SIGNATURE))
    if raw_user is None or raw_ts is None or nonce is None or signature is None:
        raise AuthFailure("unsigned: X-Choir-User, X-Choir-Timestamp, X-Choir-Nonce and X-Choir-Signature are required")
    user = unquote(raw_user)
    if not user:
        raise AuthFailure("malformed: empty user")
    if any("\ud800" <= ch <= "\udfff" for ch in user):
        raise AuthFailure("malformed: the user name is not valid Unicode")
    if not _TIMESTAMP.fullmatch(raw_ts):
        raise AuthFailure("malformed: X-Choir-Timestamp must be integer Unix seconds")
    if not _NONCE.fullmatch(nonce):
        raise AuthFailure("malformed: X-Choir-Nonce must be 8 to 64 characters of A-Z a-z 0-9 _ -")
    timestamp = int(raw_ts)
    if abs(now - timestamp) > max_skew:
        raise AuthFailure(f"stale: timestamp {timestamp} is more than {max_skew} s from the server time {now}")
    if replay.floor is not None and timestamp <= replay.floor:
        raise AuthFailure(
            f"signed at {timestamp}, at or before {replay.floor}, when this server (re)started: sign it again",
            retry_after=1,
        )
    key = own_key if own_key is not None else key_of(user)
    if key is None:
        raise AuthFailure(f"unknown user {user!r}: register a public key first", unknown=True)
    message = canonical_request(user, method, target, timestamp, nonce, body)
    if not _verifies(signature, key, message):
        raise AuthFailure("forged: the signature does not verify for this user, method, target, time and body")
    cosigners: list[str] = []
    cosign = headers.get(COSIGN)
    cosigned = cosign_message(message)
    if cosign:
        for part in cosign.split(","):
            name_text, sep, cosignature = part.strip().partition("=")
            name = unquote(name_text)
            co_key = key_of(name) if sep and name else None
            if co_key is None:
                raise AuthFailure(f"unknown co-signer {name!r}", unknown=bool(sep and name))
            if not _verifies(cosignature, co_key, cosigned):
                raise AuthFailure(f"forged: the co-signature of {name!r} does not verify")
            cosigners.append(name)
    if not replay.remember(user, nonce, timestamp, now):
        raise AuthFailure("replayed: this user already sent this nonce")
    return Principal(user, timestamp, nonce, tuple(cosigners))
