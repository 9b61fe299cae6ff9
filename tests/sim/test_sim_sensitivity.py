"""Sensitivity analysis in chunks on common random numbers: the same indices and intervals however the rows are
chunked, exactly zero indices for a parameter that changes nothing, and the evaluation count SALib expects."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from sim.sensitivity import SensitivitySpec, load_sensitivity, run_sensitivity

TINY = """
[sensitivity]
name = "tiny"
scenario = "baseline"
samples = 4
days = 2.0
resamples = 200
outputs = ["approval_rate", "median_recommended_choir"]

[fixed]
"world.threads" = 4
"agents.authors.count" = 6
"agents.coauthors.count" = 8

[parameters]
"formula.k" = { loguniform = [0.01, 0.1] }
"agents.authors.stake_factor" = { uniform = [0.5, 2.0] }
"params.divest_cooldown" = { int = [3600, 259200] }
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SensitivitySpec:
    path = Path(tmp_path_factory.mktemp("sens")) / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return load_sensitivity(path)


def test_sobol_runs_n_times_d_plus_2_points_and_repeats_in_any_chunking(tiny: SensitivitySpec) -> None:
    whole = run_sensitivity(tiny, chunk=64)
    assert len(whole.runs) == 4 * (3 + 2) and whole.failures == 0
    chunked = run_sensitivity(tiny, chunk=3)
    pd.testing.assert_frame_equal(whole.indices, chunked.indices)  # the bootstrap is seeded too
    pd.testing.assert_frame_equal(whole.runs, chunked.runs)


def test_a_parameter_that_changes_nothing_has_zero_indices(tiny: SensitivitySpec) -> None:
    # Nobody divests in two days of the baseline: on common random numbers the cooldown changes no draw.
    indices = run_sensitivity(tiny).indices.set_index(["output", "parameter"])
    cooldown = indices.xs("params.divest_cooldown", level="parameter")
    assert (cooldown[["S1", "S1_conf", "ST", "ST_conf"]] == 0).all().all()
    k = indices.loc[("median_recommended_choir", "formula.k")]
    assert k["ST"] > 0.5


def test_an_output_that_no_summary_has_is_refused_before_the_analysis_runs(tiny: SensitivitySpec) -> None:
    tiny.check_outputs()
    misspelt = dataclasses.replace(tiny, outputs=("approval_rate", "attacker_pnl"))
    named = r"'attacker_pnl' not a number of a run's summary; known: .*attacker_pnl_choir"
    with pytest.raises(ValueError, match=named):
        misspelt.check_outputs()
    with pytest.raises(ValueError, match="'scenario' not a number"):  # a summary field, but not a number
        dataclasses.replace(tiny, outputs=("scenario",)).check_outputs()
