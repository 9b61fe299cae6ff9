"""Scenario files: the built-in ones load, overrides by dotted path work, and every mistake is named."""

from __future__ import annotations

import math

import pytest

from choir_model import FORMULAS, POLICIES, LinearStake, QuantumStake
from sim.agents import AGENT_KINDS, approval_probability
from sim.scenario import Scenario, list_scenarios, load_scenario, resolve_formula, resolve_policy, set_path

REQUIRED = {"baseline", "spam", "sybil", "griefing", "drainage", "mixed"}


def test_required_scenarios_exist_and_load() -> None:
    assert set(list_scenarios()) >= REQUIRED
    for name in list_scenarios():
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.policy in POLICIES
        assert scenario.formula["name"] in FORMULAS
        assert scenario.check == "step"
        assert scenario.groups, name


def test_attack_scenarios_contain_their_attacker() -> None:
    kinds = {name: {g.kind for g in load_scenario(name).groups} for name in REQUIRED}
    assert kinds["spam"] >= {"spammer"}
    assert kinds["sybil"] >= {"sybil"}
    assert kinds["griefing"] >= {"griefer"}
    assert kinds["drainage"] >= {"drainer"}
    assert kinds["mixed"] >= {"spammer", "sybil", "griefer", "drainer", "creator", "honest_author", "co_author"}
    assert not {k for k in kinds["baseline"] if AGENT_KINDS[k].role == "attacker"}


def test_overrides_by_dotted_path() -> None:
    base = load_scenario("spam")
    changed = base.with_overrides(
        {"agents.spam.count": 0, "params.approval_window": 3600, "formula.s0": 50.0, "days": 2, "seed": 9}
    )
    assert next(g for g in changed.groups if g.name == "spam").config.count == 0
    assert changed.model_params().approval_window == 3600
    assert changed.build_formula() == QuantumStake(s0=50.0)
    assert (changed.days, changed.seed, changed.horizon) == (2.0, 9, 2 * 86_400)
    # the original is untouched and the canonical form tells them apart
    assert next(g for g in base.groups if g.name == "spam").config.count == 5
    assert base.canonical() != changed.canonical()
    assert load_scenario("spam", days=2, agents__spam__count=1).groups[-1].config.count == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "blue"}, "unknown scenario key"),
        ({"world.islands": 3}, "unknown world key"),
        ({"agents.spam.volume": 3}, "unknown field(s) volume"),
        ({"agents.spam.kind": "troll"}, "unknown agent kind 'troll'"),
        ({"agents.spam.count": -1}, "count: must be >= 0"),
        ({"agents.coauthors.respond": 1.5}, "respond: must be a probability"),
        ({"params.approval_windw": 5}, "unknown params field(s) approval_windw"),
        ({"params.max_coauthors": 0}, "max_coauthors"),
        ({"policy": "generous"}, "unknown policy 'generous'"),
        ({"policy": "no_such_module:Policy"}, "cannot import"),
        ({"formula": "cubic"}, "unknown formula 'cubic'"),
        ({"formula.wobble": 1.0}, "formula 'quantum'"),
        ({"check": "sometimes"}, "check must be one of"),
        ({"days": 0}, "days must be in (0, 36500]"),
        ({"agents.creators.count": 0}, "needs at least one `creator`"),
    ],
)
def test_mistakes_are_named(change: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        load_scenario("spam").with_overrides(change)
    assert message in str(info.value)


def test_unknown_scenario_lists_the_built_in_ones() -> None:
    with pytest.raises(FileNotFoundError, match="baseline"):
        load_scenario("no-such-scenario")


def test_scenario_from_a_file(tmp_path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text(
        'name = "tiny"\nseed = 4\ndays = 1\nformula = { name = "linear", offset = 100.0 }\n'
        '[world]\nthreads = 2\n[agents.c]\nkind = "creator"\ncount = 1\n',
        encoding="utf-8",
    )
    scenario = load_scenario(path)
    assert scenario.build_formula() == LinearStake(offset=100.0)
    assert scenario.world.threads == 2 and scenario.seed == 4


def test_policies_and_formulas_by_import_path() -> None:
    policy = resolve_policy("sim_testkit:LeakyPolicy")
    assert policy.name == "leaky"
    assert resolve_formula({"name": "choir_model.economics:QuantumStake", "cap": 2.0}) == QuantumStake(cap=2.0)
    with pytest.raises(ValueError, match="not a choir_model SettlementPolicy"):
        resolve_policy("choir_model.economics:QuantumStake")


def test_set_path_refuses_to_walk_through_a_value() -> None:
    data = {"days": 3}
    with pytest.raises(ValueError, match="not a table"):
        set_path(data, "days.x", 1)
    set_path(data, "formula.s0", 5.0)
    assert data["formula"] == {"s0": 5.0}
    data2 = {"formula": "linear"}
    set_path(data2, "formula.scale", 10.0)
    assert data2["formula"] == {"name": "linear", "scale": 10.0}


def test_approval_curve_is_a_monotone_logistic() -> None:
    values = [approval_probability(q / 10, 0.5, 10.0) for q in range(11)]
    assert values == sorted(values)
    assert approval_probability(0.5, 0.5, 10.0) == pytest.approx(0.5)
    assert approval_probability(0.0, 0.5, 10_000.0) == 0.0
    assert approval_probability(1.0, 0.5, 0.0) == pytest.approx(0.5)
    assert approval_probability(0.5, 0.5, 10.0, signal=math.log(2.0)) == pytest.approx(2 / 3)


def test_scenario_from_dict_requires_a_name() -> None:
    with pytest.raises(ValueError, match="name"):
        Scenario.from_dict({"days": 1})
