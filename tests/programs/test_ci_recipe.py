"""The CI recipe (docs/ci.md): the workflow file is valid YAML and its `choir check` command, run exactly as
written (with a small time budget), property-checks a prebuilt program and writes the report it uploads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from xml.etree import ElementTree as ET

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "ci" / "choir-check.yml"


def _check_step(workflow: dict) -> tuple[dict, dict]:
    job = workflow["jobs"]["property-check"]
    (step,) = [s for s in job["steps"] if "choir check" in s.get("run", "")]
    return job, step


def test_the_workflow_is_well_formed() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert set(workflow["jobs"]) == {"build", "property-check"}
    job, step = _check_step(workflow)
    assert job["needs"] == "build" and job["env"]["CHOIR_CHECK_SECONDS"]
    uploads = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and uploads[-1]["if"] == "always()" and uploads[-1]["with"]["path"] == "reports/"
    for flag in ("--target program", "--program", "--idl", "--seconds", "--junit reports/", "--failures reports/"):
        assert flag in step["run"], flag


def test_the_workflow_command_runs_as_written(choir_so: bytes, tmp_path: Path) -> None:
    _, step = _check_step(yaml.safe_load(WORKFLOW.read_text()))
    (tmp_path / "prebuilt" / "build").mkdir(parents=True)
    (tmp_path / "prebuilt" / "build" / "choir.so").write_bytes(choir_so)
    (tmp_path / "prebuilt" / "programs" / "choir").mkdir(parents=True)
    shutil.copy(ROOT / "programs" / "choir" / "idl.json", tmp_path / "prebuilt" / "programs" / "choir" / "idl.json")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    env = {**os.environ, "CHOIR_CHECK_SECONDS": "5", "GITHUB_ACTIONS": "true", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every invariant held" in done.stdout and "time budget of 5 s spent" in done.stdout
    suite = ET.parse(tmp_path / "reports" / "choir-check.xml").getroot()
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["target"] == "program" and props["seed"].isdigit()
