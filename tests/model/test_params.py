"""`Params` is typed and range-checked wherever it is built (spec section 1), and `choir_model.resolve.load_params`
is the one loader `choir model run`, `choir check` and `choir serve` read `--params` with: a value the model or the
program's config account cannot hold is refused, naming the key, before anything runs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from choir.cli import app
from choir_model import Params
from choir_model.params import I64_MAX, U64_MAX
from choir_model.resolve import load_params

BAD = {
    "min_stake": [1.5, True, "1", None, 0, U64_MAX + 1],
    "decimals": [30, 20, -1, 9.0],
    "approval_window": [-1, I64_MAX + 1, 1e3],
    "max_pending": [0, False],
    "max_coauthors": [33, 0],
    "thread_id_max": [33],
    "treasury_authorities": ["abc", [], ["a", ""], ["a", 1], ["a", "a"], ["a", "b", "c", "d"]],
    "treasury_threshold": [0, 4, 2.0],
    "total_supply": [0, U64_MAX + 1, 10**9 - 1],  # 10**9 - 1 units cannot hold one CHOIR at 9 decimals
}


@pytest.mark.parametrize(("key", "value"), [(key, value) for key, values in BAD.items() for value in values])
def test_load_params_refuses_a_value_naming_its_key(key: str, value: object) -> None:
    with pytest.raises(ValueError) as refused:
        load_params(json.dumps({key: value}))
    message = str(refused.value)
    assert message.startswith("params: ") and (key in message or "decimals" in message), message


def test_params_are_typed_outside_the_loader_too() -> None:
    with pytest.raises(ValueError, match="min_stake must be an integer"):
        Params(min_stake=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="treasury_authorities"):
        Params(treasury_authorities="abc")  # type: ignore[arg-type]


def test_load_params_accepts_the_bounds() -> None:
    fields = {"decimals": 19, "total_supply": U64_MAX, "min_stake": U64_MAX, "approval_window": I64_MAX}
    params = load_params(json.dumps({**fields, "treasury_authorities": ["a"], "treasury_threshold": 1}))
    assert (params.decimals, params.min_stake, params.treasury_authorities) == (19, U64_MAX, ("a",))


@pytest.mark.parametrize("command", [["model", "run", "TRACE"], ["check", "--soak", "10"]])
def test_model_run_and_check_refuse_a_float_stake_with_exit_2(command: list[str]) -> None:
    trace = "examples/01_unanimous_dust.jsonl"
    arguments = [trace if part == "TRACE" else part for part in command]
    result = CliRunner().invoke(app, [*arguments, "--params", '{"min_stake": 1.5}'])
    assert result.exit_code == 2, result.output
    assert "min_stake must be an integer" in " ".join(result.output.split()) and "Traceback" not in result.output
