"""From a finished `World` to pandas DataFrames: the event log, the step log, per-thread and per-group time
series, per-agent profit and loss, the stake analytics, the summary table and the co-authorship network.

Everything here is read off the model's events, its final state and its `StakeAnalytics`; nothing is
recomputed by a second set of rules. Amounts in the tables are integer base units (1 CHOIR = 10**9), exact like
the ledger. The summary gives each money amount twice: `*_units`, integer base units (exact: what a table of one
run prints, as whole CHOIR and the base-unit remainder, `choir_model.fmt.choir_amount`), and `*_choir`, the same
as a float in CHOIR (for plots and for means over seeds, which are derived analytics). Ratios, means and medians
(`attacker_thread_share_choir`, `mean_balance_choir`, `median_recommended_choir`) are floats only. Column order and
dtypes are fixed so the same run writes the same bytes.

Summary definitions (one row per run):
* Spec counts and shares are of the simulated period: the bootstrap's join specs (seating the initial
  co-authors at the epoch) are flagged `bootstrap` in the tables and left out of them, though their stakes count
  in the money columns.
* `approval_rate`: approved specs / closed specs (approved + denied + mixed + expired); `share_timeouts`:
  expired / closed; `share_denied`, `share_mixed` likewise.
* `treasury_inflow_choir`: stake the treasury received from settlements and expiries (remainders included).
* `attacker_cost_choir`: what attacker identities were funded minus what their wallets hold at the end (stakes
  lost, paid to approvers or still in escrow, minus divestments and vote rewards); negative means they profited.
  `attacker_pnl_choir` is its opposite (wallet minus funding: positive means the attack paid), as
  `honest_pnl_choir` is for everyone else. `attacker_thread_share_choir` is what their seats represent at the end
  (balance / N summed over their threads).
* `gini_coauthor_earnings`: Gini of vote rewards (stake paid to approvers' wallets) over everyone who ever
  co-authored, zeros included.
* `share_capped`, `share_below_min`, `share_near_floor`, `median_recommended_choir`: of the recommendations made
  for the period's specs, the share the formula's cap cut, the share under MIN_STAKE, the share within 1% of the
  zero-temperature floor S0/2 and the median (CHOIR): whether the formula is live. Above 50% capped or below
  MIN_STAKE, `warnings` says so (runs, reports and sweeps print it). Each spec's row in `stakes` and each thread
  sample carry the flags too.
* `net_*`: the co-authorship network (see `sim.network`).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Integral
from pathlib import Path
from typing import Any

import networkx as nx
import pandas as pd

from choir_model import events as ev
from choir_model.fmt import choir_amount
from sim import network
from sim.engine import World, paused_gc
from sim.io import write_frame, write_json
from sim.scenario import Scenario
from sim.stats import gini, median, ratio

DAY = 86_400
_USER_FIELDS = ("user", "creator", "author", "co_author")
_AMOUNT_FIELDS = ("amount", "deposit", "stake")

EVENT_COLUMNS = {
    "seq": "int64",
    "step": "int64",
    "bootstrap": "bool",
    "time": "int64",
    "day": "float64",
    "op": "string",
    "actor": "string",
    "event": "string",
    "thread_id": "string",
    "content_hash": "string",
    "user": "string",
    "amount": "Int64",
    "decision": "boolean",
    "outcome": "string",
    "deadline": "Int64",
    "to_wallets": "Int64",
    "to_thread": "Int64",
    "to_treasury": "Int64",
    "payees": "string",
    "delta": "Float64",
}
STEP_COLUMNS = {
    "step": "int64",
    "bootstrap": "bool",
    "time": "int64",
    "day": "float64",
    "op": "string",
    "actor": "string",
    "thread_id": "string",
    "ok": "bool",
    "error": "string",
}
THREAD_COLUMNS = {
    "time": "int64",
    "day": "float64",
    "thread_id": "string",
    "balance": "int64",
    "co_authors": "int64",
    "temperature": "float64",
    "frequency": "float64",
    "recommended_stake": "int64",
    "mean_stake": "Int64",
    "specs": "int64",
    "pending": "int64",
    "message_count": "int64",
}
GROUP_COLUMNS = {
    "time": "int64",
    "day": "float64",
    "group": "string",
    "kind": "string",
    "role": "string",
    "wallet": "int64",
    "funded": "int64",
    "pnl": "int64",
    "seats": "int64",
}
AGENT_COLUMNS = {
    "identity": "string",
    "agent": "string",
    "group": "string",
    "kind": "string",
    "role": "string",
    "funded": "int64",
    "wallet": "int64",
    "pnl": "int64",
    "deposits": "int64",
    "joins": "int64",
    "specs": "int64",
    "staked": "int64",
    "approved": "int64",
    "denied": "int64",
    "mixed": "int64",
    "expired": "int64",
    "votes": "int64",
    "vote_rewards": "int64",
    "divested": "int64",
    "threads_joined": "int64",
    "thread_share": "float64",
    "failed_steps": "int64",
}
STAKE_COLUMNS = {
    "thread_id": "string",
    "content_hash": "string",
    "author": "string",
    "group": "string",
    "kind": "string",
    "bootstrap": "bool",
    "quality": "Float64",
    "submitted_at": "int64",
    "recommended": "int64",
    "capped": "bool",
    "below_min": "bool",
    "actual": "int64",
    "ratio": "Float64",
    "success_rate": "Float64",
    "outcome": "string",
    "settled_at": "Int64",
}


def frame(rows: list[tuple] | list[list], columns: dict[str, str]) -> pd.DataFrame:
    """A DataFrame with fixed column order and dtypes (nullable where a column may be missing)."""
    names = list(columns)
    data = {name: [row[i] for row in rows] for i, name in enumerate(names)}
    return pd.DataFrame({name: pd.array(data[name], dtype=columns[name]) for name in names})


@dataclass
class SimResult:
    """The tables of one run. `write(out)` saves them; `sim.plots` and the notebooks read them back.

    The summary and the tables it is computed from (`agents`, `stakes`, `graph`) are built at once; the event
    log, step log, time series, degree distribution and final snapshot are built when first read, so a sweep,
    a Monte Carlo run or a sensitivity analysis that keeps only the summary does not pay for them."""

    scenario: Scenario
    summary: dict[str, Any]
    agents: pd.DataFrame
    stakes: pd.DataFrame
    graph: nx.Graph
    world: World = field(repr=False)
    wall_seconds: float = 0.0

    @cached_property
    def events(self) -> pd.DataFrame:
        with paused_gc():
            return frame(event_rows(self.world), EVENT_COLUMNS)

    @cached_property
    def steps(self) -> pd.DataFrame:
        world = self.world
        errors, boot, epoch = world.step_errors, world.bootstrap_steps, world.epoch
        rows = [
            (i, i < boot, s.now, (s.now - epoch) / DAY, s.op, s.actor, s.thread_id, i not in errors, errors.get(i))
            for i, s in enumerate(world.steps)
        ]
        with paused_gc():
            return frame(rows, STEP_COLUMNS)

    @cached_property
    def threads(self) -> pd.DataFrame:
        world = self.world
        epoch, classify = world.epoch, world.model.economics.classify
        threads = frame([(r[0], (r[0] - epoch) / DAY, *r[1:]) for r in world.thread_samples], THREAD_COLUMNS)
        flags = [classify(a, world.unit, world.params.min_stake) for a in threads["recommended_stake"].tolist()]
        threads.insert(
            threads.columns.get_loc("recommended_stake") + 1, "capped", pd.array([f.capped for f in flags], "bool")
        )
        return threads

    @cached_property
    def groups(self) -> pd.DataFrame:
        epoch = self.world.epoch
        roles = {g.name: _role(g.kind) for g in self.scenario.groups}
        rows = [(r[0], (r[0] - epoch) / DAY, r[1], r[2], roles[r[1]], *r[3:]) for r in self.world.group_samples]
        return frame(rows, GROUP_COLUMNS)

    @cached_property
    def degrees(self) -> pd.DataFrame:
        return pd.DataFrame(network.degree_distribution(self.graph), columns=["degree", "users"]).astype("int64")

    @cached_property
    def final(self) -> dict[str, Any]:
        return self.world.model.snapshot()

    @property
    def summary_frame(self) -> pd.DataFrame:
        return summary_frame([self.summary])

    def write(self, out: str | Path, trace: list | None = None) -> list[Path]:
        """Write every table (Parquet or CSV), the GraphML network, the scenario and the final snapshot into
        `out`; with `trace`, also the run's steps as a SPEC section 8 trace. Returns the files written."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = [
            write_frame(self.events, out / "events"),
            write_frame(self.steps, out / "steps"),
            write_frame(self.threads, out / "threads"),
            write_frame(self.groups, out / "groups"),
            write_frame(self.agents, out / "agents"),
            write_frame(self.stakes, out / "stakes"),
            write_frame(self.degrees, out / "degrees"),
            write_frame(self.summary_frame, out / "summary"),
            network.write_graphml(self.graph, out / "coauthors.graphml"),
            write_json(self.scenario.raw, out / "scenario.json"),
            write_json(self.final, out / "final_snapshot.json"),
        ]
        self.summary_frame.to_csv(out / "summary.csv", index=False, lineterminator="\n")
        written.append(out / "summary.csv")
        if trace is not None:
            from choir_model.trace import write_trace

            write_trace(trace, out / "trace.jsonl")
            written.append(out / "trace.jsonl")
        return written


