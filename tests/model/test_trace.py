"""Traces (SPEC section 8): reading, writing, bad lines, and `choir model run` output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from choir.cli import app
from choir_model import CALIBRATED_K, STEP_TYPES, CreateThread, Fund, Privacy, SubmitMessage, SubmitSpec
from choir_model.trace import TraceError, dump_trace, parse_trace

HERE = Path(__file__).parent
ACCEPTANCE = HERE / "acceptance"
HASH = "ab" * 32


def line(**fields: object) -> str:
    return json.dumps(fields)


def test_round_trip_every_op() -> None:
    steps = [
        Fund("alice", 1, 5, ("treasury1", "treasury2")),
        CreateThread("alice", 2, "t1", 3),
        SubmitMessage("alice", 3, "t1", HASH, Privacy.THREAD_ONLY),
        SubmitSpec("bob", 4, "t1", "cd" * 32, 7),
    ]
    out = io.StringIO()
    dump_trace(steps, out)
    assert parse_trace(out.getvalue().splitlines()) == steps
    assert json.loads(out.getvalue().splitlines()[0]) == {
        "op": "fund",
        "actor": "alice",
        "now": 1,
        "amount": 5,
        "signers": ["treasury1", "treasury2"],
    }


def test_optional_privacy_defaults_to_public_and_hash_is_lowercased() -> None:
    (step,) = parse_trace([line(op="submit_message", actor="a", thread="t", hash="AB" * 32, now=1)])
    assert step == SubmitMessage("a", 1, "t", HASH, Privacy.PUBLIC)
    assert set(STEP_TYPES) == {
        "fund", "create_thread", "submit_message", "request_public", "submit_spec", "process_approval", "expire",
        "divest",
    }  # fmt: skip


BAD = [
    (line(op="mint", actor="a", now=1), "unknown op 'mint'"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (line(op="fund", actor="a", now=1, signers=[]), "missing amount"),
    (line(op="fund", actor="a", now=1, amount=1, signers=[], extra=1), "unknown field(s) extra"),
    (line(op="fund", actor="a", now=1, amount="5", signers=[]), "fund.amount must be an integer"),
    (line(op="fund", actor="a", now=1, amount=True, signers=[]), "fund.amount must be an integer"),
    (line(op="fund", actor="a", now=1, amount=1.5, signers=[]), "fund.amount must be an integer"),
    (line(op="fund", actor="a", now=1, amount=-1, signers=[]), "must not be negative"),
    (line(op="fund", actor="a", now=1, amount=2**64, signers=[]), "does not fit in u64"),
    (line(op="fund", actor="a", now=2**63, amount=1, signers=[]), "does not fit in i64"),
    (line(op="fund", actor="", now=1, amount=1, signers=[]), "fund.actor must be a non-empty string"),
    (line(op="fund", actor="a", now=1, amount=1, signers="treasury1"), "fund.signers must be a list"),
    (line(op="expire", actor="a", now=1, thread="t", hash="zz" * 32), "64 hex digits"),
    (line(op="expire", actor="a", now=1, thread="t", hash="ab" * 31), "64 hex digits"),
    (line(op="process_approval", actor="a", now=1, thread="t", hash=HASH, approve=1), "true or false"),
    (line(op="submit_message", actor="a", now=1, thread="t", hash=HASH, privacy="secret"), "must be one of"),
    (line(op="create_thread", actor="a", now=1, thread=7, deposit=1), "create_thread.thread must be a string"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_lines_name_the_line(text: str, message: str) -> None:
    good = line(op="fund", actor="a", now=1, amount=1, signers=[])
    with pytest.raises(TraceError) as info:
        parse_trace([good, "", text, good])
    assert info.value.line == 3
    assert str(info.value).startswith("line 3: ") and message in str(info.value)


def test_cli_bad_trace_runs_nothing(tmp_path: Path) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_text(line(op="fund", actor="a", now=1, amount=1, signers=["treasury1", "treasury2"]) + "\n{oops\n")
    result = CliRunner().invoke(app, ["model", "run", str(trace), "--json"])
    assert result.exit_code == 2
    assert "line 2" in result.stderr and result.stdout == ""


def run_json(trace: Path, policy: str) -> tuple[list[dict], dict]:
    result = CliRunner().invoke(app, ["model", "run", str(trace), "--json", "--policy", policy])
    assert result.exit_code == 0, result.stderr
    objects = [json.loads(text) for text in result.stdout.splitlines()]
    return objects[:-1], objects[-1]


def lookup(snap: dict, key: str) -> object:
    head, _, rest = key.partition(".")
    if head == "treasury":
        return snap["treasury"]
    if head == "wallets":
        return snap["wallets"].get(rest, 0)
    name, _, field = rest.rpartition(".")
    return snap[head][name][field]


@pytest.mark.parametrize("expect_file", sorted(ACCEPTANCE.glob("*.expect.json")), ids=lambda p: p.name)
def test_acceptance_traces(expect_file: Path) -> None:
    trace = expect_file.with_name(expect_file.name.replace(".expect.json", ".jsonl"))
    for policy, expected in json.loads(expect_file.read_text())["expect"].items():
        steps, final = run_json(trace, policy)
        assert ["ok" if s["ok"] else s["error"] for s in steps] == expected["steps"]
        assert [s["step"] for s in steps] == list(range(len(steps)))
        for key, want in expected["final"].items():
            got = lookup(final, key)
            assert got == (pytest.approx(want, rel=1e-12) if isinstance(want, float) else want), (policy, key)


def test_snapshot_schema() -> None:
    _, final = run_json(ACCEPTANCE / "01_unanimous_dust.jsonl", "seeds")
    assert set(final) == {"treasury", "wallets", "threads", "messages"}
    thread = final["threads"]["t1"]
    assert set(thread) == {"balance", "co_authors", "created_at", "updated_at", "message_count", "temperature",
                           "frequency"}  # fmt: skip
    message = next(iter(final["messages"].values()))
    assert set(message) == {"state", "author", "stake", "deadline", "votes"}
    assert message["stake"] == 0 and message["deadline"] == 1_700_000_020 + 7 * 24 * 3600


def test_stake_command() -> None:
    result = CliRunner().invoke(app, ["stake", "--balance", "200", "--coauthors", "1", "--json"])
    assert result.exit_code == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["temperature"] == pytest.approx(200.0)
    kt = CALIBRATED_K * 200.0
    assert figures["recommended_stake_choir"] == pytest.approx(100 * (0.5 + 1 / (2.718281828459045 ** (1 / kt) - 1)))
    assert figures["capped"] is False and figures["below_min_stake"] is False
    result = CliRunner().invoke(app, ["stake", "--balance", "5000", "--coauthors", "1"])
    assert result.exit_code == 0 and "(capped)" in result.stdout
    result = CliRunner().invoke(app, ["stake", "--balance", "1500", "--coauthors", "4", "--formula", "linear"])
    assert result.exit_code == 0 and "4.000000000 CHOIR" in result.stdout
    assert CliRunner().invoke(app, ["stake", "--balance", "1", "--coauthors", "1", "--formula", "nope"]).exit_code == 2
