"""The linker (programs/toolchain/link.py) against SPEC section 9: every relocation case, the ELF shape the SBPF v0
loader needs, clear errors for unsupported input, reproducibility, and the proof that matters: a linked program
deploys through the upgradeable loader (which runs the verifier) and behaves at run time."""

from __future__ import annotations

import io
import struct

import pytest
from elftools.elf.elffile import ELFFile
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.transaction import Transaction
from solders.transaction_metadata import FailedTransactionMetadata

from programs.loader import DeployError, deploy_upgradeable
from programs.toolchain.link import (
    EM_BPF,
    R_BPF_64_32,
    R_BPF_64_RELATIVE,
    LinkError,
    link,
)

HELLO = r"""
typedef unsigned long long u64;
extern void sol_log_(const char *, u64);
extern void sol_log_64_(u64, u64, u64, u64, u64);
static const char *const names[] = {"alpha", "beta", "gamma"};
__attribute__((noinline)) static u64 triple(u64 x) { sol_log_64_(x, 0, 0, 0, 0); return x * 3; }
__attribute__((noinline)) u64 plus_one(u64 x) { return triple(x) + 1; }
u64 entrypoint(const unsigned char *input) {
    sol_log_("hello from C", 12);
    const unsigned char *data = input + 8 + 8;  /* no accounts: skip the count and the data length */
    u64 i = data[0] % 3;
    sol_log_(names[i], i == 1 ? 4 : 5);
    return plus_one(data[1]) == 3 * data[1] + 1 ? 0 : 1;
}
"""


def elf_of(image: bytes) -> ELFFile:
    return ELFFile(io.BytesIO(image))


def dyn_relocs(image: bytes) -> list[tuple[int, int, str]]:
    elf = elf_of(image)
    rel = elf.get_section_by_name(".rel.dyn")
    dynsym = elf.get_section_by_name(".dynsym")
    out = []
    for r in rel.iter_relocations():
        sym = dynsym.get_symbol(r["r_info_sym"]).name if r["r_info_sym"] else ""
        out.append((r["r_offset"], r["r_info_type"], sym))
    return out


def insn(image: bytes, offset: int) -> tuple[int, int, int]:
    """(opcode, regs, imm) of the instruction at file offset."""
    opcode, regs, _off, imm = struct.unpack_from("<BBhi", image, offset)
    return opcode, regs, imm


@pytest.fixture(scope="module")
def hello(compile_c) -> bytes:
    return compile_c(HELLO, "hello")


def test_elf_shape_matches_spec(hello: bytes) -> None:
    result = link(hello)
    elf = elf_of(result.image)
    assert elf["e_type"] == "ET_DYN"
    assert elf["e_machine"] in ("EM_BPF", EM_BPF)
    assert elf["e_flags"] == 0
    names = [s.name for s in elf.iter_sections()]
    assert names == ["", ".text", ".rodata", ".dynamic", ".dynsym", ".dynstr", ".rel.dyn", ".shstrtab"]
    for section in elf.iter_sections():
        if section["sh_flags"] & 2:  # SHF_ALLOC
            assert section["sh_addr"] == section["sh_offset"], section.name
    segments = [s["p_type"] for s in elf.iter_segments()]
    assert segments.count("PT_LOAD") == 3 and segments.count("PT_DYNAMIC") == 1
    tags = {t.entry.d_tag for t in elf.get_section_by_name(".dynamic").iter_tags()}
    for tag in (
        "DT_REL",
        "DT_RELSZ",
        "DT_RELENT",
        "DT_RELCOUNT",
        "DT_SYMTAB",
        "DT_SYMENT",
        "DT_STRTAB",
        "DT_STRSZ",
        "DT_TEXTREL",
    ):
        assert tag in tags, tag
    entry = elf.get_section_by_name(".dynsym").get_symbol_by_name("entrypoint")[0]
    assert entry["st_value"] == elf["e_entry"] == result.entry
    assert entry["st_info"]["type"] == "STT_FUNC"


