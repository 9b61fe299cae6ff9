"""The IDL (programs/choir/idl.json) and the C program describe the same bytes (SPEC section 9).

* Discriminators are Anchor's (sha256 of "global:<name>" / "account:<Name>") and match the C constants.
* Errors are SPEC section 7's names and codes, exactly the model's.
* Every account layout: the C struct's field offsets and sizes (read from a probe object compiled against the
  program's own header) equal the IDL's Borsh offsets; bytes the program writes decode and re-encode to the same
  bytes; bytes the IDL encodes are read correctly by the program.
* Every instruction: arguments encoded from the IDL decode back to the same values and are accepted by the program.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct

import pytest
from elftools.elf.elffile import ELFFile
from solders.account import Account
from solders.pubkey import Pubkey

from choir_model import CHOIR, CreateThread, Divest, Fund, Params, ProcessApproval, SubmitMessage, SubmitSpec
from choir_model.errors import ERRORS_BY_CODE
from programs.client.coder import CoderError, IdlCoder
from programs.client.keys import keypair_for
from programs.driver import ProgramDriver
from programs.toolchain.build import SOURCE_DIR

CODER = IdlCoder.from_file()
ACCOUNT_TYPES = ("Config", "Treasury", "Member", "Thread", "Message")
T0 = 1_700_000_000
SIGNERS = ("treasury1", "treasury2")
HASH = "ab" * 32


def c_constants(header: str, prefix: str) -> dict[str, int]:
    text = (SOURCE_DIR / header).read_text()
    return {m[1]: int(m[2], 16) for m in re.finditer(rf"#define {prefix}(\w+) 0x([0-9a-f]+)ULL", text)}


def test_discriminators_are_anchors_and_match_the_c_constants() -> None:
    ix_c = c_constants("instruction.h", "IX_")
    for name, ix in CODER.instructions.items():
        assert ix.discriminator == hashlib.sha256(f"global:{name}".encode()).digest()[:8]
        assert struct.unpack("<Q", ix.discriminator)[0] == ix_c[name.upper()], name
    assert set(ix_c) == {n.upper() for n in CODER.instructions}
    acc_c = c_constants("state.h", "DISC_")
    for name, disc in CODER.account_discriminators.items():
        assert disc == hashlib.sha256(f"account:{name}".encode()).digest()[:8]
        assert struct.unpack("<Q", disc)[0] == acc_c[name.upper()], name
    assert set(CODER.account_discriminators) == set(ACCOUNT_TYPES)


def test_errors_are_the_spec_names_and_codes() -> None:
    assert CODER.errors_by_code == {code: cls.name for code, cls in ERRORS_BY_CODE.items()}
    c_codes = {
        m[1]: int(m[2]) for m in re.finditer(r"#define ERR_(\w+) (60\d\d)ULL", (SOURCE_DIR / "errors.h").read_text())
    }
    spec = {re.sub(r"(?<!^)(?=[A-Z])", "_", cls.name).upper(): code for code, cls in ERRORS_BY_CODE.items()}
    assert c_codes == spec


def idl_fields(name: str) -> list[tuple[str, int, int]]:
    """(field, offset, size) of an account type per the IDL, offsets counted from the discriminator."""
    fields = next(t for t in CODER.idl["types"] if t["name"] == name)["type"]["fields"]
    out, at = [], 8
    for f in fields:
        size = CODER.codec(f["type"]).size
        assert size is not None, f"{name}.{f['name']} must have a fixed size"
        out.append((f["name"], at, size))
        at += size
    return out


@pytest.fixture(scope="module")
def c_layouts(compile_c) -> dict[str, list[int]]:
    """offsetof/sizeof of every IDL field in the C structs, read from a compiled probe's .rodata."""
    lines = ['#include "state.h"']
    for name in ACCOUNT_TYPES:
        items = [f"sizeof({name})"]
        for field, _, _ in idl_fields(name):
            items += [f"offsetof({name}, {field})", f"sizeof((({name} *)0)->{field})"]
        lines.append(f"const unsigned long long probe_{name}[] = {{{', '.join(items)}}};")
    obj = compile_c("\n".join(lines) + "\n", "layout_probe")
    elf = ELFFile(io.BytesIO(obj))
    symtab = elf.get_section_by_name(".symtab")
    out = {}
    for name in ACCOUNT_TYPES:
        sym = symtab.get_symbol_by_name(f"probe_{name}")[0]
        data = elf.get_section(sym["st_shndx"]).data()
        raw = data[sym["st_value"] : sym["st_value"] + sym["st_size"]]
        out[name] = list(struct.unpack(f"<{len(raw) // 8}Q", raw))
    return out


