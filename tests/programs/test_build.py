"""The build (programs/toolchain/build.py): reproducible bytes, output under the chosen directory, unchanged
builds reused, concurrent builds that never expose half a program, a prebuilt program checked with no compiler
anywhere, and clear errors (exit 3) when clang is missing or the C breaks the SBPF rules (SPEC section 9)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from programs.toolchain import build as build_module
from programs.toolchain.build import SOURCE_DIR, BuildError, MissingCompiler, build, default_out_dir, main


def test_build_is_reproducible(clang: str, tmp_path: Path, choir_so: bytes) -> None:
    first = build(tmp_path / "a", clang=clang)
    second = build(tmp_path / "b", clang=clang)
    assert first.path == tmp_path / "a" / "choir.so"
    assert first.path.read_bytes() == second.path.read_bytes() == choir_so
    assert first.sha256 == second.sha256
    assert set(first.link.syscalls) <= {
        "sol_log_",
        "sol_log_64_",
        "sol_log_pubkey",
        "sol_create_program_address",
        "sol_invoke_signed_c",
        "sol_get_clock_sysvar",
    }


def test_missing_clang_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CHOIR_CLANG", raising=False)
    assert build_module.find_clang() is None
    with pytest.raises(MissingCompiler, match="apt-get install -y clang-16 llvm-16"):
        build(tmp_path / "out")


def test_c_that_breaks_the_stack_limit_is_a_clear_error(clang: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.c").write_text(
        "extern void sol_log_(const char *, unsigned long long);\n"
        "unsigned long long entrypoint(const unsigned char *in) {\n"
        "    volatile char buf[600];\n"
        "    for (int i = 0; i < 600; i++) buf[i] = in[i];\n"
        "    sol_log_((const char *)buf, 600);\n"
        "    return 0;\n"
        "}\n"
    )
    with pytest.raises(BuildError, match="stack limit of 512 bytes"):
        build(tmp_path / "out", source_dir=src, clang=clang)


def test_command_line_reports_the_artifact(clang: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "choir.so") in out and "sha256" in out


def test_an_unchanged_build_is_reused_and_any_changed_input_rebuilds(clang: str, tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(SOURCE_DIR, source)
    first = build(tmp_path / "out", source_dir=source, clang=clang)
    again = build(tmp_path / "out", source_dir=source, clang=clang)
    assert first.link is not None and again.link is None and again.sha256 == first.sha256
    header = source / "errors.h"
    header.write_text(header.read_text() + "\n/* a header change */\n")
    assert build(tmp_path / "out", source_dir=source, clang=clang).link is not None
    first.path.write_bytes(b"tampered")
    rebuilt = build(tmp_path / "out", source_dir=source, clang=clang)
    assert rebuilt.link is not None and rebuilt.path.read_bytes() != b"tampered"


def _variant(source: Path) -> None:
    """A source tree whose program differs in bytes: one more (unused, exported) function."""
    extra = source / "variant.c"
    extra.write_text("unsigned long long choir_variant(unsigned long long x) { return x * 7 + 3; }\n")


def test_concurrent_builds_never_expose_half_a_program(clang: str, tmp_path: Path) -> None:
    sources = [tmp_path / "a", tmp_path / "b"]
    for source in sources:
        shutil.copytree(SOURCE_DIR, source)
    _variant(sources[1])
    whole = {hashlib.sha256(build(tmp_path / s.name, source_dir=s, clang=clang).path.read_bytes()).hexdigest()
             for s in sources}  # fmt: skip
    assert len(whole) == 2
    shared = tmp_path / "shared"
    script = "import sys; from programs.toolchain.build import build\n" + (
        "for source in sys.argv[3:]: build(sys.argv[1], source_dir=source, clang=sys.argv[2])"
    )
    order = [str(s) for s in sources]
    builders = [
        subprocess.Popen([sys.executable, "-c", script, str(shared), clang, *(order if i % 2 else order[::-1])])
        for i in range(3)
    ]
    seen = set()
    while any(b.poll() is None for b in builders):
        with contextlib.suppress(FileNotFoundError):
            seen.add(hashlib.sha256((shared / "choir.so").read_bytes()).hexdigest())
    assert [b.returncode for b in builders] == [0] * 3
    assert seen and seen <= whole
    assert not [p.name for p in shared.iterdir() if p.name not in ("choir.so", "choir.so.inputs")]


def test_builds_go_to_a_user_directory_outside_a_checkout(tmp_path: Path) -> None:
    checkout, installed = tmp_path / "checkout", tmp_path / "site-packages"
    checkout.mkdir()
    installed.mkdir()
    (checkout / "pyproject.toml").write_text("")
    assert default_out_dir({}, checkout) == checkout / "build"
    assert default_out_dir({"XDG_CACHE_HOME": str(tmp_path / "cache")}, installed) == tmp_path / "cache" / (
        "choir-toolkit/build"
    )
    assert default_out_dir({"CHOIR_BUILD_DIR": str(tmp_path / "mine")}, checkout) == tmp_path / "mine"


def _no_compiler_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no clang on PATH (only the venv's scripts) and an empty default build directory."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if k != "CHOIR_CLANG"}
    env.update(PATH=str(bin_dir), CHOIR_BUILD_DIR=str(tmp_path / "empty-build"), CI="1")
    return env


def test_a_prebuilt_program_is_checked_without_any_compiler(choir_so: bytes, tmp_path: Path) -> None:
    prebuilt = tmp_path / "elsewhere" / "mine.so"
    prebuilt.parent.mkdir()
    prebuilt.write_bytes(choir_so)
    env = _no_compiler_env(tmp_path)
    choir = str(Path(sys.executable).parent / "choir")
    command = [choir, "check", "--target", "program", "--program", str(prebuilt), "--soak", "300"]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "empty-build").exists()
    missing = subprocess.run([*command[:4], "--soak", "10"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode == 3, missing.stderr
    assert "apt-get install -y clang-16 llvm-16" in missing.stderr and "Traceback" not in missing.stderr


def test_program_build_without_a_compiler_exits_3_naming_the_fix(tmp_path: Path) -> None:
    env = _no_compiler_env(tmp_path)
    choir = str(Path(sys.executable).parent / "choir")
    done = subprocess.run([choir, "program", "build", "--no-install-clang"], env=env, capture_output=True, text=True)
    assert done.returncode == 3
    assert "apt-get install -y clang-16 llvm-16" in done.stderr and "Traceback" not in done.stderr