def test_syscall_keeps_minus_one_and_gets_r_bpf_64_32(hello: bytes) -> None:
    result = link(hello)
    calls = [(off, name) for off, rtype, name in dyn_relocs(result.image) if rtype == R_BPF_64_32]
    assert {name for _, name in calls} == {"sol_log_", "sol_log_64_"}
    dynsym = elf_of(result.image).get_section_by_name(".dynsym")
    for offset, name in calls:
        assert insn(result.image, offset) == (0x85, 0x10, -1)
        symbol = dynsym.get_symbol_by_name(name)[0]
        assert symbol["st_shndx"] == "SHN_UNDEF" and symbol["st_value"] == 0


def test_internal_calls_are_pc_relative_without_relocation(hello: bytes) -> None:
    result = link(hello)
    relocated = {off for off, _, _ in dyn_relocs(result.image)}
    text = elf_of(result.image).get_section_by_name(".text")
    start, size = text["sh_offset"], text["sh_size"]
    internal = []
    for offset in range(start, start + size, 8):
        opcode, _, imm = insn(result.image, offset)
        if opcode == 0x85 and offset not in relocated:
            internal.append((offset, offset + 8 + imm * 8))
    # plus_one -> triple (resolved by the assembler) and entrypoint -> plus_one (R_BPF_64_32 in the object).
    assert len(internal) == 2
    for _, target in internal:
        assert start <= target < start + size
    assert all(imm != -1 for off, _ in internal for _, _, imm in [insn(result.image, off)])


def test_lddw_of_rodata_gets_relative_relocation(hello: bytes) -> None:
    result = link(hello)
    elf = elf_of(result.image)
    rodata = elf.get_section_by_name(".rodata")
    lo, hi = rodata["sh_addr"], rodata["sh_addr"] + rodata["sh_size"]
    lddws = [off for off, rtype, _ in dyn_relocs(result.image) if rtype == R_BPF_64_RELATIVE and off < lo]
    assert len(lddws) == 2  # the "hello" string and the names table
    for offset in lddws:
        assert result.image[offset] == 0x18
        low = struct.unpack_from("<I", result.image, offset + 4)[0]
        high = struct.unpack_from("<I", result.image, offset + 12)[0]
        assert high == 0 and lo <= low < hi
    assert result.image[lddws[0] + 4 : lddws[0] + 8] != b"\0\0\0\0"


def test_pointer_in_rodata_holds_address_in_high_word(hello: bytes) -> None:
    result = link(hello)
    rodata = elf_of(result.image).get_section_by_name(".rodata")
    lo, hi = rodata["sh_addr"], rodata["sh_addr"] + rodata["sh_size"]
    slots = [off for off, rtype, _ in dyn_relocs(result.image) if rtype == R_BPF_64_RELATIVE and off >= lo]
    assert len(slots) == 3  # names[0..2]
    strings = []
    for offset in slots:
        low_word, high_word = struct.unpack_from("<II", result.image, offset)
        assert low_word == 0 and lo <= high_word < hi
        strings.append(result.image[high_word : result.image.index(b"\0", high_word)])
    assert strings == [b"alpha", b"beta", b"gamma"]


def test_relative_relocations_come_first_and_relcount_counts_them(hello: bytes) -> None:
    result = link(hello)
    types = [rtype for _, rtype, _ in dyn_relocs(result.image)]
    n_relative = types.count(R_BPF_64_RELATIVE)
    assert types[:n_relative] == [R_BPF_64_RELATIVE] * n_relative
    tags = {t.entry.d_tag: t.entry.d_val for t in elf_of(result.image).get_section_by_name(".dynamic").iter_tags()}
    assert tags["DT_RELCOUNT"] == n_relative
    assert tags["DT_RELSZ"] == 16 * len(types)


