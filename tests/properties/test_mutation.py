"""`choir mutate`: mutants are generated deterministically, a mutant the suite catches is killed, a listed
equivalent mutant is excluded, the verdict cache resumes a session, and `--min-score` decides the exit code.

The campaigns here are small (`--soak 2000 --examples 0`) and the mutants few (two of fund_member.c), so the
whole file stays within seconds; the default campaign's figures are in docs/BENCHMARKS.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from choir.cli import app
from properties.mutation.c_mutants import OPERATORS, generate
from properties.mutation.session import load_equivalents

SOURCE = Path(__file__).resolve().parents[2] / "programs" / "choir"
FUND = "processor/fund_member.c"
# `if (signed_count < config->threshold) return ERR_UNAUTHORIZED;` becomes `>=`: a fund without the multisig's
# threshold succeeds, one with it fails. Any campaign that funds notices.
KILLED_KEY = "bdd6af8b"
# `j < config->authority_count && j < MAX_AUTHORITIES` loses its second operand, which the first implies (the
# committed equivalents file says why).
EQUIVALENT_KEY = "40cc9640"
SMALL = ["--soak", "2000", "--examples", "0", "--workers", "0"]


def test_generation_is_deterministic_and_each_mutant_is_one_edit() -> None:
    operators = ["negated-condition", "removed-guard", "removed-statement"]
    first = generate(SOURCE, [FUND], operators)
    assert [m.id for m in first] == [m.id for m in generate(SOURCE, [FUND], operators)]
    assert len({m.id for m in first}) == len(first) and {m.operator for m in first} == set(operators)
    keys = {m.key: m for m in first}
    assert keys[KILLED_KEY].original == "<" and keys[KILLED_KEY].replacement == ">="
    assert keys[KILLED_KEY].account_check  # the multisig's threshold
    text = (SOURCE / FUND).read_text(encoding="utf-8")
    for mutant in first:
        diff = mutant.diff(text)
        assert diff.count("\n-") + diff.count("\n+") >= 2, mutant.id
        assert mutant.apply(text) != text
    removed_break = [m for m in first if m.operator == "removed-statement" and m.original.strip() == "break;"]
    assert len(removed_break) == 1 and removed_break[0].account_check  # the multisig counts each authority once


def test_every_operator_finds_sites_in_the_program() -> None:
    mutants = generate(SOURCE)
    assert {m.operator for m in mutants} == set(OPERATORS)
    assert any(m.account_check for m in mutants) and not all(m.account_check for m in mutants)


def test_committed_equivalents_name_existing_mutants_with_reasons() -> None:
    equivalents = load_equivalents(SOURCE / "mutation-equivalents.toml")
    keys = {m.key for m in generate(SOURCE)}
    assert EQUIVALENT_KEY in equivalents
    for key, (mutant_id, reason) in equivalents.items():
        assert key in keys, f"stale entry {mutant_id}"
        assert len(reason) > 20


def _run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["mutate", *args])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}


def test_killed_excluded_cached_and_min_score(tmp_path: Path) -> None:
    cache = str(tmp_path / "verdicts.jsonl")
    empty = tmp_path / "none.toml"
    empty.write_text("", encoding="utf-8")
    picked = ["--mutant", KILLED_KEY, "--mutant", EQUIVALENT_KEY, "--cache", cache, "--json", *SMALL]

    # Without the equivalents list the equivalent mutant survives: half the mutants detected, below 60%.
    code, report = _run(*picked, "--equivalents", str(empty), "--min-score", "60")
    assert code == 1, report
    verdicts = {m["id"].rsplit(":", 1)[-1]: m for m in report["mutants"]}
    assert verdicts[KILLED_KEY]["status"] == "killed" and verdicts[KILLED_KEY]["killed_by"] == "difference"
    assert verdicts[EQUIVALENT_KEY]["status"] == "survived" and "MAX_AUTHORITIES" in verdicts[EQUIVALENT_KEY]["diff"]
    assert report["score"] == 50.0 and report["baseline"]["status"] == "survived" and report["ran"] == 3

    # With the committed list it is excluded, and everything else comes from the cache: nothing runs again.
    code, report = _run(*picked, "--min-score", "100")
    assert code == 0, report
    verdicts = {m["id"].rsplit(":", 1)[-1]: m for m in report["mutants"]}
    assert verdicts[EQUIVALENT_KEY]["status"] == "equivalent" and verdicts[EQUIVALENT_KEY]["reason"]
    assert verdicts[KILLED_KEY]["cached"] and report["ran"] == 0 and report["score"] == 100.0


def test_model_mutants_report_through_the_same_table_on_dask(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "mutate",
            "--target",
            "model",
            "--mutant",
            "ClockMayGoBack",
            "--workers",
            "1",
            "--soak",
            "20000",
            "--examples",
            "0",
            "--no-cache",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ClockMayGoBack" in result.stdout and "mutation score 100.0%" in result.stdout


@pytest.mark.parametrize(
    "args",
    [["--operator", "no-such-operator"], ["--min-score", "101"], ["--target", "backend"], ["--mutant", "ffffffff"]],
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    assert CliRunner().invoke(app, ["mutate", "--list", *args]).exit_code == 2


def test_stale_equivalents_are_judged_against_everything_generated() -> None:
    """An entry is stale when its mutant is gone from the program, never because a sample, `--mutant` or a file
    or operator filter left it out."""
    from properties.mutation.session import stale_entries

    mutants = generate(SOURCE)
    equivalents = load_equivalents(SOURCE / "mutation-equivalents.toml")
    gone = {"deadbeef": ("ledger.c:1:1:removed-statement:deadbeef", "a mutant the program no longer has")}
    assert stale_entries(equivalents, mutants) == []
    assert stale_entries(equivalents, mutants[:1]) == sorted(i for i, _ in equivalents.values())
    assert stale_entries({**equivalents, **gone}, mutants) == ["ledger.c:1:1:removed-statement:deadbeef"]
    assert stale_entries(gone, [], files=["processor/*.c"]) == []  # out of the files generated: not judged
    assert stale_entries(gone, [], operators=["constant-offset"]) == []
