"""Names to keys (SPEC section 8) and the Choir PDAs (SPEC section 9).

A trace names its actors; on chain each name is the keypair seeded by sha256(name), so every tool that replays
a trace signs as the same keys. PDAs are derived from the IDL's program id: `config`, `treasury`,
`member` + user, `thread` + thread id, `message` + thread + content hash. Derivations are cached: finding a bump
costs tens of microseconds and a driver asks for the same addresses over and over; every world of a campaign starts
a new driver for the same program, so the cache is shared by every `Pdas` of one program id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache

from solders.keypair import Keypair
from solders.pubkey import Pubkey

MAX_SEED_LEN = 32


@lru_cache(maxsize=4096)
def keypair_for(name: str) -> Keypair:
    """The keypair of a trace actor: ed25519 seed = sha256(utf-8 name)."""
    return Keypair.from_seed(hashlib.sha256(name.encode("utf-8")).digest())


PROGRAM_KEYPAIR_SEED = hashlib.sha256(b"choir-toolkit program id").digest()


def program_keypair() -> Keypair:
    """The keypair behind the IDL's default program id. Its seed is public: fine for local test validators, never
    for a public cluster, where you deploy under your own program id and pass it with --program-id."""
    return Keypair.from_seed(PROGRAM_KEYPAIR_SEED)


@lru_cache(maxsize=64)
def _finder(program_id: Pubkey) -> Callable[[tuple[bytes, ...]], tuple[Pubkey, int]]:
    """The cached PDA search of one program id (the last 64 ids: attacks deploy fresh copies of the program)."""

    @lru_cache(maxsize=65536)
    def find(seeds: tuple[bytes, ...]) -> tuple[Pubkey, int]:
        return Pubkey.find_program_address(list(seeds), program_id)

    return find


class Pdas:
    """The program's addresses and their canonical bumps for one program id."""

    def __init__(self, program_id: Pubkey) -> None:
        self.program_id = program_id
        self._find = _finder(program_id)
        # A fixed address with no account: what a client passes for a thread id too long to be a PDA seed, so
        # the program can answer InvalidThreadId / UnknownThread instead of the client failing.
        self.nowhere = Pubkey.from_bytes(hashlib.sha256(b"choir-toolkit: no such account").digest())

    def config(self) -> tuple[Pubkey, int]:
        return self._find((b"config",))

    def treasury(self) -> tuple[Pubkey, int]:
        return self._find((b"treasury",))

    def member(self, user: Pubkey) -> tuple[Pubkey, int]:
        return self._find((b"member", bytes(user)))

    def thread(self, thread_id: str) -> tuple[Pubkey, int]:
        """The thread's PDA, or (`nowhere`, 0) when the id cannot be a seed (over 32 bytes)."""
        raw = thread_id.encode("utf-8")
        if len(raw) > MAX_SEED_LEN:
            return self.nowhere, 0
        return self._find((b"thread", raw))

    def message(self, thread: Pubkey, content_hash: bytes) -> tuple[Pubkey, int]:
        return self._find((b"message", bytes(thread), bytes(content_hash)))
