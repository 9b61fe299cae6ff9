"""Every error the backend answers has a name from the one status table (`reference_backend.errors.STATUS_OF`),
and every SPEC error is built from the model's own error class, so no status or program code is written twice."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from choir_model.errors import ERRORS_BY_NAME
from reference_backend.errors import STATUS_OF, ApiError, http_error

PACKAGE = Path(__file__).resolve().parents[2] / "reference_backend"


@pytest.mark.parametrize("name", sorted(ERRORS_BY_NAME))
def test_a_spec_error_answers_its_table_status_and_its_program_code(name: str) -> None:
    error = ApiError.of(ERRORS_BY_NAME[name]("detail"))
    assert (error.code, error.status, error.program_code, error.message) == (
        name, STATUS_OF[name], ERRORS_BY_NAME[name].code, "detail"
    )  # fmt: skip


def test_the_api_own_errors_have_no_program_code() -> None:
    for name in set(STATUS_OF) - set(ERRORS_BY_NAME):
        error = ApiError(name, "why")
        assert error.status == STATUS_OF[name] and error.program_code is None


def test_an_unknown_error_name_cannot_be_answered() -> None:
    with pytest.raises(KeyError):
        ApiError("NoSuchError", "a name outside the table has no status")


def test_framework_errors_take_the_names_of_the_table() -> None:
    for status in (400, 404, 405):
        error = http_error(status, "from the framework")
        assert STATUS_OF[error.code] == error.status == status


def calls_of(name: str) -> list[tuple[Path, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py":  # the table itself (and the framework's errors, named from their status)
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
                found.append((path, node))
    return found


def test_every_error_the_backend_builds_names_a_status_of_the_table() -> None:
    """A literal status or program code beside a name would be the table written twice."""
    calls = calls_of("ApiError")
    assert calls, "the scan found no ApiError construction"
    for path, call in calls:
        where = f"{path.name}:{call.lineno}"
        first = call.args[0] if call.args else None
        assert isinstance(first, ast.Constant) and first.value in STATUS_OF, f"{where}: the code must be a name"
        assert not [k for k in call.keywords if k.arg in ("status", "program_code")], f"{where}: status by hand"
