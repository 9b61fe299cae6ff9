"""Program accounts -> model objects (SPEC sections 2 and 9): the bytes the program stores, read through the layout
the IDL declares, become the `choir_model.state` objects the snapshot renderer reads, so a program's state and the
model's are compared by the same code.

Why apart from the driver: decoding is pure (bytes and a key -> name map in, objects out); the driver caches,
attack oracles and tools that read a deployment all need it without sending anything.

Why not through the IDL coder's values: the lockstep check reads every account a step wrote, so reading one is on
every step's path. `Layouts` compiles each account type of the IDL into one `struct` format of its whole data,
so an account is one unpacking; keys stay their 32 bytes (named through a map by bytes, no `Pubkey` is built) and
arrays of keys one byte string, cut up only as far as their count says. Validation is the coder's: a bool is 0 or
1, an enum's tag names a variant (every slot of an array of them), the data is the type's size or longer (the
coder reads past the discriminator and ignores what follows the fields).
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Callable, Iterable
from typing import Any

from solders.pubkey import Pubkey

from choir_model.state import ChoirState, Message, MessageState, Thread
from programs.client.coder import CoderError, IdlCoder
from programs.instructions import PRIVACY_VARIANT

VOTE_APPROVE = "Approve"
_STATES = {state.value: state for state in MessageState}
_PRIVACY = {variant: privacy for privacy, variant in PRIVACY_VARIANT.items()}

Names = Callable[[bytes], str]  # a key's 32 bytes -> the actor's name (or the key in base58)
Decoded = tuple[str, Any]  # (account type, model object)
Convert = Callable[[tuple[Any, ...]], Any] | None  # a field's value from its items of the unpacked tuple


class DecodeError(RuntimeError):
    """The accounts do not form a Choir state (a message of no known thread): a bug, not a Choir outcome."""


class Layouts:
    """Every account type of an IDL (`IdlCoder`) as one `struct` format of its data after the discriminator, and
    where each field's value lies in the unpacked tuple. `read(data)` -> (type, {field: value}) or None when the
    bytes are no account of the IDL; values are the coder's, but for keys (32 bytes), arrays of keys (one byte
    string, 32 bytes a slot) and arrays of numbers (tuples). CoderError, as the coder raises it, when the bytes do
    not fit the type."""

    def __init__(self, coder: IdlCoder) -> None:
        self.coder = coder
        self._enum_arrays: dict[bytes, list[str]] = {}  # a message's vote slots repeat: each byte string once
        types = {t["name"]: t for t in coder.idl.get("types", [])}
        self._layouts = {
            discriminator: (name, *self._compile(types[name]["type"]["fields"]))
            for name, discriminator in coder.account_discriminators.items()
        }

    def _compile(
        self, fields: list[dict[str, Any]]
    ) -> tuple[struct.Struct, list[tuple[str, int]], list[tuple[str, int, int, Convert]]]:
        """The type's `struct`, its fields taken as one item of the tuple as they are (name, index), and the others
        (name, start, stop, how their value is made): `read` takes the first kind in one comprehension."""
        fmt, plain, converted, at = "<", [], [], 0
        for item in fields:
            part, count, convert = self._field(item["type"])
            fmt += part
            if convert is None:
                plain.append((item["name"], at))
            else:
                converted.append((item["name"], at, at + count, convert))
            at += count
        return struct.Struct(fmt), plain, converted

    def _field(self, idl_type: Any) -> tuple[str, int, Convert]:
        """A field's `struct` format, how many items of the tuple it takes and how its value is made of them."""
        codec = self.coder.codec(idl_type)
        if codec.fmt is not None:
            return codec.fmt, 1, None
        if idl_type == "bool":
            return "B", 1, _bool
        if idl_type == "pubkey":
            return "32s", 1, None
        if codec.variants is not None:
            return "B", 1, _variant(codec.variants)
        if isinstance(idl_type, dict) and "array" in idl_type:
            inner, n = idl_type["array"]
            element = self.coder.codec(inner)
            if element.fmt is not None and inner != "u8":
                return f"{n}{element.fmt}", n, tuple
            if element.variants is not None:
                return f"{n}s", 1, self._variant_array(element.variants)
            if inner == "u8":
                return f"{n}s", 1, None
            if inner == "pubkey":
                return f"{32 * n}s", 1, None
        raise CoderError(f"account field of type {idl_type!r} has no fixed layout")

    def _variant_array(self, variants: tuple[str, ...]) -> Callable[[tuple[bytes]], list[str]]:
        seen = self._enum_arrays

        def convert(items: tuple[bytes]) -> list[str]:
            raw = items[0]
            found = seen.get(raw)
            if found is None:
                if max(raw, default=0) >= len(variants):
                    raise CoderError("invalid enum tag in an array")
                if len(seen) > 4096:  # a bound for long-lived readers
                    seen.clear()
                found = seen[raw] = [variants[b] for b in raw]
            return found

        return convert

    def read(self, data: bytes) -> tuple[str, dict[str, Any]] | None:
        layout = self._layouts.get(bytes(data[:8]))
        if layout is None:
            return None
        kind, packer, plain, converted = layout
        try:
            items = packer.unpack_from(data, 8)
        except struct.error:
            raise CoderError("buffer too short") from None
        value = {field: items[at] for field, at in plain}
        for field, start, stop, convert in converted:
            value[field] = convert(items[start:stop])
        return kind, value