def test_objects_link_together(compile_c) -> None:
    a = compile_c(
        "typedef unsigned long long u64; u64 helper(u64);\n"
        "u64 entrypoint(const unsigned char *in) { return helper(in[0]); }",
        "multi_a",
    )
    b = compile_c("typedef unsigned long long u64; u64 helper(u64 x) { return x + 7; }", "multi_b")
    result = link([a, b])
    assert result.syscalls == ()
    text_start = elf_of(result.image).get_section_by_name(".text")["sh_offset"]
    calls = []
    for offset in range(text_start, text_start + result.text_size, 8):
        opcode, _, imm = insn(result.image, offset)
        if opcode == 0x85:
            calls.append(offset + 8 + imm * 8)
    assert len(calls) == 1 and calls[0] != result.entry


def test_link_is_deterministic(hello: bytes) -> None:
    assert link(hello).image == link(hello).image


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("int counter = 3; int entrypoint(void) { return counter++; }", "writable section '.data'"),
        ("int counter; int entrypoint(void) { return counter++; }", "writable"),
        ("int helper(void) { return 0; }", "missing entrypoint"),
        (
            "void *memcpy(void *, const void *, unsigned long);"
            "int entrypoint(char *p) { memcpy(p, p + 8, 8); return 0; }",
            "undefined symbol 'memcpy'",
        ),
    ],
    ids=["data", "bss", "no-entrypoint", "undefined-symbol"],
)
def test_unsupported_input_is_refused_clearly(compile_c, source: str, message: str) -> None:
    obj = compile_c(source, "bad")
    with pytest.raises(LinkError, match=message):
        link(obj)


def test_unknown_relocation_type_is_refused(hello: bytes) -> None:
    elf = elf_of(hello)
    rel = elf.get_section_by_name(".rel.text")
    patched = bytearray(hello)
    info_at = rel["sh_offset"] + 8  # r_info of the first relocation (r_offset u64, r_info u64)
    struct.pack_into("<I", patched, info_at, 99)
    with pytest.raises(LinkError, match="unsupported relocation type 99"):
        link(bytes(patched))


def test_non_bpf_input_is_refused() -> None:
    with pytest.raises(LinkError, match="not an ELF"):
        link(b"definitely not an object")


def _run(svm: LiteSVM, payer: Keypair, program, data: bytes):
    ix = Instruction(program, data, [])
    blockhash = svm.latest_blockhash()
    result = svm.send_transaction(
        Transaction([payer], Message.new_with_blockhash([ix], payer.pubkey(), blockhash), blockhash)
    )
    svm.expire_blockhash()
    return result


def test_linked_program_deploys_through_upgradeable_loader_and_runs(hello: bytes) -> None:
    svm = LiteSVM()
    payer = Keypair()
    svm.airdrop(payer.pubkey(), 10**12)
    program = deploy_upgradeable(svm, payer, Keypair(), link(hello).image)
    result = _run(svm, payer, program, bytes([1, 5]))
    assert not isinstance(result, FailedTransactionMetadata), result
    logs = result.logs()
    assert "Program log: hello from C" in logs
    assert "Program log: beta" in logs  # read through the pointer table in .rodata
    assert "Program log: 0x5, 0x0, 0x0, 0x0, 0x0" in logs  # sol_log_64_ from an internal call
    assert not isinstance(_run(svm, payer, program, bytes([2, 7])), FailedTransactionMetadata)


def test_verifier_rejects_a_broken_program_at_deploy(hello: bytes) -> None:
    image = bytearray(link(hello).image)
    entry = link(hello).entry
    image[entry] = 0xFF  # not an opcode
    svm = LiteSVM()
    payer = Keypair()
    svm.airdrop(payer.pubkey(), 10**12)
    with pytest.raises(DeployError, match="unknown eBPF opcode"):
        deploy_upgradeable(svm, payer, Keypair(), bytes(image))