def amount(name: str, units: int, unit: int) -> dict[str, int | float]:
    """A money amount's two summary fields: `<name>_choir` (float CHOIR, for plots and means over seeds) and
    `<name>_units` (integer base units, exact)."""
    return {f"{name}_choir": units / unit, f"{name}_units": units}


def exact_amount(summary: Mapping[str, Any], metric: str) -> str | None:
    """One run's `*_choir` amount exactly, as whole CHOIR and the base-unit remainder (from its `*_units` twin and
    the run's decimals); None for a metric without an integer twin (a ratio, a mean, a median), or a twin no
    longer integer (a table mixing in a failed run turns the column to floats: printing it would not be exact)."""
    if not metric.endswith("_choir"):
        return None
    units = summary.get(metric.removesuffix("_choir") + "_units")
    if not isinstance(units, Integral):
        return None
    return choir_amount(int(units), int(summary["decimals"]))


def _single_run(runs: pd.DataFrame, case: str) -> dict[str, Any] | None:
    ok = runs[(runs["case"] == case) & (runs["status"] == "ok")]
    return ok.iloc[0].to_dict() if len(ok) == 1 else None


def exact_cell(runs: pd.DataFrame, case: str, metric: str) -> str | None:
    """`case`'s amount exactly when the Monte Carlo table `runs` holds a single successful run of it (a table of
    one run prints the ledger's amount, not a float); None otherwise (several runs: their mean is analytics)."""
    row = _single_run(runs, case)
    return exact_amount(row, metric) if row is not None else None


