"""Program accounts -> model objects (SPEC sections 2 and 9): the bytes the program stores, decoded through the
IDL, become the `choir_model.state` objects the snapshot renderer reads, so a program's state and the model's are
compared by the same code.

Why apart from the driver: decoding is pure (bytes and a key -> name map in, objects out); the driver caches,
attack oracles and tools that read a deployment all need it without sending anything.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from solders.pubkey import Pubkey

from choir_model.state import ChoirState, Message, MessageState, Thread
from programs.client.coder import IdlCoder
from programs.instructions import PRIVACY_VARIANT

VOTE_APPROVE = "Approve"
_STATES = {state.value: state for state in MessageState}
_PRIVACY = {variant: privacy for privacy, variant in PRIVACY_VARIANT.items()}

Names = Callable[[Pubkey], str]
Decoded = tuple[str, Any]  # (account type, model object)


class DecodeError(RuntimeError):
    """The accounts do not form a Choir state (a message of no known thread): a bug, not a Choir outcome."""


def decode_account(coder: IdlCoder, data: bytes, name: Names) -> tuple[dict[str, Any], Decoded] | None:
    """One account's raw fields and its model object, or None when the bytes are no Choir account."""
    if coder.account_name(data) is None:
        return None
    kind, value = coder.decode_account(data)
    return value, (kind, to_model(kind, value, name))


def to_model(kind: str, value: dict[str, Any], name: Names) -> Any:
    """One decoded account as the model object the snapshot needs: the treasury's balance, a wallet as
    (owner, balance), a `Thread`, a message as (thread key, `Message`), the config as its fields."""
    if kind == "Treasury":
        return value["balance"]
    if kind == "Member":
        return name(value["owner"]), value["balance"]
    if kind == "Thread":
        return _thread(value, name)
    if kind == "Message":
        return value["thread"], _message(value, name)
    return value


def _thread(value: dict[str, Any], name: Names) -> Thread:
    n = value["co_author_count"]
    co_authors = value["co_authors"][:n]
    thread = Thread(
        _thread_id(bytes(value["thread_id"]), value["thread_id_len"]),
        [name(k) for k in co_authors],
        value["balance"],
        value["created_at"],
        value["updated_at"],
        value["message_count"],
    )
    divested = value["divested"]  # bit i set: co_authors[i] has divested, last at last_divest[i] (state.h)
    thread.last_divest = {name(k): value["last_divest"][i] for i, k in enumerate(co_authors) if divested >> i & 1}
    thread.pending = value["pending"]
    thread.pending_spec_authors = {name(k) for k in value["spec_authors"][: value["spec_author_count"]]}
    return thread


def _thread_id(stored: bytes, length: int) -> str:
    """The thread id a thread account stores: its first `length` bytes. The account is created zeroed and only the
    id is written there, so a byte past the stored length that is not zero is a program writing where it should not,
    or storing a length short of the id: the id is then read as the whole field, zero bytes included (not the id
    the thread was created with unless that id fills all 32 bytes), so the comparison reports the difference
    instead of hiding those bytes or the wrong length."""
    if any(stored[length:]):
        return stored.decode("utf-8", "backslashreplace")
    return stored[:length].decode("utf-8")


def _message(value: dict[str, Any], name: Names) -> Message:
    n = value["voter_count"]
    voters = tuple(name(k) for k in value["voters"][:n])
    votes = {
        voter: vote == VOTE_APPROVE for voter, vote in zip(voters, value["votes"][:n], strict=True) if vote != "None"
    }
    return Message(
        value["content_hash"].hex(),
        name(value["author"]),
        _STATES[value["state"]],
        _PRIVACY[value["privacy"]],
        value["created_at"],
        value["is_spec"],
        value["stake"],
        value["deadline"] if value["has_deadline"] else None,
        voters,
        votes,
    )


def assemble(objects: Iterable[tuple[Pubkey, Decoded]]) -> ChoirState:
    """A model state from decoded accounts (the fields the snapshot schema reads); threads are fresh copies, so
    the caller's cached objects are never changed."""
    state = ChoirState(treasury=0)
    threads_by_key: dict[Pubkey, Thread] = {}
    messages = []
    for key, (kind, obj) in objects:
        if kind == "Treasury":
            state.treasury = obj
        elif kind == "Member":
            state.wallets[obj[0]] = obj[1]
        elif kind == "Thread":
            thread = copy.copy(obj)
            thread.messages = {}
            threads_by_key[key] = thread
            state.threads[thread.thread_id] = thread
        elif kind == "Message":
            messages.append(obj)
    for thread_key, message in messages:
        thread = threads_by_key.get(thread_key)
        if thread is None:
            raise DecodeError(f"message {message.content_hash} belongs to no known thread")
        thread.messages[message.content_hash] = message
    return state
