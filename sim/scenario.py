"""Scenarios: what a simulation runs, declared in TOML files (`sim/scenarios/*.toml`) and validated here.

A scenario names its horizon, seed, settlement policy, stake formula, model parameters (SPEC section 1), the
world at the start and its agent groups. It stays a plain dict (`Scenario.raw`) next to its typed view, so a
sweep can override any value by a dotted path (`params.approval_window`, `agents.spam.count`, `formula.s0`) and
re-validate, and so a run's cache key is the hash of exactly what ran. Errors name the offending key.

Policies and formulas are chosen by name from `choir_model.POLICIES` / `choir_model.FORMULAS`, or by an import
path `package.module:attribute` naming a `SettlementPolicy` / `StakeFormula` class or instance, so economists can
plug in their own without touching the simulator. A formula may be a table `{name = "quantum", s0 = 80.0}` whose
other keys replace the formula's fields.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from choir_model import Params, SettlementPolicy, StakeFormula
from choir_model.resolve import resolve_formula, resolve_policy
from sim.agents import AGENT_KINDS, AgentConfig, make_config

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
CHECK_MODES = ("step", "audit", "off")
_TOP_KEYS = {"name", "description", "seed", "days", "policy", "formula", "check", "params", "world", "agents"}


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """The world at the start and the simulator's clocks.

    epoch: simulated Unix time of the start (integer seconds). threads: initial threads, opened at bootstrap by the
    `creator` agents in turn, each with the creator's deposit. bootstrap_max_coauthors: at most this many
    co-authors per thread after bootstrap seating. join_stake: CHOIR staked by each bootstrap join. keeper_interval:
    seconds between two runs of the keeper (the crank that expires due approvals). sample_interval: seconds between
    two samples of the per-thread time series."""

    epoch: int = 1_700_000_000
    threads: int = 20
    bootstrap_max_coauthors: int = 5
    join_stake: float = 1.0
    keeper_interval: int = 3_600
    sample_interval: int = 21_600

    def __post_init__(self) -> None:
        for name in ("threads", "bootstrap_max_coauthors"):
            if getattr(self, name) < 0:
                raise ValueError(f"world.{name} must be >= 0")
        for name in ("keeper_interval", "sample_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"world.{name} must be >= 1 second")
        if self.join_stake <= 0:
            raise ValueError("world.join_stake must be > 0 CHOIR")


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """One agent group: its name (the key under `[agents]`), kind and validated config."""

    name: str
    kind: str
    config: AgentConfig


@dataclass(frozen=True)
class Scenario:
    """A validated scenario. Build with `Scenario.from_dict`, `load_scenario` or `with_overrides`."""

    name: str
    description: str
    seed: int
    days: float
    policy: str
    formula: dict[str, Any]
    check: str
    params: dict[str, Any]
    world: WorldConfig
    groups: tuple[GroupSpec, ...]
    raw: dict[str, Any]

    # -- construction ----------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Scenario:
        """Validate a scenario dict (as read from TOML); raise ValueError naming the first bad key."""
        data = copy.deepcopy(dict(raw))
        unknown = sorted(set(data) - _TOP_KEYS)
        if unknown:
            raise ValueError(f"unknown scenario key(s) {', '.join(unknown)}; known: {', '.join(sorted(_TOP_KEYS))}")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("scenario needs a non-empty `name`")
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        days = data.get("days", 30)
        if not isinstance(days, int | float) or isinstance(days, bool) or days <= 0:
            raise ValueError(f"days must be a positive number, got {days!r}")
        check = data.get("check", "step")
        if check not in CHECK_MODES:
            raise ValueError(f"check must be one of {', '.join(CHECK_MODES)}, got {check!r}")
        policy = data.get("policy", "seeds")
        if not isinstance(policy, str):
            raise ValueError(f"policy must be a name or module:attribute, got {policy!r}")
        resolve_policy(policy)
        formula = data.get("formula", "quantum")
        formula_spec = {"name": formula} if isinstance(formula, str) else dict(formula)
        resolve_formula(formula_spec)
        params = dict(data.get("params", {}))
        model_params(params)
        world_raw = dict(data.get("world", {}))
        world_fields = {f.name for f in dataclasses.fields(WorldConfig)}
        bad = sorted(set(world_raw) - world_fields)
        if bad:
            raise ValueError(f"unknown world key(s) {', '.join(bad)}; known: {', '.join(sorted(world_fields))}")
        world = WorldConfig(**world_raw)
        groups = []
        agents = data.get("agents", {})
        if not isinstance(agents, dict):
            raise ValueError("[agents] must be a table of groups")
        for group_name, table in agents.items():
            if not isinstance(table, dict) or "kind" not in table:
                raise ValueError(f"agents.{group_name} needs a `kind` (one of {', '.join(AGENT_KINDS)})")
            values = {k: v for k, v in table.items() if k != "kind"}
            try:
                config = make_config(table["kind"], values)
            except (TypeError, ValueError) as error:
                raise ValueError(f"agents.{group_name}: {error}") from None
            groups.append(GroupSpec(group_name, table["kind"], config))
        if world.threads and not any(g.kind == "creator" and g.config.count for g in groups):
            raise ValueError("world.threads > 0 needs at least one `creator` agent to open them")
        return cls(
            name,
            str(data.get("description", "")),
            seed,
            float(days),
            policy,
            formula_spec,
            check,
            params,
            world,
            tuple(groups),
            data,
        )

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A new scenario with dotted-path values replaced (`agents.spam.count = 0`), re-validated."""
        data = copy.deepcopy(self.raw)
        for path, value in overrides.items():
            set_path(data, path, value)
        return Scenario.from_dict(data)

    # -- what the model needs ----------------------------------------------------------------------------------

    def model_params(self) -> Params:
        return model_params(self.params)

    def build_policy(self) -> SettlementPolicy:
        return resolve_policy(self.policy)

    def build_formula(self) -> StakeFormula:
        return resolve_formula(self.formula)

    @property
    def formula_label(self) -> str:
        extra = {k: v for k, v in self.formula.items() if k != "name"}
        return self.formula["name"] + (json.dumps(extra, sort_keys=True) if extra else "")

    @property
    def horizon(self) -> int:
        """Length of the run in seconds."""
        return round(self.days * 86_400)

    def canonical(self) -> str:
        """The scenario as canonical JSON: the identity of what runs (cache keys, records)."""
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `a.b.c` in nested dicts, creating tables as needed. `formula.x` turns a formula name into a table."""
    keys = path.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if isinstance(child, str) and key == "formula":
            child = {"name": child}
        if child is None:
            child = {}
        if not isinstance(child, dict):
            raise ValueError(f"cannot set {path!r}: {key!r} is {child!r}, not a table")
        node[key] = child
        node = child
    node[keys[-1]] = value


def get_path(data: Mapping[str, Any], path: str, default: Any = None) -> Any:
    node: Any = data
    for key in path.split("."):
        if key == "name" and isinstance(node, str):
            return node
        if not isinstance(node, Mapping) or key not in node:
            return default
        node = node[key]
    return node


def model_params(values: Mapping[str, Any]) -> Params:
    """`choir_model.Params` with scenario overrides; names an unknown field."""
    known = set(Params.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown params field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return Params().replace(**fixed) if fixed else Params()


def scenario_path(name_or_path: str | Path) -> Path:
    """A scenario file: an existing path, or `sim/scenarios/<name>.toml`."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return path
    candidate = SCENARIO_DIR / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    raise FileNotFoundError(f"no scenario {str(name_or_path)!r}; built-in: {', '.join(list_scenarios())}")


def load_scenario(name_or_path: str | Path, **overrides: Any) -> Scenario:
    """Read and validate a scenario by built-in name or file path; keyword overrides use `__` for dots
    (`load_scenario("spam", days=5, agents__spam__count=2)`)."""
    path = scenario_path(name_or_path)
    with open(path, "rb") as handle:
        try:
            raw = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: {error}") from None
    try:
        scenario = Scenario.from_dict(raw)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if overrides:
        scenario = scenario.with_overrides({k.replace("__", "."): v for k, v in overrides.items()})
    return scenario


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))
