"""docs/spec.md is the project's own specification: its tables must say what `choir_model` does, and the
repository must point to it, not to documents outside the clone or to an issue tracker it does not have."""

from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import fields
from pathlib import Path

from choir_model import ERRORS_BY_CODE, INVARIANTS, POLICIES, STEP_TYPES, Params

ROOT = Path(__file__).resolve().parents[2]
SPEC = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")


def _section(number: int) -> str:
    return SPEC.split(f"\n## {number}. ", 1)[1].split("\n## ", 1)[0]


def test_error_table_is_the_models() -> None:
    rows = dict(re.findall(r"^\| (60\d\d) \| `(\w+)` \|", _section(7), flags=re.M))
    assert {int(code): name for code, name in rows.items()} == {c: e.name for c, e in ERRORS_BY_CODE.items()}


def test_parameter_table_names_every_params_field() -> None:
    named = set(re.findall(r"^\| `(\w+)` \|", _section(1), flags=re.M))
    assert named == {f.name for f in fields(Params)}


def test_invariants_policies_and_operations_are_all_specified() -> None:
    table = _section(6)
    for invariant in INVARIANTS.values():
        assert f"| {invariant.number} | `{invariant.name}` |" in table
    for name in POLICIES:
        assert f"| `{name}`" in _section(4)
    for op in STEP_TYPES:
        assert f"`{op}(" in _section(3) and f"| `{op}` |" in _section(8)


def _tracked(*patterns: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", *patterns], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / line for line in out.stdout.splitlines()]


def test_no_pointer_outside_the_repository_and_no_issue_numbers() -> None:
    offenders = []
    for path in _tracked("*.py", "*.md", "*.c", "*.h", "*.toml"):
        if not path.exists():  # deleted in the work tree, not yet committed
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"[Ii]ssue [0-9]+|\.\./shared|shared/SPEC|/work/", line) and path != Path(__file__):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_license_matches_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License") and "choir-toolkit contributors" in license_text
