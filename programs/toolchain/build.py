"""Build the Choir program: compile `programs/choir/**/*.c` with Debian's clang and link with our own linker
(SPEC section 9).

Why this shape: the Solana platform tools are not available here, but Debian's `clang-16` targets BPF, and
`programs/toolchain/link.py` turns its objects into an SBPF v0 `.so`. The flags are SPEC section 9's
(`-target bpfel -mcpu=v1`: v3 emits 32-bit jumps the verifier rejects; freestanding, no builtins, no stack
protector). The build is reproducible: objects are compiled from relative paths in a fixed order with no
debug info, and the linker is deterministic, so the same sources give the same bytes.

Why builds are safe to run at once (parallel campaigns, mutation testing, CI jobs sharing a checkout): objects go
to a private temporary directory, the `.so` is written to a temporary file and renamed over the old one (a reader
sees the old program or the new one, never half of one), and a build whose inputs (every source and header, the
flags, the compiler's version and the toolchain's own code) hash the same as the last one is reused, not redone.
The output goes to `$CHOIR_BUILD_DIR` when set, else `build/` of the source checkout, else (an installed wheel,
whose package directory is no place to write) the user's cache, `$XDG_CACHE_HOME/choir-toolkit/build`.

Run `python -m programs.toolchain.build [--install-clang] [--out build]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from programs.toolchain.link import LinkResult, link

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = ROOT / "programs" / "choir"
PROGRAM_NAME = "choir"
TOOLCHAIN = (Path(__file__).resolve(), Path(__file__).resolve().with_name("link.py"))


def default_out_dir(env: os._Environ[str] | dict[str, str] = os.environ, root: Path = ROOT) -> Path:
    """Where builds go by default: $CHOIR_BUILD_DIR, else `build/` of a source checkout (a `pyproject.toml` next
    to the packages), else the user's cache directory (installed from a wheel)."""
    if env.get("CHOIR_BUILD_DIR"):
        return Path(env["CHOIR_BUILD_DIR"])
    if (root / "pyproject.toml").is_file():
        return root / "build"
    cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return cache / "choir-toolkit" / "build"


DEFAULT_OUT = default_out_dir()

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


class MissingCompiler(BuildError):
    """No BPF-capable clang: the message names the install command."""


@dataclass(frozen=True)
class BuildResult:
    """The program at `path`; `link` is the linker's report, None when an unchanged earlier build was reused."""

    path: Path
    sha256: str
    size: int
    link: LinkResult | None


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


def inputs_digest(clang: str, source_dir: Path) -> str:
    """What decides the program's bytes, hashed: every source and header (path and content), the flags, the
    compiler's version banner and the toolchain's own code."""
    digest = hashlib.sha256()
    files = sorted(p for p in source_dir.rglob("*") if p.suffix in (".c", ".h") and p.is_file())
    for path in files:
        digest.update(path.relative_to(source_dir).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update("\0".join(CFLAGS).encode())
    version = subprocess.run([clang, "--version"], capture_output=True, check=False)
    digest.update(version.stdout)
    for path in TOOLCHAIN:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _write_atomically(target: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `target`, then rename it over `target` (atomic on POSIX)."""
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _reusable(target: Path, stamp: Path, inputs: str) -> BuildResult | None:
    """The earlier build at `target` if its stamp names these inputs and the bytes it recorded."""
    try:
        recorded_inputs, recorded_sha = stamp.read_text().split()
        image = target.read_bytes()
    except (OSError, ValueError):
        return None
    sha = hashlib.sha256(image).hexdigest()
    if recorded_inputs != inputs or recorded_sha != sha:
        return None
    return BuildResult(target, sha, len(image), None)


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
    out_dir: Path | str | None = None,
    *,
    source_dir: Path | str = SOURCE_DIR,
    clang: str | None = None,
    allow_install: bool = False,
) -> BuildResult:
    """Compile and link the program into `out_dir/choir.so` (default: `default_out_dir()`), or reuse the build
    there when its inputs are unchanged (see the module docstring). With `allow_install`, a missing clang is
    installed with apt-get; otherwise a missing clang is a BuildError naming the install command."""
    clang = clang or find_clang()
    if clang is None:
        if not allow_install:
            raise MissingCompiler(
                "no clang found (looked for " + ", ".join(CLANG_CANDIDATES) + "); install Debian's with "
                f"`{' '.join(INSTALL_COMMAND)}`, or set CHOIR_CLANG"
            )
        clang = install_clang()
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT
    target = out / f"{PROGRAM_NAME}.so"
    stamp = out / f"{PROGRAM_NAME}.so.inputs"
    inputs = inputs_digest(clang, Path(source_dir))
    reused = _reusable(target, stamp, inputs)
    if reused is not None:
        return reused
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildError(f"cannot create the build directory {out}: {error} (set CHOIR_BUILD_DIR)") from None
    with tempfile.TemporaryDirectory(prefix="choir-obj-") as obj_dir:
        result = link(compile_objects(clang, Path(source_dir), Path(obj_dir)))
    sha = hashlib.sha256(result.image).hexdigest()
    _write_atomically(target, result.image)
    _write_atomically(stamp, f"{inputs} {sha}\n".encode())
    return BuildResult(target, sha, len(result.image), result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"output directory (default: {DEFAULT_OUT})")
    parser.add_argument("--install-clang", action="store_true", help="apt-get install clang-16 when missing")
    args = parser.parse_args(argv)
    try:
        result = build(args.out, allow_install=args.install_clang)
    except BuildError as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 3
    print(f"{result.path} {result.size} bytes sha256 {result.sha256}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
