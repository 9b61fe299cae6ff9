"""A small static linker for Solana programs written in C (SPEC section 9).

Why it exists: Debian's clang compiles C to BPF objects (`-target bpfel -mcpu=v1`), but upstream `ld.lld` cannot
link BPF into the shared object the Solana runtime loads, and Solana's own platform tools are not available here.
This module turns one or more clang BPF relocatable objects into an SBPF v0 program (`.so`), producing exactly the
shape the runtime's lenient (v0) ELF loader accepts:

* an `ET_DYN` ELF64, little endian, `e_machine` 247 (EM_BPF), `e_flags` 0;
* sections `.text` (every executable input section merged), `.rodata` (every `.rodata*` merged, if any),
  `.dynamic`, `.dynsym`, `.dynstr`, `.rel.dyn` (if any relocation remains) and `.shstrtab`; every allocated
  section sits at an address equal to its file offset (the v0 loader requires it);
* one `PT_LOAD` per part (code, read-only data, dynamic linking data) plus `PT_DYNAMIC`;
* `.dynamic` with REL/RELSZ/RELENT/RELCOUNT/SYMTAB/SYMENT/STRTAB/STRSZ/TEXTREL/FLAGS;
* the exported `entrypoint` symbol as `e_entry`.

Relocations are resolved as follows:

* `R_BPF_64_32` on a `call` to an undefined symbol is a syscall: the instruction keeps `imm = -1` and the output
  gets an `R_BPF_64_32` dynamic relocation against an undefined dynamic symbol of that name (the loader writes
  the murmur3 hash of the name into `imm`);
* `R_BPF_64_32` on a `call` to a defined function becomes a pc-relative call with no relocation (the v0 loader
  registers every `call imm` with `imm != -1` as an internal call);
* `R_BPF_64_64` on an `lddw` of any address in the program gets the address (its file offset) written into the
  two immediates and an `R_BPF_64_RELATIVE` dynamic relocation (the loader adds the program's base address);
* `R_BPF_64_ABS64` on a pointer stored in `.rodata` gets the address in the *high* 32-bit word of the slot and an
  `R_BPF_64_RELATIVE` relocation: the v0 loader reads the high word (a quirk kept from an old toolchain bug).

Anything else is refused with a `LinkError` that says what to change: writable sections (`.data`, `.bss`,
common symbols: SBPF v0 programs have no writable globals), unknown relocation types, undefined symbols that are
not Solana syscalls, and a missing `entrypoint`. The output is a pure function of the input bytes, so builds are
reproducible.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

EM_BPF = 247
ET_DYN = 3

R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_RELATIVE = 8
R_BPF_64_32 = 10

RELOCATION_NAMES = {
    R_BPF_NONE: "R_BPF_NONE",
    R_BPF_64_64: "R_BPF_64_64",
    R_BPF_64_ABS64: "R_BPF_64_ABS64",
    R_BPF_64_ABS32: "R_BPF_64_ABS32",
    R_BPF_64_NODYLD32: "R_BPF_64_NODYLD32",
    R_BPF_64_RELATIVE: "R_BPF_64_RELATIVE",
    R_BPF_64_32: "R_BPF_64_32",
}

OP_CALL = 0x85
OP_LDDW = 0x18
INSN = 8

# ELF constants used in the output.
_SHT_PROGBITS, _SHT_STRTAB, _SHT_DYNAMIC, _SHT_REL, _SHT_DYNSYM = 1, 3, 6, 9, 11
_SHF_WRITE, _SHF_ALLOC, _SHF_EXECINSTR = 1, 2, 4
_PT_LOAD, _PT_DYNAMIC = 1, 2
_PF_X, _PF_W, _PF_R = 1, 2, 4
_DT_NULL, _DT_STRTAB, _DT_SYMTAB, _DT_STRSZ, _DT_SYMENT = 0, 5, 6, 10, 11
_DT_REL, _DT_RELSZ, _DT_RELENT, _DT_TEXTREL, _DT_FLAGS = 17, 18, 19, 22, 30
_DT_RELCOUNT = 0x6FFFFFFA
_DF_TEXTREL = 4
_STB_GLOBAL, _STT_NOTYPE, _STT_FUNC = 1, 0, 2
_EHDR, _PHDR, _SHDR, _SYM, _REL, _DYN = 64, 56, 64, 24, 16, 16

SOLANA_SYSCALLS: frozenset[str] = frozenset(
    {
        "abort",
        "sol_panic_",
        "sol_log_",
        "sol_log_64_",
        "sol_log_pubkey",
        "sol_log_compute_units_",
        "sol_log_data",
        "sol_create_program_address",
        "sol_try_find_program_address",
        "sol_sha256",
        "sol_keccak256",
        "sol_blake3",
        "sol_secp256k1_recover",
        "sol_poseidon",
        "sol_curve_validate_point",
        "sol_curve_group_op",
        "sol_curve_multiscalar_mul",
        "sol_alt_bn128_group_op",
        "sol_alt_bn128_compression",
        "sol_big_mod_exp",
        "sol_get_clock_sysvar",
        "sol_get_epoch_schedule_sysvar",
        "sol_get_fees_sysvar",
        "sol_get_rent_sysvar",
        "sol_get_last_restart_slot",
        "sol_get_epoch_rewards_sysvar",
        "sol_get_sysvar",
        "sol_get_epoch_stake",
        "sol_memcpy_",
        "sol_memmove_",
        "sol_memcmp_",
        "sol_memset_",
        "sol_invoke_signed_c",
        "sol_invoke_signed_rust",
        "sol_alloc_free_",
        "sol_set_return_data",
        "sol_get_return_data",
        "sol_get_stack_height",
        "sol_get_processed_sibling_instruction",
        "sol_remaining_compute_units",
    }
)
"""Names the Solana runtime registers as syscalls; any other undefined symbol is a link error."""


class LinkError(Exception):
    """The input cannot become an SBPF v0 program; the message names the object, section and fix."""


@dataclass
class _Piece:
    """One allocated input section placed into an output section."""

    obj: int
    index: int
    name: str
    kind: str  # "text" or "rodata"
    data: bytearray
    align: int
    offset: int = 0  # within its output section


@dataclass
class _Object:
    name: str
    elf: ELFFile
    symbols: list = field(default_factory=list)
    pieces: dict[int, _Piece] = field(default_factory=dict)


@dataclass
class LinkResult:
    """The linked program plus facts the tests and the build report use."""

    image: bytes
    entry: int
    text_size: int
    rodata_size: int
    syscalls: tuple[str, ...]
    relocations: tuple[tuple[int, int, str], ...]  # (offset, type, symbol name or "")


def _align(value: int, alignment: int) -> int:
    alignment = max(alignment, 1)
    return (value + alignment - 1) // alignment * alignment


def _load(index: int, name: str, data: bytes) -> _Object:
    try:
        elf = ELFFile(io.BytesIO(data))
    except Exception as exc:  # pyelftools raises several types on garbage
        raise LinkError(f"{name}: not an ELF object ({exc})") from exc
    if elf.elfclass != 64 or not elf.little_endian:
        raise LinkError(f"{name}: expected a 64-bit little-endian object (clang -target bpfel)")
    if elf["e_machine"] not in ("EM_BPF", EM_BPF):
        raise LinkError(f"{name}: e_machine is {elf['e_machine']}, expected EM_BPF (clang -target bpfel)")
    if elf["e_type"] != "ET_REL":
        raise LinkError(f"{name}: e_type is {elf['e_type']}, expected a relocatable object (clang -c)")
    obj = _Object(name=name, elf=elf)
    symtab = elf.get_section_by_name(".symtab")
    if isinstance(symtab, SymbolTableSection):
        obj.symbols = list(symtab.iter_symbols())
    for idx, sec in enumerate(elf.iter_sections()):
        flags = sec["sh_flags"]
        if not flags & SH_FLAGS.SHF_ALLOC:
            continue
        sname = sec.name
        if (
            flags & SH_FLAGS.SHF_WRITE
            or sec["sh_type"] == "SHT_NOBITS"
            or sname.startswith((".data", ".bss", ".tbss", ".tdata"))
        ):
            raise LinkError(
                f"{name}: writable section {sname!r} is not supported: SBPF v0 programs have no writable "
                "globals (make the data `static const`, or keep it on the stack or in an account)"
            )
        if flags & SH_FLAGS.SHF_EXECINSTR:
            kind = "text"
        elif sname.startswith(".rodata"):
            kind = "rodata"
        else:
            raise LinkError(f"{name}: unsupported allocated section {sname!r} (only .text* and .rodata*)")
        obj.pieces[idx] = _Piece(
            obj=index,
            index=idx,
            name=sname,
            kind=kind,
            data=bytearray(sec.data()),
            align=max(int(sec["sh_addralign"]), 1),
        )
    for sym in obj.symbols:
        if sym["st_shndx"] == "SHN_COMMON":
            raise LinkError(f"{name}: common symbol {sym.name!r} is a writable global, which SBPF v0 does not support")
    return obj


def link(
    objects: Sequence[bytes | Path | str] | bytes,
    *,
    entry: str = "entrypoint",
    syscalls: Iterable[str] = SOLANA_SYSCALLS,
) -> LinkResult:
    """Link clang BPF objects (bytes or paths) into an SBPF v0 shared object. Raises `LinkError`."""
    if isinstance(objects, bytes | bytearray):
        objects = [bytes(objects)]
    allowed = frozenset(syscalls)
    objs: list[_Object] = []
    for i, item in enumerate(objects):
        if isinstance(item, bytes | bytearray):
            objs.append(_load(i, f"object #{i}", bytes(item)))
        else:
            objs.append(_load(i, str(item), Path(item).read_bytes()))

    # Lay out the output sections (addresses are fixed before relocation: they depend only on sizes).
    text_pieces = [p for o in objs for p in o.pieces.values() if p.kind == "text"]
    ro_pieces = [p for o in objs for p in o.pieces.values() if p.kind == "rodata"]
    text_size = 0
    for p in text_pieces:
        if len(p.data) % INSN:
            raise LinkError(f"{objs[p.obj].name}: {p.name} size {len(p.data)} is not a multiple of 8")
        p.offset = _align(text_size, max(p.align, INSN))
        text_size = p.offset + len(p.data)
    ro_size = 0
    for p in ro_pieces:
        p.offset = _align(ro_size, p.align)
        ro_size = p.offset + len(p.data)
    if text_size == 0:
        raise LinkError("no code: the objects contain no executable section")
    has_ro = ro_size > 0
    n_phdr = 2 + (1 if has_ro else 0) + 1  # text, [rodata], dynamic data, PT_DYNAMIC
    text_addr = _align(_EHDR + n_phdr * _PHDR, INSN)
    ro_addr = _align(text_addr + text_size, 8)
    end_of_ro = ro_addr + ro_size if has_ro else text_addr + text_size

    def piece_addr(p: _Piece) -> int:
        return (text_addr if p.kind == "text" else ro_addr) + p.offset

    # Global symbol definitions across objects.
    globals_: dict[str, tuple[int, int]] = {}  # name -> (address, st_type is function-like)
    weak: set[str] = set()
    for o in objs:
        for sym in o.symbols:
            bind = sym["st_info"]["bind"]
            if bind not in ("STB_GLOBAL", "STB_WEAK") or not isinstance(sym["st_shndx"], int):
                continue
            piece = o.pieces.get(sym["st_shndx"])
            if piece is None:
                continue
            address = piece_addr(piece) + sym["st_value"]
            if sym.name in globals_ and sym.name not in weak:
                if bind == "STB_WEAK":
                    continue
                raise LinkError(f"{o.name}: duplicate definition of global symbol {sym.name!r}")
            globals_[sym.name] = (address, 1 if piece.kind == "text" else 0)
            if bind == "STB_WEAK":
                weak.add(sym.name)
            else:
                weak.discard(sym.name)
    if entry not in globals_ or not globals_[entry][1]:
        raise LinkError(
            f"missing entrypoint: no global function named {entry!r} "
            "(define `uint64_t entrypoint(const uint8_t *input)`)"
        )
    entry_addr = globals_[entry][0]

    def resolve(o: _Object, symidx: int) -> tuple[int | None, str, bool]:
        """(address or None when undefined, name, is_code)."""
        sym = o.symbols[symidx]
        shndx = sym["st_shndx"]
        if shndx == "SHN_UNDEF":
            if sym.name in globals_:
                addr, is_code = globals_[sym.name]
                return addr, sym.name, bool(is_code)
            return None, sym.name, False
        if shndx == "SHN_ABS":
            return int(sym["st_value"]), sym.name, False
        if not isinstance(shndx, int) or shndx not in o.pieces:
            sec_name = o.elf.get_section(shndx).name if isinstance(shndx, int) else str(shndx)
            raise LinkError(f"{o.name}: symbol {sym.name!r} lives in {sec_name!r}, which is not linked")
        piece = o.pieces[shndx]
        return piece_addr(piece) + sym["st_value"], sym.name or piece.name, piece.kind == "text"

    dyn_relocs: list[tuple[int, int, str]] = []  # (address, type, symbol name)
    for o in objs:
        for sec in o.elf.iter_sections():
            if sec["sh_type"] == "SHT_RELA":
                target = o.elf.get_section(sec["sh_info"])
                if target["sh_flags"] & SH_FLAGS.SHF_ALLOC:
                    raise LinkError(f"{o.name}: RELA section {sec.name!r} is unsupported (BPF objects use REL)")
                continue
            if sec["sh_type"] != "SHT_REL":
                continue
            piece = o.pieces.get(sec["sh_info"])
            if piece is None:
                continue  # relocations of debug or other non-allocated sections
            base = piece_addr(piece)
            for rel in sec.iter_relocations():
                _apply(o, piece, base, rel, resolve, allowed, dyn_relocs)

    image, syscall_names = _emit(
        text_addr=text_addr,
        ro_addr=ro_addr,
        has_ro=has_ro,
        end_of_ro=end_of_ro,
        text=_concat(text_pieces, text_size),
        rodata=_concat(ro_pieces, ro_size),
        entry_addr=entry_addr,
        entry_name=entry,
        dyn_relocs=dyn_relocs,
    )
    return LinkResult(
        image=image,
        entry=entry_addr,
        text_size=text_size,
        rodata_size=ro_size,
        syscalls=tuple(syscall_names),
        relocations=tuple(sorted(dyn_relocs)),
    )


def _concat(pieces: list[_Piece], size: int) -> bytes:
    out = bytearray(size)
    for p in pieces:
        out[p.offset : p.offset + len(p.data)] = p.data
    return bytes(out)


def _apply(o, piece, base, rel, resolve, allowed, dyn_relocs) -> None:
    """Resolve one input relocation in place and record the dynamic relocation it leaves, if any."""
    rtype = rel["r_info_type"]
    off = rel["r_offset"]
    where = f"{o.name}: {piece.name}+{off:#x}"
    data = piece.data
    if rtype == R_BPF_NONE:
        return
    if off + 8 > len(data) and rtype != R_BPF_64_ABS32:
        raise LinkError(f"{where}: relocation beyond the end of the section")
    addr, name, is_code = resolve(o, rel["r_info_sym"])
    here = base + off
    if rtype == R_BPF_64_32:
        if piece.kind != "text" or data[off] != OP_CALL:
            raise LinkError(f"{where}: R_BPF_64_32 on something other than a call instruction")
        if addr is None:
            if name not in allowed:
                raise LinkError(
                    f"{where}: undefined symbol {name!r} is neither defined in the objects nor a Solana "
                    "syscall (with -fno-builtin, define memcpy/memset yourself or call sol_memcpy_)"
                )
            struct.pack_into("<i", data, off + 4, -1)
            dyn_relocs.append((here, R_BPF_64_32, name))
            return
        if not is_code:
            raise LinkError(f"{where}: call to {name!r}, which is not code")
        delta = addr - (here + INSN)
        if delta % INSN:
            raise LinkError(f"{where}: call target {name!r} is not instruction aligned")
        struct.pack_into("<i", data, off + 4, delta // INSN)
        return
    if rtype == R_BPF_64_64:
        if piece.kind != "text" or data[off] != OP_LDDW or off + 16 > len(data):
            raise LinkError(f"{where}: R_BPF_64_64 on something other than an lddw instruction")
        if addr is None:
            raise LinkError(f"{where}: undefined data symbol {name!r}")
        addend = struct.unpack_from("<i", data, off + 4)[0]
        value = addr + addend
        if not 0 < value < 2**32:
            raise LinkError(f"{where}: address {value:#x} of {name!r} out of range")
        struct.pack_into("<I", data, off + 4, value & 0xFFFFFFFF)
        struct.pack_into("<I", data, off + 12, value >> 32)
        dyn_relocs.append((here, R_BPF_64_RELATIVE, ""))
        return
    if rtype == R_BPF_64_ABS64:
        if piece.kind != "rodata":
            raise LinkError(f"{where}: R_BPF_64_ABS64 outside .rodata is unsupported")
        if addr is None:
            raise LinkError(f"{where}: undefined data symbol {name!r}")
        addend = struct.unpack_from("<q", data, off)[0]
        value = addr + addend
        if not 0 < value < 2**32:
            raise LinkError(f"{where}: address {value:#x} of {name!r} out of range")
        # SBPF v0 quirk: the loader reads the address from the high 32-bit word of the slot.
        struct.pack_into("<II", data, off, 0, value)
        dyn_relocs.append((here, R_BPF_64_RELATIVE, ""))
        return
    label = RELOCATION_NAMES.get(rtype, f"type {rtype}")
    raise LinkError(f"{where}: unsupported relocation {label} against {name!r}")


def _emit(
    *,
    text_addr: int,
    ro_addr: int,
    has_ro: bool,
    end_of_ro: int,
    text: bytes,
    rodata: bytes,
    entry_addr: int,
    entry_name: str,
    dyn_relocs: list[tuple[int, int, str]],
) -> tuple[bytes, list[str]]:
    """Write the ELF image: headers, sections at address == offset, section header table last."""
    # Dynamic symbols: null, the entrypoint, then syscalls in order of first use.
    syscall_names: list[str] = []
    for _, rtype, name in sorted(dyn_relocs):
        if rtype == R_BPF_64_32 and name not in syscall_names:
            syscall_names.append(name)
    dynstr = bytearray(b"\0")
    name_off: dict[str, int] = {}
    for name in [entry_name, *syscall_names]:
        name_off[name] = len(dynstr)
        dynstr += name.encode() + b"\0"
    sym_index = {name: i + 2 for i, name in enumerate(syscall_names)}

    relative = sorted(r for r in dyn_relocs if r[1] == R_BPF_64_RELATIVE)
    symbolic = sorted(r for r in dyn_relocs if r[1] != R_BPF_64_RELATIVE)
    n_rel = len(relative) + len(symbolic)

    n_dyn = 7 + (4 if n_rel else 0)  # entries incl. DT_NULL
    dynamic_addr = _align(end_of_ro, 8)
    dynsym_addr = dynamic_addr + n_dyn * _DYN
    n_sym = 2 + len(syscall_names)
    dynstr_addr = dynsym_addr + n_sym * _SYM
    reldyn_addr = _align(dynstr_addr + len(dynstr), 8)
    reldyn_size = n_rel * _REL
    shstr_addr = reldyn_addr + reldyn_size

    sections = [".text"] + ([".rodata"] if has_ro else []) + [".dynamic", ".dynsym", ".dynstr"]
    sections += [".rel.dyn"] if n_rel else []
    sections += [".shstrtab"]
    shstrtab = bytearray(b"\0")
    sh_name: dict[str, int] = {}
    for s in sections:
        sh_name[s] = len(shstrtab)
        shstrtab += s.encode() + b"\0"
    shdr_off = _align(shstr_addr + len(shstrtab), 8)
    idx = {name: i + 1 for i, name in enumerate(sections)}

    dyn_entries = [(_DT_FLAGS, _DF_TEXTREL)]
    if n_rel:
        dyn_entries += [
            (_DT_REL, reldyn_addr),
            (_DT_RELSZ, reldyn_size),
            (_DT_RELENT, _REL),
            (_DT_RELCOUNT, len(relative)),
        ]
    dyn_entries += [
        (_DT_SYMTAB, dynsym_addr),
        (_DT_SYMENT, _SYM),
        (_DT_STRTAB, dynstr_addr),
        (_DT_STRSZ, len(dynstr)),
        (_DT_TEXTREL, 0),
        (_DT_NULL, 0),
    ]
    assert len(dyn_entries) == n_dyn

    img = bytearray(shdr_off + (len(sections) + 1) * _SHDR)
    # ELF header.
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    phdrs = [(_PT_LOAD, _PF_R | _PF_X, text_addr, len(text))]
    if has_ro:
        phdrs.append((_PT_LOAD, _PF_R, ro_addr, len(rodata)))
    phdrs.append((_PT_LOAD, _PF_R | _PF_W, dynamic_addr, shstr_addr - dynamic_addr))
    phdrs.append((_PT_DYNAMIC, _PF_R | _PF_W, dynamic_addr, n_dyn * _DYN))
    struct.pack_into(
        "<16sHHIQQQIHHHHHH",
        img,
        0,
        ident,
        ET_DYN,
        EM_BPF,
        1,
        entry_addr,
        _EHDR,
        shdr_off,
        0,
        _EHDR,
        _PHDR,
        len(phdrs),
        _SHDR,
        len(sections) + 1,
        idx[".shstrtab"],
    )
    for i, (ptype, pflags, addr, size) in enumerate(phdrs):
        align = 8 if ptype == _PT_DYNAMIC else 0x1000
        struct.pack_into("<IIQQQQQQ", img, _EHDR + i * _PHDR, ptype, pflags, addr, addr, addr, size, size, align)
    img[text_addr : text_addr + len(text)] = text
    if has_ro:
        img[ro_addr : ro_addr + len(rodata)] = rodata
    for i, (tag, val) in enumerate(dyn_entries):
        struct.pack_into("<qQ", img, dynamic_addr + i * _DYN, tag, val)
    # .dynsym: entry 0 is null; `entrypoint` is a defined global function; syscalls are undefined notypes.
    struct.pack_into(
        "<IBBHQQ",
        img,
        dynsym_addr + _SYM,
        name_off[entry_name],
        (_STB_GLOBAL << 4) | _STT_FUNC,
        0,
        idx[".text"],
        entry_addr,
        0,
    )
    for name, si in sym_index.items():
        struct.pack_into(
            "<IBBHQQ", img, dynsym_addr + si * _SYM, name_off[name], (_STB_GLOBAL << 4) | _STT_NOTYPE, 0, 0, 0, 0
        )
    img[dynstr_addr : dynstr_addr + len(dynstr)] = dynstr
    for i, (addr, rtype, name) in enumerate(relative + symbolic):
        sym = sym_index[name] if rtype == R_BPF_64_32 else 0
        struct.pack_into("<QQ", img, reldyn_addr + i * _REL, addr, (sym << 32) | rtype)
    img[shstr_addr : shstr_addr + len(shstrtab)] = shstrtab

    # Section headers: (name, type, flags, addr, offset, size, link, info, align, entsize).
    shdrs = [(".text", _SHT_PROGBITS, _SHF_ALLOC | _SHF_EXECINSTR, text_addr, len(text), 0, 0, 8, 0)]
    if has_ro:
        shdrs.append((".rodata", _SHT_PROGBITS, _SHF_ALLOC, ro_addr, len(rodata), 0, 0, 8, 0))
    shdrs += [
        (".dynamic", _SHT_DYNAMIC, _SHF_ALLOC | _SHF_WRITE, dynamic_addr, n_dyn * _DYN, idx[".dynstr"], 0, 8, _DYN),
        (".dynsym", _SHT_DYNSYM, _SHF_ALLOC, dynsym_addr, n_sym * _SYM, idx[".dynstr"], 1, 8, _SYM),
        (".dynstr", _SHT_STRTAB, _SHF_ALLOC, dynstr_addr, len(dynstr), 0, 0, 1, 0),
    ]
    if n_rel:
        shdrs.append((".rel.dyn", _SHT_REL, _SHF_ALLOC, reldyn_addr, reldyn_size, idx[".dynsym"], 0, 8, _REL))
    shdrs.append((".shstrtab", _SHT_STRTAB, 0, 0, len(shstrtab), 0, 0, 1, 0))
    for i, (name, stype, flags, addr, size, link_, info, align, entsize) in enumerate(shdrs, start=1):
        offset = shstr_addr if name == ".shstrtab" else addr
        struct.pack_into(
            "<IIQQQQIIQQ",
            img,
            shdr_off + i * _SHDR,
            sh_name[name],
            stype,
            flags,
            addr,
            offset,
            size,
            link_,
            info,
            align,
            entsize,
        )
    return bytes(img), syscall_names


def link_files(inputs: Sequence[Path | str], output: Path | str, *, entry: str = "entrypoint") -> LinkResult:
    """Link object files into `output` (parent directories are created)."""
    result = link(list(inputs), entry=entry)
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(result.image)
    return result


def link_code(text: bytes, *, entry: str = "entrypoint") -> bytes:
    """An SBPF v0 program from hand-assembled code that needs no relocation, entered at its first instruction:
    for fixtures such as a program that accepts every instruction (`mov64 r0, 0; exit`)."""
    if not text or len(text) % INSN:
        raise LinkError(f"code must be a non-empty multiple of {INSN} bytes, got {len(text)}")
    text_addr = _align(_EHDR + 3 * _PHDR, INSN)  # text, dynamic data, PT_DYNAMIC
    end = text_addr + len(text)
    image, _ = _emit(text_addr=text_addr, ro_addr=_align(end, 8), has_ro=False, end_of_ro=end, text=text,
                     rodata=b"", entry_addr=text_addr, entry_name=entry, dyn_relocs=[])  # fmt: skip
    return image
