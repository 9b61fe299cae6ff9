"""Result tables agree with the model's ledger and with each other; network metrics are right on known graphs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest

from choir_model.fmt import choir_amount
from sim import network
from sim.io import read_frame
from sim.metrics import SimResult, exact_amount, exact_cell, exact_difference
from sim.stats import gini, median, ratio

CHOIR = 10**9


def test_gini_known_values() -> None:
    assert gini([]) == 0.0
    assert gini([0, 0, 0]) == 0.0
    assert gini([5, 5, 5, 5]) == pytest.approx(0.0)
    assert gini([0, 0, 1]) == pytest.approx(2 / 3)
    assert gini([1, 2, 3, 4]) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        gini([-1, 2])
    assert math.isnan(ratio(1, 0)) and ratio(1, 4) == 0.25
    assert median([3.0, 1.0, 2.0]) == 2.0 and median([1.0, 2.0]) == 1.5 and math.isnan(median([]))


def test_ledger_adds_up(mixed_run: SimResult, mixed_dir: Path) -> None:
    final = json.loads((mixed_dir / "final_snapshot.json").read_text())
    agents = mixed_run.agents
    wallets = {k: v for k, v in final["wallets"].items()}
    assert dict(zip(agents["identity"], agents["wallet"], strict=True)) == {
        k: wallets.get(k, 0) for k in agents["identity"]
    }
    assert (agents["pnl"] == agents["wallet"] - agents["funded"]).all()
    escrow = sum(m["stake"] for m in final["messages"].values())
    threads = sum(t["balance"] for t in final["threads"].values())
    total = sum(final["wallets"].values()) + final["treasury"] + threads + escrow
    assert total == mixed_run.scenario.model_params().total_supply
    s = mixed_run.summary
    assert s["treasury_final_choir"] == final["treasury"] / CHOIR
    assert s["funded_choir"] * CHOIR == pytest.approx(agents["funded"].sum())
    assert int(agents["vote_rewards"].sum()) == round(s["voter_payouts_choir"] * CHOIR)
    assert int(agents["divested"].sum()) == round(s["divested_choir"] * CHOIR)
    # The integer twins are the ledger exactly: the treasury (near the supply, beyond a float's 53 bits) to the unit.
    assert s["treasury_final_units"] == final["treasury"] and s["funded_units"] == int(agents["funded"].sum())
    assert s["voter_payouts_units"] == int(agents["vote_rewards"].sum())
    assert s["divested_units"] == int(agents["divested"].sum())
    assert exact_amount(s, "treasury_final_choir") == choir_amount(final["treasury"])


def test_one_runs_amount_keeps_its_dust_and_a_mean_stays_a_float() -> None:
    """A table of a single run prints `*_units` exactly; several runs (a mean) or a ratio have no exact cell."""
    dust = 10**18 + 1  # 1,000,000,000 CHOIR and one base unit: as a float in CHOIR the unit is gone
    row = {"case": "a", "status": "ok", "seed": 1, "decimals": 9, "treasury_inflow_units": dust,
           "treasury_inflow_choir": dust / CHOIR, "approval_rate": 0.5}  # fmt: skip
    runs = pd.DataFrame([row, {**row, "case": "b", "treasury_inflow_units": 1, "treasury_inflow_choir": 1e-9}])
    assert f"{row['treasury_inflow_choir']:,.9f}" != "1,000,000,000.000000001"
    assert exact_cell(runs, "a", "treasury_inflow_choir") == "1,000,000,000.000000001"
    assert exact_difference(runs, "a", "b", "treasury_inflow_choir") == "1,000,000,000.000000000"
    assert exact_difference(runs, "b", "a", "treasury_inflow_choir") == "-1,000,000,000.000000000"
    assert exact_cell(runs, "a", "approval_rate") is None
    two = pd.concat([runs, runs.iloc[:1].assign(seed=2)])
    assert exact_cell(two, "a", "treasury_inflow_choir") is None  # a mean over seeds: analytics
    assert exact_difference(two, "a", "b", "treasury_inflow_choir") is None
    assert exact_cell(runs.assign(decimals=0), "a", "treasury_inflow_choir") == f"{dust:,}"


def test_outcomes_agree_between_tables(mixed_run: SimResult) -> None:
    s, agents, stakes, events = mixed_run.summary, mixed_run.agents, mixed_run.stakes, mixed_run.events
    for outcome in ("approved", "denied", "mixed", "expired"):
        in_run = (stakes["outcome"] == outcome) & ~stakes["bootstrap"]
        assert s[outcome] == int(agents[outcome].sum()) == int(in_run.sum())
        settled = events[(events["event"] == "StakeSettled") & (events["outcome"] == outcome) & ~events["bootstrap"]]
        assert len(settled) == s[outcome]
    closed = s["approved"] + s["denied"] + s["mixed"] + s["expired"]
    assert s["specs_closed"] == closed
    assert s["approval_rate"] == pytest.approx(s["approved"] / closed)
    assert s["share_timeouts"] == pytest.approx(s["expired"] / closed)
    run = stakes[~stakes["bootstrap"]]
    assert s["specs_submitted"] == len(run) == int(agents["specs"].sum()) == closed + s["specs_pending"]
    # the bootstrap seats every co-author's initial threads with approved join specs at the epoch
    joins = stakes[stakes["bootstrap"]]
    assert len(joins) == int(agents["joins"].sum()) > 0
    assert set(joins["outcome"]) == {"approved"} and set(joins["submitted_at"]) == {mixed_run.scenario.world.epoch}
    assert int(agents["staked"].sum()) == int(stakes["actual"].sum())
    assert s["events"] == len(events) and s["steps"] == len(mixed_run.steps)
    assert s["failed_steps"] == int((~mixed_run.steps["ok"]).sum()) == int(agents["failed_steps"].sum())


def test_attacker_cost_is_funding_minus_wallets(mixed_run: SimResult) -> None:
    attackers = mixed_run.agents[mixed_run.agents["role"] == "attacker"]
    assert set(attackers["kind"]) == {"spammer", "sybil", "griefer", "drainer"}
    cost = int((attackers["funded"] - attackers["wallet"]).sum()) / CHOIR
    assert mixed_run.summary["attacker_cost_choir"] == pytest.approx(cost)
    assert mixed_run.summary["attacker_identities"] == len(attackers)


def test_gini_of_coauthor_earnings(mixed_run: SimResult) -> None:
    ever = mixed_run.agents[mixed_run.agents["threads_joined"] > 0]
    assert mixed_run.summary["gini_coauthor_earnings"] == pytest.approx(gini(ever["vote_rewards"].tolist()))
    assert 0.0 < mixed_run.summary["gini_coauthor_earnings"] < 1.0


def test_thread_series(mixed_run: SimResult) -> None:
    threads = mixed_run.threads
    scenario = mixed_run.scenario
    samples = threads.groupby("time").size()
    assert samples.index.min() == scenario.world.epoch
    assert samples.index.max() == scenario.world.epoch + scenario.horizon
    # every sample lists every thread that existed then, once
    assert not threads.duplicated(["time", "thread_id"]).any()
    assert (threads["temperature"] == threads["balance"] / CHOIR / threads["co_authors"]).all()
    assert (threads["frequency"] == threads["co_authors"] ** 0.5).all()
    assert (threads["recommended_stake"] > 0).all()
    with_specs = threads[threads["specs"] > 0]
    assert not with_specs.empty and with_specs["mean_stake"].notna().all()
    assert int(threads["specs"].sum()) == mixed_run.summary["specs_submitted"]


def test_group_series_end_at_the_agents_table(mixed_run: SimResult) -> None:
    groups = mixed_run.groups
    last = groups[groups["time"] == groups["time"].max()].set_index("group")
    by_group = mixed_run.agents.groupby("group")[["wallet", "funded", "pnl"]].sum()
    for name, row in by_group.iterrows():
        assert last.loc[name, "wallet"] == row["wallet"]
        assert last.loc[name, "pnl"] == row["pnl"]


def test_event_log_has_one_row_per_model_event(mixed_run: SimResult, mixed_dir: Path) -> None:
    events = read_frame(mixed_dir / "events")
    assert list(events["seq"]) == list(range(len(events)))
    assert set(events["op"]) <= set(mixed_run.steps["op"])
    funded = events[events["event"] == "WalletFunded"]
    assert int(funded["amount"].sum()) == int(mixed_run.agents["funded"].sum())
    settled = events[events["event"] == "StakeSettled"]
    parts = settled["to_wallets"] + settled["to_thread"] + settled["to_treasury"]
    assert (parts == settled["amount"]).all()  # every stake is routed whole
    payees = [sum(a for _, a in json.loads(p)) for p in settled["payees"]]
    assert payees == settled["to_wallets"].tolist()


def test_network(mixed_run: SimResult, mixed_dir: Path) -> None:
    graph = nx.read_graphml(mixed_dir / "coauthors.graphml")
    users = [n for n, d in graph.nodes(data=True) if d["kind"] == "user"]
    threads = [n for n, d in graph.nodes(data=True) if d["kind"] == "thread"]
    s = mixed_run.summary
    assert len(users) == s["net_users"] == int((mixed_run.agents["threads_joined"] > 0).sum())
    assert len(threads) == s["net_threads"] == s["threads"]
    assert graph.number_of_edges() == s["net_seats"] == int(mixed_run.agents["threads_joined"].sum())
    assert nx.number_connected_components(graph) == s["net_components"]
    degrees = mixed_run.degrees
    assert int(degrees["users"].sum()) == len(users)
    projection = network.user_projection(mixed_run.graph)
    assert s["net_mean_degree"] == pytest.approx(sum(d for _, d in projection.degree()) / len(users))
    assert s["net_max_degree"] == int(degrees["degree"].max())


def test_centralization_on_known_graphs() -> None:
    assert network.degree_centralization(nx.star_graph(6)) == pytest.approx(1.0)
    assert network.degree_centralization(nx.complete_graph(6)) == pytest.approx(0.0)
    assert network.degree_centralization(nx.path_graph(2)) == 0.0
    graph = network.build_graph(
        [("a", "t1", 0), ("b", "t1", 5), ("c", "t2", 9)], {"a": {"group": "g"}}, {"t1": {}, "t2": {}}, 0
    )
    metrics = network.network_metrics(graph)
    assert metrics["net_components"] == 2 and metrics["net_users"] == 3 and metrics["net_coauthor_links"] == 1
    assert network.degree_distribution(graph) == [(0, 1), (1, 2)]


def test_tables_have_fixed_dtypes(mixed_dir: Path) -> None:
    events = read_frame(mixed_dir / "events")
    assert str(events["amount"].dtype) == "Int64" and str(events["decision"].dtype) == "boolean"
    summary = pd.read_csv(mixed_dir / "summary.csv")
    assert summary.loc[0, "scenario"] == "mixed" and len(summary) == 1
