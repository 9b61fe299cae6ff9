"""The default CI campaign against the program: `choir check --target program` in lockstep with the model, reaching
every instruction, every error code and every settlement outcome (the coverage table of the property suite)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from choir.cli import app


def test_check_target_program_reaches_everything(choir_so: bytes, tmp_path: Path) -> None:
    # The soak phase alone: Hypothesis's short examples add little over LiteSVM at ~600 lockstep steps/s here.
    result = CliRunner().invoke(
        app, ["check", "--target", "program", "--soak", "20000", "--require-coverage", "--failures", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "every invariant held" in result.stdout
    assert "agreement with program" in result.stdout