@pytest.mark.parametrize("name", ACCOUNT_TYPES)
def test_c_struct_layout_equals_idl_layout(c_layouts: dict[str, list[int]], name: str) -> None:
    probe = c_layouts[name]
    assert probe[0] == CODER.account_size(name), "sizeof(C struct) == 8 + IDL size"
    for i, (field, offset, size) in enumerate(idl_fields(name)):
        assert (probe[1 + 2 * i], probe[2 + 2 * i]) == (offset, size), field


@pytest.fixture(scope="module")
def world(choir_so: bytes) -> ProgramDriver:
    """A program that ran every instruction once (with a 3-co-author spec settled unanimously)."""
    d = ProgramDriver(image=choir_so)
    steps = [
        Fund("alice", T0, 50 * CHOIR, SIGNERS),
        Fund("bob", T0, 50 * CHOIR, SIGNERS),
        Fund("carol", T0, 50 * CHOIR, SIGNERS),
        CreateThread("alice", T0 + 1, "thread-one", 10 * CHOIR),
        SubmitSpec("bob", T0 + 2, "thread-one", "bb" * 32, 3 * CHOIR),
        ProcessApproval("alice", T0 + 3, "thread-one", "bb" * 32, True),
        SubmitMessage("alice", T0 + 4, "thread-one", HASH),
        SubmitSpec("carol", T0 + 5, "thread-one", "cc" * 32, 2 * CHOIR + 1),
        ProcessApproval("alice", T0 + 6, "thread-one", "cc" * 32, True),
        Divest("alice", T0 + 7, "thread-one", CHOIR),
    ]
    for step in steps:
        assert d.apply(step) is None, step
    return d


def test_program_written_accounts_round_trip_through_the_idl(world: ProgramDriver) -> None:
    seen = set()
    for key, data in world.transport.program_accounts():
        name, value = CODER.decode_account(data)
        seen.add(name)
        assert CODER.encode_account(name, value) == data, f"{name} {key}"
        assert len(data) == CODER.account_size(name)
    assert seen == set(ACCOUNT_TYPES)


def test_program_written_fields_decode_to_what_the_instructions_said(world: ProgramDriver) -> None:
    p = world.params
    _, config = CODER.decode_account(world.transport.account_data(world.pdas.config()[0]))
    assert config["total_supply"] == p.total_supply and config["approval_window"] == p.approval_window
    assert config["authorities"] == [keypair_for(n).pubkey() for n in p.treasury_authorities]
    assert (config["threshold"], config["authority_count"], config["max_coauthors"]) == (2, 3, p.max_coauthors)
    thread_key = world.pdas.thread("thread-one")[0]
    _, thread = CODER.decode_account(world.transport.account_data(thread_key))
    assert bytes(thread["thread_id"][: thread["thread_id_len"]]) == b"thread-one"
    assert thread["co_authors"][:2] == [keypair_for("alice").pubkey(), keypair_for("bob").pubkey()]
    assert thread["last_divest"][0] == T0 + 7 and thread["divested"] == 0b01  # alice divested, bob never
    assert thread["message_count"] == 3 and thread["pending"] == 1 and thread["spec_author_count"] == 1
    _, message = CODER.decode_account(
        world.transport.account_data(world.pdas.message(thread_key, bytes.fromhex(HASH))[0])
    )
    assert (message["state"], message["privacy"], message["is_spec"], message["has_deadline"]) == (
        "Private",
        "Public",
        False,
        False,
    )
    spec_key = world.pdas.message(thread_key, bytes.fromhex("cc" * 32))[0]
    _, spec = CODER.decode_account(world.transport.account_data(spec_key))
    assert spec["stake"] == 2 * CHOIR + 1 and spec["deadline"] == T0 + 5 + p.approval_window
    assert spec["votes"][:3] == ["Approve", "None", "None"] and spec["vote_count"] == 1