def exact_difference(runs: pd.DataFrame, case: str, reference: str, metric: str) -> str | None:
    """`case` - `reference` exactly when each is a single successful run of the same seed and decimals and the
    metric is an amount; None otherwise."""
    a, b = _single_run(runs, case), _single_run(runs, reference)
    if a is None or b is None or a["seed"] != b["seed"] or a["decimals"] != b["decimals"]:
        return None
    if exact_amount(a, metric) is None or exact_amount(b, metric) is None:
        return None
    twin = metric.removesuffix("_choir") + "_units"
    return choir_amount(int(a[twin]) - int(b[twin]), int(a["decimals"]))


def summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Summary rows -> a DataFrame with the columns in a stable order."""
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)


def collect(world: World) -> SimResult:
    """Turn a finished world into its tables (with the cyclic garbage collector paused, as during the run)."""
    with paused_gc():
        return _collect(world)


def _collect(world: World) -> SimResult:
    scenario = world.scenario
    state = world.model.state
    unit = world.unit
    epoch = world.epoch
    steps = world.steps
    identity_agent = {identity: agent for agent in world.agents for identity in agent.identities}

    # -- what the event log says per identity ------------------------------------------------------------------
    per = defaultdict(lambda: defaultdict(int))
    outcomes: dict[str, int] = defaultdict(int)
    requests: dict[str, int] = defaultdict(int)
    treasury_inflow = thread_inflow = voter_payouts = divested = 0
    bootstrap_steps = world.bootstrap_steps
    joins: set[tuple[str, str]] = set()
    for index, _, event in world.events:
        boot = index < bootstrap_steps
        if isinstance(event, ev.SpecSubmitted):
            actor = steps[index].actor
            per[actor]["joins" if boot else "specs"] += 1
            per[actor]["staked"] += event.stake
            if boot:
                joins.add((event.thread_id, event.content_hash))
        elif isinstance(event, ev.StakeSettled):
            if not boot:
                author = state.threads[event.thread_id].messages[event.content_hash].author
                per[author][event.outcome] += 1
                outcomes[event.outcome] += 1
            treasury_inflow += event.to_treasury
            thread_inflow += event.to_thread
            for name, paid in event.to_wallets:
                per[name]["vote_rewards"] += paid
                voter_payouts += paid
        elif isinstance(event, ev.ApprovalReceived):
            per[event.co_author]["votes"] += 1
        elif isinstance(event, ev.TokensDivested):
            per[event.co_author]["divested"] += event.amount
            divested += event.amount
        elif isinstance(event, ev.ThreadCreated):
            per[event.creator]["deposits"] += event.deposit
        elif isinstance(event, ev.PublicRequested):
            requests["requested"] += 1
        elif (
            isinstance(event, ev.MessagePublic | ev.MessageRejected | ev.MessageExpired)
            and not state.threads[event.thread_id].messages[event.content_hash].is_spec
        ):
            requests[event.kind] += 1
    for index in world.step_errors:
        per[steps[index].actor]["failed_steps"] += 1

    # -- per-identity profit and loss ------------------------------------------------------------------------------
    joined: dict[str, int] = defaultdict(int)
    for user, _, _ in world.memberships:
        joined[user] += 1
    share: dict[str, float] = defaultdict(float)
    for thread in state.threads.values():
        n = len(thread.co_authors)
        for name in thread.co_authors:
            share[name] += thread.balance / n
    agent_rows = []
    for agent in world.agents:
        for identity in agent.identities:
            p = per[identity]
            funded = world.funded.get(identity, 0)
            wallet = state.wallets.get(identity, 0)
            agent_rows.append(
                (
                    identity,
                    agent.name,
                    agent.group,
                    agent.kind,
                    agent.role,
                    funded,
                    wallet,
                    wallet - funded,
                    p["deposits"],
                    p["joins"],
                    p["specs"],
                    p["staked"],
                    p["approved"],
                    p["denied"],
                    p["mixed"],
                    p["expired"],
                    p["votes"],
                    p["vote_rewards"],
                    p["divested"],
                    joined[identity],
                    share[identity] / unit,
                    p["failed_steps"],
                )
            )
    agents = frame(agent_rows, AGENT_COLUMNS)

    # -- stake analytics (the model's StakeAnalytics) ----------------------------------------------------------------
    stake_rows = []
    classify, min_stake = world.model.economics.classify, world.params.min_stake
    for (thread_id, content_hash), record in world.model.analytics.items():
        agent = identity_agent.get(record.author)
        flags = classify(record.recommended, unit, min_stake)
        stake_rows.append(
            (
                thread_id,
                content_hash,
                record.author,
                agent.group if agent else None,
                agent.kind if agent else None,
                (thread_id, content_hash) in joins,
                world.quality.get((thread_id, content_hash)),
                record.submitted_at,
                record.recommended,
                flags.capped,
                flags.below_min,
                record.actual,
                record.ratio,
                record.success_rate,
                record.outcome,
                record.settled_at,
            )
        )
    stakes = frame(stake_rows, STAKE_COLUMNS)

    # -- network ----------------------------------------------------------------------------------------------------
    users = {
        identity: {"group": agent.group, "agent_kind": agent.kind, "role": agent.role}
        for identity, agent in identity_agent.items()
    }
    thread_nodes = {
        tid: {"balance_choir": t.balance / unit, "co_authors": len(t.co_authors)} for tid, t in state.threads.items()
    }
    graph = network.build_graph(world.memberships, users, thread_nodes, epoch)

    # -- summary ----------------------------------------------------------------------------------------------------
    closed = sum(outcomes.values())
    attackers = agents[agents["role"] == "attacker"]
    honest = agents[agents["role"] != "attacker"]
    ever_coauthors = agents[agents["threads_joined"] > 0]
    final_threads = list(state.threads.values())
    ratios = [r for r in stakes.loc[~stakes["bootstrap"], "ratio"].dropna().tolist() if not math.isinf(r)]
    economics = world.model.economics
    recommendations = stakes.loc[~stakes["bootstrap"]]
    summary: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "days": scenario.days,
        "policy": scenario.policy,
        "formula": scenario.formula_label,
        "decimals": world.params.decimals,
        "check": world.model.check,
        "agents": len(world.agents),
        "identities": len(identity_agent),
        "threads": len(state.threads),
        "steps": len(steps),
        "failed_steps": len(world.step_errors),
        "events": len(world.events),
        "specs_submitted": int((~stakes["bootstrap"]).sum()),
        "specs_closed": closed,
        "specs_pending": sum(len(t.pending_spec_authors) for t in final_threads),
        "approved": outcomes["approved"],
        "denied": outcomes["denied"],
        "mixed": outcomes["mixed"],
        "expired": outcomes["expired"],
        "approval_rate": ratio(outcomes["approved"], closed),
        "share_denied": ratio(outcomes["denied"], closed),
        "share_mixed": ratio(outcomes["mixed"], closed),
        "share_timeouts": ratio(outcomes["expired"], closed),
        "public_requests": requests["requested"],
        "requests_public": requests["MessagePublic"],
        "requests_expired": requests["MessageExpired"],
        **amount("funded", sum(world.funded.values()), unit),
        **amount("treasury_inflow", treasury_inflow, unit),
        **amount("thread_inflow", thread_inflow, unit),
        **amount("voter_payouts", voter_payouts, unit),
        **amount("divested", divested, unit),
        "attacker_identities": int(attackers.shape[0]),
        **amount("attacker_funded", int(attackers["funded"].sum()), unit),
        **amount("attacker_cost", int((attackers["funded"] - attackers["wallet"]).sum()), unit),
        **amount("attacker_pnl", int(attackers["pnl"].sum()), unit),
        "attacker_thread_share_choir": float(attackers["thread_share"].sum()),
        **amount("honest_pnl", int(honest["pnl"].sum()), unit),
        "coauthors_ever": int(ever_coauthors.shape[0]),
        "gini_coauthor_earnings": gini(ever_coauthors["vote_rewards"].tolist()),
        **recommendation_shares(recommendations, economics.formula, unit),
        "mean_stake_ratio": sum(ratios) / len(ratios) if ratios else math.nan,
        "median_stake_ratio": median(ratios),
        "mean_balance_choir": ratio(sum(t.balance for t in final_threads) / unit, len(final_threads)),
        "mean_coauthors": ratio(sum(len(t.co_authors) for t in final_threads), len(final_threads)),
        "mean_temperature": ratio(
            sum(economics.temperature(t.balance, len(t.co_authors), unit) for t in final_threads), len(final_threads)
        ),
        "mean_frequency": ratio(sum(economics.frequency(len(t.co_authors)) for t in final_threads), len(final_threads)),
        **amount("treasury_final", state.treasury, unit),
        **network.network_metrics(graph),
    }
    return SimResult(scenario, summary, agents, stakes, graph, world, world.wall_seconds)


def event_rows(world: World) -> list[tuple]:
    """One row per model event (EVENT_COLUMNS): its step, time, actor and payload fields."""
    steps, epoch, bootstrap_steps = world.steps, world.epoch, world.bootstrap_steps
    rows = []
    for seq, (index, now, event) in enumerate(world.events):
        step = steps[index]
        values = {name: getattr(event, name) for name in event.__dataclass_fields__}
        payees = values.get("to_wallets")
        rows.append(
            (
                seq,
                index,
                index < bootstrap_steps,
                now,
                (now - epoch) / DAY,
                step.op,
                step.actor,
                event.kind,
                values.get("thread_id"),
                values.get("content_hash"),
                next((values[k] for k in _USER_FIELDS if k in values), None),
                next((values[k] for k in _AMOUNT_FIELDS if k in values), None),
                values.get("decision"),
                values.get("outcome"),
                values.get("deadline"),
                sum(a for _, a in payees) if payees is not None else None,
                values.get("to_thread"),
                values.get("to_treasury"),
                json.dumps([list(p) for p in payees]) if payees is not None else None,
                values.get("delta"),
            )
        )
    return rows


CAPPED_WARNING = 0.5
"""Above this share of capped recommendations a run, report or sweep warns: the formula is inert there."""


def recommendation_shares(stakes: pd.DataFrame, formula: Any, unit: int) -> dict[str, float]:
    """Of the recommendations made for `stakes` (the simulated period's specs): the share capped, the share
    below MIN_STAKE, the share within 1% of the formula's zero-temperature `floor` (S0/2; NaN for a formula
    without one) and the median recommendation in CHOIR. These say whether the formula is live: a share near 1
    at the cap or at the floor means the formula recommends a constant."""
    count = len(stakes)
    floor = getattr(formula, "floor", None)
    recommended = stakes["recommended"].astype("float64") / unit
    near_floor = ((recommended - floor).abs() <= 0.01 * floor).sum() if floor else math.nan
    return {
        "share_capped": ratio(int(stakes["capped"].sum()), count),
        "share_below_min": ratio(int(stakes["below_min"].sum()), count),
        "share_near_floor": float(ratio(near_floor, count)) if floor else math.nan,
        "median_recommended_choir": float(recommended.median()) if count else math.nan,
    }


def warnings(summary: dict[str, Any]) -> list[str]:
    """What a reader should be told about a run's summary before trusting it."""
    found = []
    capped = summary.get("share_capped")
    if capped is not None and not math.isnan(capped) and capped > CAPPED_WARNING:
        found.append(
            f"{summary.get('scenario', 'run')}: {capped:.0%} of recommended stakes were capped: the formula "
            "recommends a constant there (lower the formula's k or raise its cap)"
        )
    below = summary.get("share_below_min")
    if below is not None and not math.isnan(below) and below > CAPPED_WARNING:
        found.append(
            f"{summary.get('scenario', 'run')}: {below:.0%} of recommended stakes were below MIN_STAKE: a spec at "
            "the recommendation would be refused"
        )
    return found


def _role(kind: str) -> str:
    from sim.agents import AGENT_KINDS

    return AGENT_KINDS[kind].role
