"""`choir check` as a CI system sees it: exit codes, argument validation, the JUnit report and the GitHub
annotation agree with each other."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from choir.cli import app
from properties.campaign import Campaign, run_campaign
from properties.driver import TraceRoundTripDriver
from properties.mutation.model_mutants import CooldownIgnored
from properties.report import exit_code, github_annotation, write_junit
from properties.units import SOAK_RUN, SOAK_UNIT_RUNS


@pytest.mark.parametrize(
    "arguments",
    [
        ["--examples", "-1"],
        ["--steps", "0"],
        ["--soak", "-5"],
        ["--soak", "0", "--examples", "0"],
        ["--seed", "abc"],
        ["--policy", "nope"],
        ["--profile", "nope"],
        ["--target", "nope"],
    ],
)
def test_bad_arguments_exit_2_before_anything_runs(arguments: list[str], tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    result = CliRunner().invoke(app, ["check", *arguments, "--junit", str(junit), "--failures", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert not junit.exists() and "Traceback" not in result.output


def test_exit_codes_are_in_the_help() -> None:
    text = " ".join(CliRunner().invoke(app, ["check", "--help"]).output.split())
    assert "Exit codes: 0" in text and "3 the toolkit itself failed" in text


def _junit(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def test_a_coverage_gap_fails_only_with_require_coverage(tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    base = ["check", "--soak", "50", "--junit", str(junit), "--failures", str(tmp_path)]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    suite = _junit(junit)
    assert suite.get("failures") == "0" and "not reached" in ET.tostring(suite, encoding="unicode")
    result = CliRunner().invoke(app, [*base, "--require-coverage"])
    assert result.exit_code == 1
    suite = _junit(junit)
    assert suite.get("failures") == "1"
    (coverage,) = [case for case in suite.iter("testcase") if case.get("name") == "coverage"]
    assert coverage.find("failure") is not None


def test_soak_and_examples_run_both_and_random_seed_is_printed(tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    result = CliRunner().invoke(
        app, ["check", "--soak", "300", "--examples", "3", "--steps", "20", "--seed", "random", "--junit", str(junit),
              "--failures", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "seed: " in result.stderr
    suite = _junit(junit)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["target"] == "model" and props["profile"] == "ci" and props["policy"] == "seeds"
    assert result.stderr.split("seed: ")[1].split()[0] == props["seed"]
    phases = {case.get("name") for case in suite.iter("testcase") if case.get("classname") == "choir.check.phase"}
    assert phases == {"soak", "examples"}
    assert all(case.get("time") is not None for case in suite.iter("testcase"))


def test_a_violation_is_exit_1_with_full_junit_and_annotation(tmp_path: Path) -> None:
    result = run_campaign(Campaign(rules=CooldownIgnored, soak=4000, examples=0, database=False, failure_dir=tmp_path))
    assert exit_code(result, False) == 1
    write_junit(result, tmp_path / "report.xml")
    suite = _junit(tmp_path / "report.xml")
    assert suite.get("failures") == "1" and suite.get("errors") == "0"
    (failure,) = suite.iter("failure")
    assert "divestment" in failure.get("message") and "replay: choir check replay" in failure.text
    assert "shrunk steps:" in failure.text
    annotation = github_annotation(result)
    assert annotation is not None and annotation.startswith("::error file=")
    assert "\n" not in annotation and "%0A" in annotation


class CrashingDriver(TraceRoundTripDriver):
    def apply(self, step):  # type: ignore[no-untyped-def]
        if self.lines >= 100:
            raise RuntimeError("the implementation crashed")
        return super().apply(step)


def test_a_toolkit_failure_is_exit_3_and_a_junit_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("properties.targets.TraceRoundTripDriver", CrashingDriver)
    junit = tmp_path / "report.xml"
    result = CliRunner().invoke(
        app, ["check", "--target", "model-trace", "--soak", "500", "--junit", str(junit), "--failures", str(tmp_path)],
        env={"GITHUB_ACTIONS": "true"},
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and "the implementation crashed" in result.stdout
    assert "::error title=choir check%3A the toolkit failed::RuntimeError" in result.stdout
    suite = _junit(junit)
    assert suite.get("errors") == "1" and suite.get("failures") == "0"


@pytest.mark.parametrize("finished", [2, 0])
def test_sigterm_stops_a_campaign_reports_what_finished_and_exits_130(
    finished: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a CI's cancel does: the signal arrives while a soak unit is under way; the units before it are the
    report (none: no tables, no verdict), the JUnit file has an `interrupted` error, the exit code is 130."""
    import os
    import signal

    from properties import campaign as campaign_module

    real, calls = campaign_module.run_unit, []

    def signalled(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == finished + 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(campaign_module, "run_unit", signalled)
    junit = tmp_path / "report.xml"
    with pytest.raises(SystemExit) as exit_info:  # through `ChoirApp`, which holds the SIGTERM handler
        app(["check", "--soak", "100000", "--junit", str(junit), "--failures", str(tmp_path)])
    assert exit_info.value.code == 130
    out = " ".join(capsys.readouterr().out.split())
    ran = finished * SOAK_UNIT_RUNS
    if finished:
        assert f"interrupted: stopped after {ran * SOAK_RUN:,} steps in {ran} examples and soak runs" in out
        assert "every invariant held" in out
    else:
        assert "interrupted before any example or soak run finished: nothing to report" in out
        assert "held" not in out and "invariants" not in out
    suite = _junit(junit)
    assert suite.get("errors") == "1" and suite.get("failures") == "0"
    assert [case.get("name") for case in suite.iter("testcase") if case.find("error") is not None] == ["interrupted"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the campaign's handler is gone with it


@pytest.mark.parametrize("when", ["before shrinking", "while shrinking"])
def test_an_interrupted_shrink_keeps_the_failure_and_writes_its_trace(
    when: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure found is never lost to a signal: stopped before its shrinking began (it does not begin: whoever
    pressed Ctrl-C wants out) or while shrinking, the failure stands (exit 1) and its trace as found is written,
    so it replays."""
    from choir_model.trace import read_trace
    from properties import campaign as campaign_module

    def shrinking(*args: object, **kwargs: object) -> object:
        if when == "before shrinking":
            raise AssertionError("shrank after the signal")
        raise KeyboardInterrupt

    real_run_here = campaign_module._run_here

    def signalled_after_the_failure(*args: object) -> object:
        results, _ = real_run_here(*args)  # type: ignore[arg-type]
        return results, True

    monkeypatch.setattr(campaign_module, "shrink_run", shrinking)
    if when == "before shrinking":
        monkeypatch.setattr(campaign_module, "_run_here", signalled_after_the_failure)
    result = run_campaign(Campaign(rules=CooldownIgnored, soak=60_000, examples=0, database=False,
                                   failure_dir=tmp_path))  # fmt: skip
    assert result.interrupted and result.failure is not None and result.shrunk is None
    assert exit_code(result, require_coverage=False) == 1
    assert result.trace is not None and len(read_trace(result.trace)) == len(result.failure.steps)
