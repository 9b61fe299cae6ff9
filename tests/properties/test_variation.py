"""Parameter variation of soak runs (`properties.variation`): valid variants on SPEC section 1's bounds, the same
parameters for the same run wherever it runs, the campaign's own parameters kept when given, and a failure in a
varied run that shrinks and replays under that run's parameters."""

from __future__ import annotations

import shlex
from pathlib import Path

from choir_model import Params
from choir_model.resolve import load_params
from properties.campaign import Campaign
from properties.driver import ModelDriver
from properties.soak import soak
from properties.variation import VARIANTS, params_flag, run_params, variant_params


def test_every_variant_is_valid_and_round_trips_through_the_params_flag() -> None:
    for variant in VARIANTS:
        params = variant_params(variant)  # raises ValueError when a variant breaks SPEC section 1
        assert load_params(params_flag(params)) == params


def test_even_runs_keep_the_parameters_and_odd_runs_vary_them_by_seed() -> None:
    default = Params()
    assert all(run_params(default, seed, run) is default for seed in (0, 7) for run in (0, 2, 4))
    drawn = [run_params(default, 0, run) for run in range(1, 40, 2)]
    assert all(params != default for params in drawn)
    assert {params_flag(p) for p in drawn[: len(VARIANTS)]} == {params_flag(variant_params(v)) for v in VARIANTS}
    assert drawn == [run_params(default, 0, run) for run in range(1, 40, 2)]  # a run's parameters are its own
    assert [run_params(default, 1, run) for run in range(1, 40, 2)] != drawn
    given = Params(min_stake=5)
    assert all(run_params(given, 0, run) is given for run in range(10))


def test_a_failure_in_a_varied_run_carries_that_runs_parameters(tmp_path: Path) -> None:
    """An implementation stuck on the default parameters passes run 0 and fails the first varied run; the failure
    carries that run's parameters, and the replay command names them."""
    stuck = soak(4000, 0, Params(), driver_factory=lambda: ModelDriver(Params(), "seeds"),
                 factory_for=lambda params: lambda: ModelDriver(Params(), "seeds"))  # fmt: skip
    assert stuck.failure is not None and stuck.failure.kind == "difference"
    assert stuck.steps > 2000 and stuck.failure.params == run_params(Params(), 0, 1)
    campaign = Campaign("model-trace", failure_dir=tmp_path)
    command = shlex.split(campaign.replay_command(tmp_path / "t.jsonl", stuck.failure.params))
    assert load_params(command[command.index("--params") + 1]) == stuck.failure.params
    assert "--params" not in campaign.replay_command(tmp_path / "t.jsonl")