def test_idl_encoded_accounts_are_read_by_the_program(choir_so: bytes) -> None:
    """Write a Member and a Thread with the IDL encoder (bypassing the program), then let the program act on them."""
    d = ProgramDriver(Params(divest_cooldown=100), image=choir_so)
    program = d.coder.program_id
    zoe = keypair_for("zoe").pubkey()
    d.key("zoe")
    thread_key, bump = d.pdas.thread("crafted")
    member_key, member_bump = d.pdas.member(zoe)
    member = {"balance": 5, "owner": zoe, "bump": member_bump, "reserved": bytes(7)}
    empty = Pubkey.default()
    thread = {
        "balance": 10 * CHOIR,
        "created_at": T0,
        "updated_at": T0,
        "message_count": 0,
        "pending": 0,
        "co_author_count": 1,
        "spec_author_count": 0,
        "thread_id_len": 7,
        "bump": bump,
        "thread_id": b"crafted" + bytes(25),
        "last_divest": [T0 - 50] + [0] * 31,
        "co_authors": [zoe] + [empty] * 31,
        "spec_authors": [empty] * 32,
        "divested": 0b1,
        "reserved": bytes(4),
    }
    for key, name, value in ((member_key, "Member", member), (thread_key, "Thread", thread)):
        data = CODER.encode_account(name, value)
        d.transport.svm.set_account(key, Account(10**9, data, program))
        d._refresh(key)
    assert d.apply(Divest("zoe", T0 + 49, "crafted", CHOIR)) == "CooldownActive"  # reads divested, last_divest[0]
    assert d.apply(Divest("zoe", T0 + 50, "crafted", 9 * CHOIR + 1)) == "BelowMinimumBalance"  # reads balance
    assert d.apply(Divest("zoe", T0 + 50, "crafted", 9 * CHOIR)) is None
    snap = d.snapshot(full=True)
    assert snap["wallets"]["zoe"] == 9 * CHOIR + 5
    assert snap["threads"]["crafted"]["balance"] == CHOIR


def test_instruction_arguments_round_trip() -> None:
    key = keypair_for("x").pubkey()
    samples = {
        "initialize": {
            "params": {
                "total_supply": 2**64 - 1,
                "min_stake": 1,
                "min_thread_balance": 2,
                "approval_window": -5,
                "divest_cooldown": 7,
                "max_pending": 20,
                "max_coauthors": 10,
                "thread_id_max": 32,
                "decimals": 9,
            },
            "authorities": [key, key],
            "threshold": 2,
            "config_bump": 255,
            "treasury_bump": 254,
        },
        "open_member": {"bump": 1},
        "fund_member": {"amount": 12345},
        "create_thread": {"thread_id": "héllo", "deposit": 10, "bump": 3},
        "submit_message": {"content_hash": bytes(range(32)), "privacy": "ThreadOnly", "bump": 4},
        "request_public": {},
        "submit_spec": {"content_hash": bytes(32), "stake": 9, "privacy": "Premium", "bump": 5},
        "process_approval": {"approve": False},
        "expire_approval": {},
        "divest_tokens": {"amount": 1},
    }
    assert set(samples) == set(CODER.instructions)
    for name, args in samples.items():
        data = CODER.encode_instruction(name, args)
        assert CODER.decode_instruction(data) == (name, args)
        with pytest.raises(CoderError):
            CODER.decode_instruction(data + b"\0")


def test_idl_shape_is_anchor_current_spec() -> None:
    idl = CODER.idl
    assert set(idl) >= {"address", "metadata", "instructions", "accounts", "types", "errors"}
    assert idl["metadata"]["name"] == "choir" and "spec" in idl["metadata"]
    for ix in idl["instructions"]:
        assert set(ix) >= {"name", "discriminator", "accounts", "args"} and len(ix["discriminator"]) == 8
    type_names = {t["name"] for t in idl["types"]}
    assert {a["name"] for a in idl["accounts"]} <= type_names
