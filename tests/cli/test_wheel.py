"""The package as a user installs it: a wheel built from this repository, installed without extras into a fresh
virtual environment, runs `choir --version` and `choir demo` (the examples ship inside the package) from a
directory outside the checkout, and a command whose extra is missing says how to install it (exit 3).

With the `program` extra added, `choir program build` writes into the user cache, not site-packages.
Built once per session (module fixture) with the project's pinned uv, from its cache when it can (`--offline`),
else from the package index."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"


def _uv(*args: str, cwd: Path = ROOT) -> None:
    subprocess.run([str(UV), *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `choir` executable of a fresh virtual environment with only the wheel and its required dependencies."""
    if not UV.exists():
        pytest.skip("the pinned uv is installed by `make`; run the tests through `make test`")
    work = tmp_path_factory.mktemp("wheel")
    _uv("build", "--wheel", "--out-dir", str(work / "dist"))
    (wheel,) = (work / "dist").glob("choir_toolkit-*.whl")
    _uv("venv", "--quiet", "--python", "3.11", str(work / "venv"))
    python = str(work / "venv" / "bin" / "python")
    try:
        _uv("pip", "install", "--quiet", "--offline", "--python", python, str(wheel))
    except subprocess.CalledProcessError:  # a dependency not in the cache yet
        _uv("pip", "install", "--quiet", "--python", python, str(wheel))
    return work / "venv" / "bin" / "choir"


def _run(choir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(choir), *args], cwd=cwd, capture_output=True, text=True, timeout=120, env={"COLUMNS": "80", "PATH": ""}
    )


def test_version_and_demo_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    run = _run(installed, "--version", cwd=tmp_path)
    assert run.returncode == 0 and run.stdout == f"choir-toolkit {version}\n"
    run = _run(installed, "demo", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    examples = sorted(path.name for path in (ROOT / "examples").glob("*.jsonl"))
    assert all(name in run.stdout for name in examples) and "FAILED" not in run.stdout


@pytest.mark.parametrize(
    ("args", "extra"),
    [(["sim", "run", "baseline"], "sim"), (["check", "--soak", "10"], "properties")],
    ids=["sim", "check"],
)
def test_a_missing_extra_names_its_install_command(
    installed: Path, tmp_path: Path, args: list[str], extra: str
) -> None:
    run = _run(installed, *args, cwd=tmp_path)
    assert run.returncode == 3
    assert run.stderr.count("\n") == 1 and f"pip install 'choir-toolkit[{extra}]'" in run.stderr
    assert not any(tmp_path.iterdir())  # nothing was written


def test_program_build_goes_to_the_user_cache(installed: Path, tmp_path: Path) -> None:
    """With the `program` extra, `choir program build` from a wheel writes into the user's cache, not into
    site-packages or the current directory. Runs last: it adds the extra to the shared environment."""
    python = str(installed.with_name("python"))
    wheel = next(installed.parents[2].joinpath("dist").glob("choir_toolkit-*.whl"))
    try:
        _uv("pip", "install", "--quiet", "--offline", "--python", python, f"{wheel}[program]")
    except subprocess.CalledProcessError:
        _uv("pip", "install", "--quiet", "--python", python, f"{wheel}[program]")
    cache, cwd = tmp_path / "cache", tmp_path / "cwd"
    cwd.mkdir()
    run = subprocess.run(
        [str(installed), "program", "build", "--no-install-clang"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(cache)},
    )
    if run.returncode == 3 and "clang" in run.stderr:
        pytest.skip(f"no BPF-capable clang here: {run.stderr.strip()}")
    assert run.returncode == 0, run.stderr
    built = cache / "choir-toolkit" / "build" / "choir.so"
    assert built.is_file() and str(built) in run.stdout.replace("\n", "")
    assert not any(cwd.iterdir())
    site = installed.parents[1] / "lib"
    assert not list(site.glob("python*/site-packages/build"))
