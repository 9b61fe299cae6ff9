"""The example traces hold their hand-computed expectations, cover every settlement outcome under every policy
and every guard the model has, and `choir demo` replays them (spec sections 3, 4 and 8)."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from choir.demo import examples_dir, mismatches
from choir_model import POLICIES, ChoirError, Model
from choir_model import events as ev
from choir_model.errors import ERROR_NAMES
from choir_model.trace import read_trace
from tests.cli.conftest import Invoke

EXAMPLES = sorted(examples_dir().glob("*.jsonl"))
EXPECTATIONS = [(path, policy) for path in EXAMPLES for policy in POLICIES]
BACKEND_ONLY = {"ContentTooLarge", "TemperatureError"}  # not reachable through the model's operations


def _expectation(path: Path) -> dict:
    return json.loads(path.with_name(path.name.removesuffix(".jsonl") + ".expect.json").read_text(encoding="utf-8"))


def test_every_example_has_an_expectation_for_every_policy() -> None:
    assert len(EXAMPLES) >= 8
    for path in EXAMPLES:
        document = _expectation(path)
        assert document["about"] and set(document["expect"]) == set(POLICIES), path.name


@pytest.mark.parametrize(("path", "policy"), EXPECTATIONS, ids=[f"{p.stem}-{q}" for p, q in EXPECTATIONS])
def test_model_run_json_reproduces_the_expectation(path: Path, policy: str, invoke: Invoke) -> None:
    result = invoke("model", "run", str(path), "--json", "--policy", policy)
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    outcomes = ["ok" if line["ok"] else line["error"] for line in lines[:-1]]
    assert mismatches(_expectation(path)["expect"][policy], outcomes, lines[-1]) == []


def test_a_wrong_expectation_is_reported() -> None:
    path = EXAMPLES[0]
    expected = _expectation(path)["expect"]["seeds"]
    model = Model()
    outcomes = [model.try_apply(step) or "ok" for step in read_trace(path)]
    snapshot = model.snapshot()
    assert mismatches(expected, outcomes, snapshot) == []
    wrong = copy.deepcopy(expected)
    wrong["steps"][0] = "Unauthorized"
    wrong["final"]["treasury"] += 1
    wrong["final"]["wallets.nobody"] = 1
    problems = mismatches(wrong, outcomes, snapshot)
    assert len(problems) == 3 and problems[0].startswith("step 0: ok, expected Unauthorized")
    assert mismatches({**expected, "steps": expected["steps"][:-1]}, outcomes, snapshot)  # one step too many
    as_float = copy.deepcopy(expected)
    as_float["final"]["treasury"] = float(as_float["final"]["treasury"])
    assert mismatches(as_float, outcomes, snapshot)  # 1e19 as a float is not the exact integer


def test_examples_reach_every_outcome_under_every_policy_and_every_guard() -> None:
    errors: set[str] = set()
    for policy in POLICIES:
        outcomes: set[str] = set()
        requests: set[str] = set()
        for path in EXAMPLES:
            model = Model(policy=policy)
            for step in read_trace(path):
                try:
                    events = model.apply(step)
                except ChoirError as error:
                    errors.add(error.name)
                    continue
                settled = [e.outcome for e in events if isinstance(e, ev.StakeSettled)]
                outcomes.update(settled)
                if step.op in ("process_approval", "expire", "request_public") and not settled:
                    requests.update(
                        "approved" if isinstance(e, ev.MessagePublic) else "expired"
                        for e in events
                        if isinstance(e, ev.MessagePublic | ev.MessageExpired)
                    )
                    requests.update(e.outcome for e in events if isinstance(e, ev.MessageRejected))
        assert outcomes == {"approved", "denied", "mixed", "expired"}, policy
        assert {"approved", "denied", "expired"} <= requests, policy
    assert errors == set(ERROR_NAMES) - BACKEND_ONLY


def test_demo_replays_the_examples_and_fails_on_a_wrong_expectation(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("demo")
    assert result.code == 0, result.err
    assert all(path.name in result.out for path in EXAMPLES)
    assert len(re.findall(r"│ holds +│", result.out)) == len(EXPECTATIONS) and "FAILED" not in result.out

    shutil.copy(EXAMPLES[0], tmp_path / EXAMPLES[0].name)
    document = _expectation(EXAMPLES[0])
    document["expect"]["seeds"]["final"]["treasury"] -= 1
    (tmp_path / EXAMPLES[0].name.replace(".jsonl", ".expect.json")).write_text(json.dumps(document))
    result = invoke("demo", "--dir", str(tmp_path))
    assert result.code == 1 and "FAILED" in result.out
    assert f"{EXAMPLES[0].name} [seeds]: treasury:" in result.err

    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("demo", "--dir", str(empty))
    assert result.code == 2 and len(result.err.splitlines()) == 1


@pytest.mark.parametrize(
    ("trace", "expectation", "named"),
    [
        ('{"op": "fund"}\n', None, "bad.jsonl: line 1: fund is missing actor, now, amount, signers"),
        (None, "{nope", "bad.expect.json: not readable JSON"),
        (None, '{"expect": {"seeds": {"steps": 3}}}', "the expectation of 'seeds' needs \"steps\" (a list)"),
        (None, '["about"]', 'bad.expect.json: expected {"about": text, "expect": {policy: ...}}'),
    ],
)
def test_demo_on_a_folder_with_a_bad_file_names_it_and_prints_nothing_else(
    trace: str | None, expectation: str | None, named: str, invoke: Invoke, tmp_path: Path
) -> None:
    """A folder of examples with one trace that is not one, or one expectation file of the wrong shape: exit 2,
    one line naming the file and what is wrong, no tables (before: an internal error, or a KeyError, after the
    tables of the files before it)."""
    shutil.copy(EXAMPLES[0], tmp_path / EXAMPLES[0].name)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(trace if trace is not None else EXAMPLES[0].read_text())
    if expectation is not None:
        (tmp_path / "bad.expect.json").write_text(expectation)
    result = invoke("demo", "--dir", str(tmp_path))
    assert result.code == 2, result.err
    assert result.out == "" and len(result.err.splitlines()) == 1 and named in result.err
