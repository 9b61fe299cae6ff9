"""An IDL-driven Borsh coder for Anchor-format IDLs (Anchor's current spec: `address`, `metadata`, `instructions`
with `discriminator`/`accounts`/`args`, `accounts`, `types`, `errors`).

Why our own: anchorpy cannot be installed beside solders 0.29 (SPEC section 9), and the driver must work with any
program implementing the Choir IDL, not only ours, so everything the client knows about the program (instruction
layouts, account layouts, PDAs, error codes) comes from the IDL file. Types are compiled once into encode/decode
closures, so coding an instruction costs a few microseconds.

Values: integers are `int`, `bool` is `bool`, `string` is `str`, `bytes` and `[u8; N]` are `bytes`, `pubkey` is a
solders `Pubkey`, other arrays and vecs are lists, `option` is None or the value, structs are dicts, enums are
the variant name (unit variants) or `{name: fields}`.
"""

from __future__ import annotations

import copy
import json
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

DEFAULT_IDL = Path(__file__).resolve().parents[1] / "choir" / "idl.json"

Encoder = Callable[[Any, bytearray], None]
Decoder = Callable[[bytes, int], tuple[Any, int]]

_PRIMITIVES = {
    "u8": "<B",
    "i8": "<b",
    "u16": "<H",
    "i16": "<h",
    "u32": "<I",
    "i32": "<i",
    "u64": "<Q",
    "i64": "<q",
    "f32": "<f",
    "f64": "<d",
}


class CoderError(ValueError):
    """A value does not fit its IDL type, or bytes do not decode."""


@dataclass(frozen=True)
class Codec:
    encode: Encoder
    decode: Decoder
    size: int | None  # fixed encoded size, None when variable
    variants: tuple[str, ...] | None = None  # an enum whose variants carry no fields: one byte, the variant's index
    fmt: str | None = None  # a number: its `struct` format (little-endian, without the "<")


@dataclass(frozen=True)
class IdlAccountItem:
    name: str
    writable: bool
    signer: bool
    address: Pubkey | None
    seeds: tuple[dict[str, Any], ...] | None
    optional: bool


@dataclass(frozen=True)
class IdlInstruction:
    name: str
    discriminator: bytes
    accounts: tuple[IdlAccountItem, ...]
    args: tuple[tuple[str, Codec], ...]


def _int_codec(fmt: str) -> Codec:
    packer = struct.Struct(fmt)
    size = packer.size

    def encode(value: Any, out: bytearray) -> None:
        try:
            out += packer.pack(value)
        except struct.error as error:
            raise CoderError(f"{value!r} does not fit {fmt}: {error}") from None

    def decode(buf: bytes, at: int) -> tuple[Any, int]:
        if at + size > len(buf):
            raise CoderError("buffer too short")
        return packer.unpack_from(buf, at)[0], at + size

    return Codec(encode, decode, size, fmt=fmt[1:])


def _wide_int_codec(signed: bool) -> Codec:
    def encode(value: Any, out: bytearray) -> None:
        out += int(value).to_bytes(16, "little", signed=signed)

    def decode(buf: bytes, at: int) -> tuple[Any, int]:
        if at + 16 > len(buf):
            raise CoderError("buffer too short")
        return int.from_bytes(buf[at : at + 16], "little", signed=signed), at + 16

    return Codec(encode, decode, 16)


def _bool_codec() -> Codec:
    def encode(value: Any, out: bytearray) -> None:
        if not isinstance(value, bool):
            raise CoderError(f"expected bool, got {value!r}")
        out.append(1 if value else 0)

    def decode(buf: bytes, at: int) -> tuple[Any, int]:
        if at >= len(buf) or buf[at] > 1:
            raise CoderError("invalid bool")
        return buf[at] == 1, at + 1

    return Codec(encode, decode, 1)


def _pubkey_codec() -> Codec:
    def encode(value: Any, out: bytearray) -> None:
        raw = bytes(value)
        if len(raw) != 32:
            raise CoderError(f"a pubkey is 32 bytes, got {len(raw)}")
        out += raw

    def decode(buf: bytes, at: int) -> tuple[Any, int]:
        if at + 32 > len(buf):
            raise CoderError("buffer too short")
        return Pubkey.from_bytes(buf[at : at + 32]), at + 32

    return Codec(encode, decode, 32)


