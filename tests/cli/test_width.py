"""Readable at 80 columns and in logs (spec section 12): `choir demo`, `choir model run` and `choir check`'s report
render without a cut number, every amount exact to the base unit, every line within the width."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from choir.demo import examples_dir
from choir.tables import Column, fits, print_table
from choir_model import POLICIES
from choir_model.fmt import choir_amount
from tests.cli.conftest import Invoke

EXAMPLES = sorted(examples_dir().glob("*.jsonl"))


def _readable(text: str, width: int) -> None:
    assert "…" not in text
    too_wide = [line for line in text.splitlines() if len(line) > width]
    assert not too_wide, too_wide


def test_choir_amount_is_exact() -> None:
    assert choir_amount(9_999_999_980_000_000_001) == "9,999,999,980.000000001"
    assert choir_amount(0) == "0.000000000" and choir_amount(1) == "0.000000001"
    assert choir_amount(2**64 - 1) == "18,446,744,073.709551615"
    assert choir_amount(-1_500_000_000) == "-1.500000000" and choir_amount(1234, decimals=0) == "1,234"


def test_demo_at_80_columns(invoke: Invoke) -> None:
    result = invoke("demo", columns=80)
    assert result.code == 0, result.err
    _readable(result.out, 80)
    for path in EXAMPLES:
        expected = json.loads(path.with_name(path.stem + ".expect.json").read_text())["expect"]
        for policy in POLICIES:
            assert choir_amount(expected[policy]["final"]["treasury"]) in result.out


@pytest.mark.parametrize("width", [80, 40])
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_model_run_at_narrow_widths(path: Path, width: int, invoke: Invoke) -> None:
    result = invoke("model", "run", str(path), "--policy", "collective-2024-11", columns=width)
    assert result.code == 0, result.err
    _readable(result.out, width)
    snapshot = json.loads(
        invoke("model", "run", str(path), "--json", "--policy", "collective-2024-11").out.split("\n")[-2]
    )
    amounts = [snapshot["treasury"], *snapshot["wallets"].values()]
    amounts += [thread["balance"] for thread in snapshot["threads"].values()]
    for amount in amounts:
        assert choir_amount(amount) in result.out
    assert choir_amount(10**19) in result.out  # the ledger's total is the supply, to the unit


def test_tables_stack_instead_of_cutting() -> None:
    rows = [["a-rather-long-name", choir_amount(10**19 - 1), "x" * 30]]
    columns = ["holder", Column("CHOIR", right=True), "note"]
    assert fits(columns, rows, 120) and not fits(columns, rows, 60)
    out = io.StringIO()
    print_table(Console(file=out, width=60), "ledger", columns, rows)
    _readable(out.getvalue(), 60)
    assert f"CHOIR: {choir_amount(10**19 - 1)}" in out.getvalue()


def test_check_report_at_80_columns(tmp_path: Path) -> None:
    from properties.campaign import Campaign, run_campaign
    from properties.report import print_report

    result = run_campaign(Campaign(examples=0, soak=2_000, database=False, failure_dir=tmp_path))
    out = io.StringIO()
    print_report(result, Console(file=out, width=80))
    text = out.getvalue()
    _readable(text, 80)
    coverage = result.coverage
    assert f"{coverage.steps:,}" in text
    for op, count in coverage.ops.items():
        assert f"{count:,}" in text, op
