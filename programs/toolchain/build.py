"""Build the Choir program: compile `programs/choir/**/*.c` with Debian's clang and link with our own linker
(SPEC section 9).

Why this shape: the Solana platform tools are not available here, but Debian's `clang-16` targets BPF, and
`programs/toolchain/link.py` turns its objects into an SBPF v0 `.so`. The flags are SPEC section 9's
(`-target bpfel -mcpu=v1`: v3 emits 32-bit jumps the verifier rejects; freestanding, no builtins, no stack
protector). The build is reproducible: objects are compiled from relative paths in a fixed order with no
debug info, and the linker is deterministic, so the same sources give the same bytes.

Run `python -m programs.toolchain.build [--install-clang] [--out build]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from programs.toolchain.link import LinkResult, link

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = ROOT / "programs" / "choir"
DEFAULT_OUT = ROOT / "build"
PROGRAM_NAME = "choir"

CFLAGS = (
    "-target",
    "bpfel",
    "-mcpu=v1",
    "-O2",
    "-ffreestanding",
    "-fno-builtin",
    "-nostdlib",
    "-fno-stack-protector",
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
)
CLANG_CANDIDATES = ("clang-16", "clang-19", "clang-18", "clang-17", "clang")
INSTALL_COMMAND = ("apt-get", "install", "-y", "clang-16", "llvm-16")


class BuildError(Exception):
    """The program could not be built; the message says what to do."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    sha256: str
    size: int
    link: LinkResult


def find_clang() -> str | None:
    """The clang to use: $CHOIR_CLANG, else the first BPF-capable clang on PATH."""
    env = os.environ.get("CHOIR_CLANG")
    if env:
        return shutil.which(env)
    for name in CLANG_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def install_clang() -> str:
    """Install Debian's clang-16 with apt-get (as root, or through sudo). Returns the clang path or raises
    BuildError saying what failed."""
    prefix: list[str] = []
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise BuildError(f"clang is missing; install it as root: {' '.join(INSTALL_COMMAND)}")
        prefix = ["sudo"]
    subprocess.run([*prefix, "apt-get", "update"], capture_output=True, check=False)  # best effort
    done = subprocess.run([*prefix, *INSTALL_COMMAND], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BuildError(f"`{' '.join([*prefix, *INSTALL_COMMAND])}` failed:\n{done.stderr[-2000:]}")
    clang = find_clang()
    if clang is None:
        raise BuildError(f"clang still missing after `{' '.join(INSTALL_COMMAND)}`")
    return clang


def sources(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """Every C file of the program, in a stable order."""
    return sorted(source_dir.rglob("*.c"), key=lambda p: p.relative_to(source_dir).as_posix())


def compile_objects(clang: str, source_dir: Path, obj_dir: Path) -> list[Path]:
    obj_dir.mkdir(parents=True, exist_ok=True)
    objects = []
    for src in sources(source_dir):
        rel = src.relative_to(source_dir)
        obj = obj_dir / (rel.as_posix().replace("/", "__")[:-2] + ".o")
        command = [clang, *CFLAGS, "-I", ".", "-c", rel.as_posix(), "-o", str(obj.resolve())]
        done = subprocess.run(command, cwd=source_dir, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildError(f"{' '.join(command)}\n{done.stderr}")
        objects.append(obj)
    return objects


def build(
    out_dir: Path | str = DEFAULT_OUT,
    *,
    source_dir: Path | str = SOURCE_DIR,
    clang: str | None = None,
    allow_install: bool = False,
) -> BuildResult:
    """Compile and link the program into `out_dir/choir.so`. With `allow_install`, a missing clang is installed
    with apt-get; otherwise a missing clang is a BuildError naming the install command."""
    clang = clang or find_clang()
    if clang is None:
        if not allow_install:
            raise BuildError(
                "no clang found (looked for " + ", ".join(CLANG_CANDIDATES) + "); install Debian's with "
                f"`{' '.join(INSTALL_COMMAND)}`, or set CHOIR_CLANG"
            )
        clang = install_clang()
    out = Path(out_dir)
    objects = compile_objects(clang, Path(source_dir), out / "obj")
    result = link(objects)
    target = out / f"{PROGRAM_NAME}.so"
    target.write_bytes(result.image)
    return BuildResult(target, hashlib.sha256(result.image).hexdigest(), len(result.image), result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="output directory (default: build/)")
    parser.add_argument("--install-clang", action="store_true", help="apt-get install clang-16 when missing")
    args = parser.parse_args(argv)
    try:
        result = build(args.out, allow_install=args.install_clang)
    except BuildError as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 1
    print(f"{result.path} {result.size} bytes sha256 {result.sha256}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