def _len_prefixed(kind: str) -> Codec:
    def encode(value: Any, out: bytearray) -> None:
        raw = value.encode("utf-8") if kind == "string" else bytes(value)
        out += struct.pack("<I", len(raw)) + raw

    def decode(buf: bytes, at: int) -> tuple[Any, int]:
        if at + 4 > len(buf):
            raise CoderError("buffer too short")
        (n,) = struct.unpack_from("<I", buf, at)
        end = at + 4 + n
        if end > len(buf):
            raise CoderError("buffer too short")
        raw = bytes(buf[at + 4 : end])
        return (raw.decode("utf-8") if kind == "string" else raw), end

    return Codec(encode, decode, None)


DecodeStep = tuple[str, Codec, tuple[str, ...], struct.Struct | None]


def _decode_plan(parts: Sequence[tuple[str, Codec]]) -> list[DecodeStep]:
    """A struct's fields in decoding order, each run of consecutive numbers merged into one `struct` unpacking:
    one call per field was most of decoding an account (a thread's header is nine numbers)."""
    plan: list[DecodeStep] = []
    run: list[tuple[str, Codec]] = []

    def close_run() -> None:
        if len(run) == 1:
            plan.append((run[0][0], run[0][1], (), None))
        elif run:
            packer = struct.Struct("<" + "".join(codec.fmt for _, codec in run))  # type: ignore[misc]
            plan.append(("", run[0][1], tuple(name for name, _ in run), packer))
        run.clear()

    for name, codec in parts:
        if codec.fmt is not None:
            run.append((name, codec))
            continue
        close_run()
        plan.append((name, codec, (), None))
    close_run()
    return plan


