"""Session fixtures for the program tests: a BPF-capable clang, C snippets compiled to objects, and the Choir
program built once per session (SPEC section 9).

Tests that need clang skip with the install command when no clang can be found; CI installs it with
`apt-get install -y clang-16 llvm-16`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from programs.toolchain.build import CFLAGS, INSTALL_COMMAND, SOURCE_DIR, BuildResult, build, find_clang


@pytest.fixture(scope="session")
def clang() -> str:
    path = find_clang()
    if path is None:
        pytest.skip(f"no BPF-capable clang on PATH; install it with `{' '.join(INSTALL_COMMAND)}`")
    return path


@pytest.fixture(scope="session")
def compile_c(clang: str, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., bytes]:
    """Compile a C snippet with the program's flags (the program's headers on the include path) and return the
    object bytes."""
    directory = tmp_path_factory.mktemp("snippets")

    def run(source: str, name: str = "snippet") -> bytes:
        src = directory / f"{name}.c"
        obj = directory / f"{name}.o"
        src.write_text(source)
        flags = [f for f in CFLAGS if f != "-Werror"]
        command = [clang, *flags, "-I", str(SOURCE_DIR), "-c", str(src), "-o", str(obj)]
        subprocess.run(command, check=True, capture_output=True)
        return obj.read_bytes()

    return run


@pytest.fixture(scope="session")
def choir_build(clang: str, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The Choir program, built once per session."""
    return build(tmp_path_factory.mktemp("build"), clang=clang)


@pytest.fixture(scope="session")
def choir_so(choir_build: BuildResult) -> bytes:
    return Path(choir_build.path).read_bytes()


@pytest.fixture(scope="session")
def access_bug_images(clang: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Every mutant of `access_bugs.ACCESS_BUGS`, built once per session."""
    from tests.programs.access_bugs import ACCESS_BUGS, build_mutant

    return {name: build_mutant(name, tmp_path_factory.mktemp(name), clang) for name in ACCESS_BUGS}