def _bool(items: tuple[int]) -> bool:
    if items[0] > 1:
        raise CoderError("invalid bool")
    return items[0] == 1


def _variant(variants: tuple[str, ...]) -> Callable[[tuple[int]], str]:
    def convert(items: tuple[int]) -> str:
        if items[0] >= len(variants):
            raise CoderError("invalid enum tag")
        return variants[items[0]]

    return convert


def decode_account(layouts: Layouts, data: bytes, name: Names) -> Decoded | None:
    """One account's model object, or None when the bytes are no Choir account."""
    read = layouts.read(data)
    if read is None:
        return None
    kind, value = read
    return kind, to_model(kind, value, name)


def to_model(kind: str, value: dict[str, Any], name: Names) -> Any:
    """One account's fields (`Layouts.read`) as the model object the snapshot needs: the treasury's balance, a
    wallet as (owner, balance), a `Thread`, a message as (thread key, `Message`), the config as its fields."""
    if kind == "Treasury":
        return value["balance"]
    if kind == "Member":
        return name(value["owner"]), value["balance"]
    if kind == "Thread":
        return _thread(value, name)
    if kind == "Message":
        return Pubkey.from_bytes(value["thread"]), _message(value, name)
    return value


def keys_of(raw: bytes, n: int = 32) -> list[bytes]:
    """The first `n` keys of an array of keys (`Layouts.read`; all of them when a count says more)."""
    return [raw[i : i + 32] for i in range(0, min(32 * n, len(raw)), 32)]


def _thread(value: dict[str, Any], name: Names) -> Thread:
    n = value["co_author_count"]
    co_authors = keys_of(value["co_authors"], n)
    thread = Thread(
        _thread_id(value["thread_id"], value["thread_id_len"]),
        [name(k) for k in co_authors],
        value["balance"],
        value["created_at"],
        value["updated_at"],
        value["message_count"],
    )
    divested = value["divested"]  # bit i set: co_authors[i] has divested, last at last_divest[i] (state.h)
    thread.last_divest = {name(k): value["last_divest"][i] for i, k in enumerate(co_authors) if divested >> i & 1}
    thread.pending = value["pending"]
    thread.pending_spec_authors = {name(k) for k in keys_of(value["spec_authors"], value["spec_author_count"])}
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
    voters = tuple(name(k) for k in keys_of(value["voters"], n))
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