class IdlCoder:
    """Everything a client needs from one Anchor-format IDL."""

    def __init__(self, idl: Mapping[str, Any]) -> None:
        self.idl = idl
        self.program_id = Pubkey.from_string(idl["address"])
        self.name: str = idl.get("metadata", {}).get("name", "")
        self._type_defs = {t["name"]: t for t in idl.get("types", [])}
        self._codecs: dict[str, Codec] = {}
        self._account_codecs: dict[str, Codec] = {}
        self.instructions: dict[str, IdlInstruction] = {}
        self._by_discriminator: dict[bytes, IdlInstruction] = {}
        for ix in idl["instructions"]:
            compiled = IdlInstruction(
                name=ix["name"],
                discriminator=bytes(ix["discriminator"]),
                accounts=tuple(self._account_item(a) for a in ix["accounts"]),
                args=tuple((arg["name"], self.codec(arg["type"])) for arg in ix["args"]),
            )
            self.instructions[compiled.name] = compiled
            self._by_discriminator[compiled.discriminator] = compiled
        self.account_discriminators: dict[str, bytes] = {
            a["name"]: bytes(a["discriminator"]) for a in idl.get("accounts", [])
        }
        self._account_by_discriminator = {d: n for n, d in self.account_discriminators.items()}
        self.errors_by_code: dict[int, str] = {e["code"]: e["name"] for e in idl.get("errors", [])}
        self.errors_by_name: dict[str, int] = {n: c for c, n in self.errors_by_code.items()}

    @classmethod
    def from_file(cls, path: Path | str = DEFAULT_IDL) -> IdlCoder:
        return cls(json.loads(Path(path).read_text()))

    def at(self, address: Pubkey) -> IdlCoder:
        """The same interface deployed at another program id (your own deployment of a Choir-IDL program). Nothing
        compiled depends on the address, so the copy shares this coder's codecs instead of compiling the IDL
        again (the attacks deploy a fresh copy of the program per attack on `initialize`)."""
        moved = copy.copy(self)
        moved.idl = {**self.idl, "address": str(address)}
        moved.program_id = Pubkey.from_string(str(address))
        return moved

    # -- types -----------------------------------------------------------------------------------------------

    def codec(self, idl_type: Any) -> Codec:
        """The compiled codec of an IDL type (cached by its JSON form)."""
        key = json.dumps(idl_type, sort_keys=True)
        cached = self._codecs.get(key)
        if cached is None:
            cached = self._compile(idl_type)
            self._codecs[key] = cached
        return cached

    def _compile(self, t: Any) -> Codec:
        if isinstance(t, str):
            if t in _PRIMITIVES:
                return _int_codec(_PRIMITIVES[t])
            if t in ("u128", "i128"):
                return _wide_int_codec(t == "i128")
            if t == "bool":
                return _bool_codec()
            if t == "pubkey":
                return _pubkey_codec()
            if t in ("string", "bytes"):
                return _len_prefixed(t)
            raise CoderError(f"unknown IDL type {t!r}")
        if "array" in t:
            inner_type, n = t["array"]
            if inner_type == "u8":
                return self._byte_array(n)
            if isinstance(inner_type, str) and inner_type in _PRIMITIVES:
                return self._packed_array(_PRIMITIVES[inner_type], n)
            if inner_type == "pubkey":
                return self._pubkey_array(n)
            inner = self.codec(inner_type)
            if inner.variants is not None:
                return self._variant_array(inner, n)
            return self._array(inner, n)
        if "vec" in t:
            return self._vec(self.codec(t["vec"]))
        if "option" in t:
            return self._option(self.codec(t["option"]))
        if "defined" in t:
            name = t["defined"]["name"] if isinstance(t["defined"], dict) else t["defined"]
            return self._defined(name)
        raise CoderError(f"unsupported IDL type {t!r}")

    @staticmethod
    def _byte_array(n: int) -> Codec:
        def encode(value: Any, out: bytearray) -> None:
            raw = bytes(value)
            if len(raw) != n:
                raise CoderError(f"expected {n} bytes, got {len(raw)}")
            out += raw

        def decode(buf: bytes, at: int) -> tuple[Any, int]:
            if at + n > len(buf):
                raise CoderError("buffer too short")
            return bytes(buf[at : at + n]), at + n

        return Codec(encode, decode, n)

    @staticmethod
    def _packed_array(fmt: str, n: int) -> Codec:
        """An array of fixed-width numbers, packed in one struct call (thread accounts hold 32 timestamps)."""
        packer = struct.Struct(f"<{n}{fmt[1:]}")

        def encode(value: Any, out: bytearray) -> None:
            items = list(value)
            if len(items) != n:
                raise CoderError(f"expected {n} items, got {len(items)}")
            try:
                out += packer.pack(*items)
            except struct.error as error:
                raise CoderError(f"{items!r} do not fit {fmt}: {error}") from None

        def decode(buf: bytes, at: int) -> tuple[Any, int]:
            if at + packer.size > len(buf):
                raise CoderError("buffer too short")
            return list(packer.unpack_from(buf, at)), at + packer.size

        return Codec(encode, decode, packer.size)

    @staticmethod
    def _pubkey_array(n: int) -> Codec:
        """An array of public keys (a thread's co-authors, a message's voters: 32 slots, mostly empty), decoded in
        one pass with the keys already seen reused: building a `Pubkey` costs more than finding it again."""
        array = IdlCoder._array(_pubkey_codec(), n)
        size = 32 * n
        seen: dict[bytes, Pubkey] = {}
        arrays: dict[bytes, tuple[Pubkey, ...]] = {}  # whole arrays: a thread's co-authors are read again and again

        def decode(buf: bytes, at: int) -> tuple[Any, int]:
            if at + size > len(buf):
                raise CoderError("buffer too short")
            raw = bytes(buf[at : at + size])
            known = arrays.get(raw)
            if known is not None:
                return list(known), at + size
            if len(seen) > 4096 or len(arrays) > 4096:  # a bound for long-lived clients that meet many keys
                seen.clear()
                arrays.clear()
            items = []
            for start in range(0, size, 32):
                chunk = raw[start : start + 32]
                key = seen.get(chunk)
                if key is None:
                    key = seen[chunk] = Pubkey.from_bytes(chunk)
                items.append(key)
            arrays[raw] = tuple(items)
            return items, at + size

        return Codec(array.encode, decode, size)

    @staticmethod
    def _variant_array(inner: Codec, n: int) -> Codec:
        """An array of field-less enum values (a message's 32 vote slots): one byte each, decoded in one pass."""
        names = inner.variants
        assert names is not None
        array = IdlCoder._array(inner, n)

        def decode(buf: bytes, at: int) -> tuple[Any, int]:
            raw = buf[at : at + n]
            if len(raw) < n or max(raw, default=0) >= len(names):
                return array.decode(buf, at)  # the element decoder says what is wrong
            return [names[b] for b in raw], at + n

        return Codec(array.encode, decode, n)

    @staticmethod
    def _array(inner: Codec, n: int) -> Codec:
        def encode(value: Any, out: bytearray) -> None:
            items = list(value)
            if len(items) != n:
                raise CoderError(f"expected {n} items, got {len(items)}")
            for item in items:
                inner.encode(item, out)

        def decode(buf: bytes, at: int) -> tuple[Any, int]:
            items = []
            for _ in range(n):
                item, at = inner.decode(buf, at)
                items.append(item)
            return items, at

        return Codec(encode, decode, None if inner.size is None else inner.size * n)

    @staticmethod
    def _vec(inner: Codec) -> Codec:
        def encode(value: Any, out: bytearray) -> None:
            items = list(value)
            out += struct.pack("<I", len(items))
            for item in items:
                inner.encode(item, out)

        def decode(buf: bytes, at: int) -> tuple[Any, int]:
            if at + 4 > len(buf):
                raise CoderError("buffer too short")
            (n,) = struct.unpack_from("<I", buf, at)
            at += 4
            items = []
            for _ in range(n):
                item, at = inner.decode(buf, at)
                items.append(item)
            return items, at

        return Codec(encode, decode, None)

    @staticmethod
    def _option(inner: Codec) -> Codec:
        def encode(value: Any, out: bytearray) -> None:
            if value is None:
                out.append(0)
            else:
                out.append(1)
                inner.encode(value, out)

        def decode(buf: bytes, at: int) -> tuple[Any, int]:
            if at >= len(buf) or buf[at] > 1:
                raise CoderError("invalid option tag")
            if buf[at] == 0:
                return None, at + 1
            return inner.decode(buf, at + 1)

        return Codec(encode, decode, None)

    def _defined(self, name: str) -> Codec:
        definition = self._type_defs.get(name)
        if definition is None:
            raise CoderError(f"type {name!r} is not defined in the IDL")
        body = definition["type"]
        if body["kind"] == "struct":
            return self._struct(name, body.get("fields", []))
        if body["kind"] == "enum":
            return self._enum(name, body["variants"])
        raise CoderError(f"unsupported type kind {body['kind']!r} of {name!r}")

    def _struct(self, name: str, fields: Sequence[Any]) -> Codec:
        if fields and isinstance(fields[0], dict):
            parts = [(f["name"], self.codec(f["type"])) for f in fields]
        else:  # tuple struct
            parts = [(str(i), self.codec(f)) for i, f in enumerate(fields)]

        def encode(value: Any, out: bytearray) -> None:
            for field_name, codec in parts:
                try:
                    item = value[field_name]
                except KeyError:
                    raise CoderError(f"{name} is missing field {field_name!r}") from None
                codec.encode(item, out)

        plan = _decode_plan(parts)

        def decode(buf: bytes, at: int) -> tuple[Any, int]:
            out = {}
            for field_name, codec, names, packer in plan:
                if packer is None:
                    out[field_name], at = codec.decode(buf, at)
                    continue
                try:
                    values = packer.unpack_from(buf, at)
                except struct.error:
                    raise CoderError("buffer too short") from None
                for name, value in zip(names, values, strict=True):
                    out[name] = value
                at += packer.size
            return out, at

        sizes = [c.size for _, c in parts]
        return Codec(encode, decode, None if None in sizes else sum(sizes))  # type: ignore[arg-type]

    def _enum(self, name: str, variants: Sequence[Any]) -> Codec:
        names = [v["name"] for v in variants]
        bodies = [self._struct(f"{name}::{v['name']}", v["fields"]) if v.get("fields") else None for v in variants]
        index = {n: i for i, n in enumerate(names)}

        def encode(value: Any, out: bytearray) -> None:
            if isinstance(value, str):
                variant, fields = value, None
            elif isinstance(value, Mapping) and len(value) == 1:
                ((variant, fields),) = value.items()
            else:
                raise CoderError(f"{name}: expected a variant name, got {value!r}")
            i = index.get(variant)
            if i is None:
                raise CoderError(f"{name} has no variant {variant!r}")
            out.append(i)
            if bodies[i] is not None:
                bodies[i].encode(fields, out)  # type: ignore[union-attr]

        def decode(buf: bytes, at: int) -> tuple[Any, int]:
            if at >= len(buf) or buf[at] >= len(names):
                raise CoderError(f"invalid {name} tag")
            i = buf[at]
            body = bodies[i]
            if body is None:
                return names[i], at + 1
            fields, end = body.decode(buf, at + 1)
            return {names[i]: fields}, end

        fixed = all(b is None for b in bodies)
        return Codec(encode, decode, 1 if fixed else None, tuple(names) if fixed else None)

    # -- instructions ----------------------------------------------------------------------------------------

    @staticmethod
    def _account_item(item: Mapping[str, Any]) -> IdlAccountItem:
        if "accounts" in item:
            raise CoderError("nested account groups are not supported")
        address = item.get("address")
        pda = item.get("pda")
        return IdlAccountItem(
            name=item["name"],
            writable=bool(item.get("writable", False)),
            signer=bool(item.get("signer", False)),
            address=Pubkey.from_string(address) if address else None,
            seeds=tuple(pda["seeds"]) if pda and "program" not in pda else None,
            optional=bool(item.get("optional", False)),
        )

    def encode_instruction(self, name: str, args: Mapping[str, Any]) -> bytes:
        """Discriminator + Borsh arguments."""
        ix = self.instructions[name]
        out = bytearray(ix.discriminator)
        for arg_name, codec in ix.args:
            if arg_name not in args:
                raise CoderError(f"{name} is missing argument {arg_name!r}")
            codec.encode(args[arg_name], out)
        return bytes(out)

    def instruction_name(self, data: bytes) -> str | None:
        """The instruction an encoded instruction's discriminator names, or None."""
        ix = self._by_discriminator.get(bytes(data[:8]))
        return None if ix is None else ix.name

    def decode_instruction(self, data: bytes) -> tuple[str, dict[str, Any]]:
        ix = self._by_discriminator.get(bytes(data[:8]))
        if ix is None:
            raise CoderError("unknown instruction discriminator")
        at = 8
        args = {}
        for arg_name, codec in ix.args:
            args[arg_name], at = codec.decode(data, at)
        if at != len(data):
            raise CoderError(f"{len(data) - at} trailing bytes after {ix.name}")
        return ix.name, args

    def seed_bytes(self, seed: Mapping[str, Any], accounts: Mapping[str, Pubkey], args: Mapping[str, Any]) -> bytes:
        kind = seed["kind"]
        if kind == "const":
            return bytes(seed["value"])
        if kind == "account":
            return bytes(accounts[seed["path"]])
        if kind == "arg":
            value = args[seed["path"]]
            return value.encode("utf-8") if isinstance(value, str) else bytes(value)
        raise CoderError(f"unsupported seed kind {kind!r}")

    def pda(self, seeds: Iterable[bytes]) -> tuple[Pubkey, int]:
        """The canonical program address and bump (searched off chain, passed in, verified on chain)."""
        return Pubkey.find_program_address(list(seeds), self.program_id)

    def resolve_accounts(
        self,
        name: str,
        accounts: Mapping[str, Pubkey],
        args: Mapping[str, Any] | None = None,
    ) -> list[AccountMeta]:
        """AccountMetas in IDL order: given keys first, then fixed addresses, then PDAs from their seeds."""
        ix = self.instructions[name]
        args = args or {}
        known: dict[str, Pubkey] = dict(accounts)
        metas = []
        for item in ix.accounts:
            key = known.get(item.name)
            if key is None and item.address is not None:
                key = item.address
            if key is None and item.seeds is not None:
                key = self.pda(self.seed_bytes(s, known, args) for s in item.seeds)[0]
            if key is None:
                raise CoderError(f"{name}: account {item.name!r} is neither given nor derivable")
            known[item.name] = key
            metas.append(AccountMeta(key, item.signer, item.writable))
        return metas

    def build_instruction(
        self,
        name: str,
        args: Mapping[str, Any],
        accounts: Mapping[str, Pubkey],
        remaining: Sequence[AccountMeta] = (),
    ) -> Instruction:
        metas = self.resolve_accounts(name, accounts, args)
        return Instruction(self.program_id, self.encode_instruction(name, args), metas + list(remaining))

    # -- accounts and errors ---------------------------------------------------------------------------------

    def account_codec(self, name: str) -> Codec:
        """The codec of account type `name`, looked up by name: keying `codec`'s cache by JSON on every read was a
        fifth of decoding an account."""
        found = self._account_codecs.get(name)
        if found is None:
            found = self._account_codecs[name] = self.codec({"defined": {"name": name}})
        return found

    def account_size(self, name: str) -> int:
        """Discriminator + fixed Borsh size of an account type."""
        size = self.account_codec(name).size
        if size is None:
            raise CoderError(f"account {name} has no fixed size")
        return 8 + size

    def encode_account(self, name: str, value: Mapping[str, Any]) -> bytes:
        out = bytearray(self.account_discriminators[name])
        self.account_codec(name).encode(value, out)
        return bytes(out)

    def account_name(self, data: bytes) -> str | None:
        return self._account_by_discriminator.get(bytes(data[:8]))

    def decode_account(self, data: bytes, name: str | None = None) -> tuple[str, dict[str, Any]]:
        found = self.account_name(data)
        if found is None or (name is not None and found != name):
            raise CoderError(f"discriminator does not match {name or 'any account'}")
        value, _ = self.account_codec(found).decode(data, 8)
        return found, value

    def error_name(self, code: int) -> str | None:
        return self.errors_by_code.get(code)
