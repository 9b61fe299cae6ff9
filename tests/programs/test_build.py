"""The build (programs/toolchain/build.py): reproducible bytes, output under the chosen directory, and clear
errors when clang is missing or the C breaks the SBPF rules (SPEC section 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from programs.toolchain import build as build_module
from programs.toolchain.build import BuildError, build, main


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
        "sol_memcpy_",
        "sol_create_program_address",
        "sol_invoke_signed_c",
        "sol_get_clock_sysvar",
    }


def test_missing_clang_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CHOIR_CLANG", raising=False)
    assert build_module.find_clang() is None
    with pytest.raises(BuildError, match="apt-get install -y clang-16 llvm-16"):
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
