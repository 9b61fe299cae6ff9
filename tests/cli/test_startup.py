"""Listing commands start light: what `choir --help`, `--version`, `sim scenarios` and `sim agents` import.

Why: a listing command should answer in under half a second (its timings are `bench/bench_cli.py`'s, never a
threshold here), and what it costs is mostly what it imports: pandas, SimPy or a web stack for a help text or a
list of six files is the whole difference. Each command runs in a fresh interpreter, which reports the modules
it ended with."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "pydantic",  # typer coerces option values with it: only once a value is given (choir.coercion)
    "pandas",
    "numpy",
    "pyarrow",
    "simpy",
    "networkx",
    "matplotlib",
    "dask",
    "distributed",
    "SALib",
    "optuna",
    "hypothesis",
    "solders",
    "fastapi",
    "httpx",
    "qdrant_client",
)
PROBE = """
import json, sys
from choir.cli import app
try:
    app(sys.argv[2:])
except SystemExit as done:
    code = done.code
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def modules_after(tmp_path: Path, *args: str) -> set[str]:
    report = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c", PROBE, str(report), *args], cwd=ROOT, capture_output=True, timeout=120)
    result = json.loads(report.read_text())
    assert result["code"] == 0, args
    return {name.split(".")[0] for name in result["modules"]}


@pytest.mark.parametrize(
    "args", [("--help",), ("--version",), ("sim", "scenarios"), ("sim", "agents"), ("sim", "--help")], ids=" ".join
)
def test_a_listing_command_imports_nothing_heavy(tmp_path: Path, args: tuple[str, ...]) -> None:
    loaded = modules_after(tmp_path, *args)
    assert "typer" in loaded  # the probe saw the command run
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_given_value_is_still_coerced_and_checked(tmp_path: Path) -> None:
    """The deferred coercion still coerces (and refuses) what is given: pydantic comes in with the first value."""
    assert "pydantic" in modules_after(tmp_path, "stake", "--balance", "300", "--coauthors", "3")
    bad = subprocess.run(
        [sys.executable, "-m", "choir.cli", "stake", "--balance", "300", "--coauthors", "x"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "Invalid value for '--coauthors'" in bad.stderr
