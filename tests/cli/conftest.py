"""Run `choir` in this process through its real entry point (`ChoirApp.__call__`, which decides exit codes and
error lines), at a fixed terminal width."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from choir.cli import app


@dataclass
class Result:
    code: int
    out: str
    err: str


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    def run(*args: str, columns: int = 80) -> Result:
        monkeypatch.setenv("COLUMNS", str(columns))
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            app(list(args))
        captured = capsys.readouterr()
        return Result(exit_info.value.code, captured.out, captured.err)  # type: ignore[arg-type]

    return run
