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
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from choir_model import Params, SettlementPolicy, StakeFormula
from choir_model.resolve import resolve_formula, resolve_policy
from sim.agents import AGENT_KINDS, AgentConfig

T = TypeVar("T")

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
MAX_DECIMALS = 18
"""Base units per CHOIR at most 10**18: with more, one CHOIR alone passes u64 (spec section 1's amounts)."""
CHECK_MODES = ("step", "audit", "off")
_TOP_KEYS = {"name", "description", "seed", "days", "policy", "formula", "check", "params", "world", "agents"}


def check_type(key: str, value: Any, like: Any) -> Any:
    """`value` as the type of the default `like`, or ValueError naming `key`: an int field takes an integer (not
    a bool, not 2.5), a float field a finite number, a bool field a bool, a string field a string, a tuple field a
    list of strings. Every scenario, sweep, sensitivity and attack key goes through here before anything runs."""
    if isinstance(like, bool):
        ok, wanted = isinstance(value, bool), "true or false"
    elif isinstance(like, int):
        ok, wanted = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(like, float):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        ok, wanted = number and math.isfinite(value), "a finite number"
    elif isinstance(like, str):
        ok, wanted = isinstance(value, str), "a string"
    elif isinstance(like, tuple):
        ok = isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        wanted = "a list of strings"
        value = tuple(value) if ok else value
    else:
        return value
    if not ok:
        raise ValueError(f"{key} must be {wanted}, got {value!r}")
    return float(value) if isinstance(like, float) else value


def check_name(key: str, value: Any) -> str:
    """A name read from a file that becomes a folder of the output (`out/<scenario>`, `out/sweeps/<sweep>`,
    `out/attacks/<attack>`, `out/sensitivity/<name>`): a non-empty string and one path component, so that no file
    can send the output elsewhere (`../..`, `/etc`); ValueError naming `key` otherwise."""
    name = check_type(key, value, "")
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"{key} must be a non-empty name without path separators, got {name!r}")
    return name


def spec_head(raw: Mapping[str, Any], head: str, keys: Iterable[str], tables: Sequence[str]) -> dict[str, Any]:
    """The `[head]` table of a sweep, sensitivity or attack file, once the file holds no table but `tables` and the
    head no key but `keys` (ValueError naming the unknown ones and the known)."""
    extra = sorted(set(raw) - set(tables))
    if extra:
        raise ValueError(f"unknown table(s) {', '.join(extra)}; known: {', '.join(tables)}")
    found = dict(raw.get(head, {}))
    unknown = sorted(set(found) - set(keys))
    if unknown:
        raise ValueError(f"unknown [{head}] key(s) {', '.join(unknown)}; known: {', '.join(sorted(keys))}")
    return found


def spec_scenario(ref: str, base_dir: Path | None) -> Scenario:
    """The scenario a sweep, sensitivity or attack file names: a built-in name or a path, a relative `.toml`
    path read from the file's own folder when it is there (else as given)."""
    if base_dir is not None and ref.endswith(".toml") and (base_dir / ref).exists():
        ref = str(base_dir / ref)
    return load_scenario(ref)


def check_fields(prefix: str, values: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """Type-check each value against the default of the dataclass field of that name (a field without a plain
    default, or defaulting to None, takes what is given: its own checks apply)."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    return {
        name: check_type(f"{prefix}{name}", value, defaults[name]) if defaults.get(name) is not None else value
        for name, value in values.items()
    }


def make_config(kind: str, values: dict[str, Any]) -> AgentConfig:
    """Build a kind's Config from a scenario table, naming any unknown field and the known ones."""
    cls = AGENT_KINDS.get(kind)
    if cls is None:
        raise ValueError(f"unknown agent kind {kind!r}; known: {', '.join(AGENT_KINDS)}")
    known = cls.Config.field_names()
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{kind}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return cls.Config(**check_fields("", values, cls.Config))


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
        if "name" not in data:
            raise ValueError("scenario needs a non-empty `name`")
        name = check_name("name", data["name"])
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        days = check_type("days", data.get("days", 30), 30.0)
        if not 0 < days <= 36_500:
            raise ValueError(f"days must be in (0, 36500], got {days!r}")
        check = data.get("check", "step")
        if check not in CHECK_MODES:
            raise ValueError(f"check must be one of {', '.join(CHECK_MODES)}, got {check!r}")
        policy = data.get("policy", "seeds")
        if not isinstance(policy, str):
            raise ValueError(f"policy must be a name or module:attribute, got {policy!r}")
        resolve_policy(policy)
        formula = data.get("formula", "quantum")
        if not isinstance(formula, str | dict):
            raise ValueError(f"formula must be a name or a table, got {formula!r}")
        formula_spec = {"name": formula} if isinstance(formula, str) else dict(formula)
        resolve_formula(formula_spec)
        for table in ("params", "world", "agents"):
            if not isinstance(data.get(table, {}), dict):
                raise ValueError(f"[{table}] must be a table, got {data[table]!r}")
        params = dict(data.get("params", {}))
        checked_params = model_params(params)
        world_raw = dict(data.get("world", {}))
        world_fields = {f.name for f in dataclasses.fields(WorldConfig)}
        bad = sorted(set(world_raw) - world_fields)
        if bad:
            raise ValueError(f"unknown world key(s) {', '.join(bad)}; known: {', '.join(sorted(world_fields))}")
        world = WorldConfig(**check_fields("world.", world_raw, WorldConfig))
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
        creators = [g for g in groups if g.kind == "creator" and g.config.count]
        if world.threads and not creators:
            raise ValueError("world.threads > 0 needs at least one `creator` agent to open them")
        if not world.threads and not any(getattr(g.config, "threads_per_day", 0) > 0 for g in creators):
            raise ValueError(
                "world.threads = 0 and no creator opens threads (threads_per_day): the run would end with no thread"
            )
        _check_funding(groups, checked_params)
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
    """`choir_model.Params` with scenario overrides, each type- and range-checked; names the bad field."""
    known = set(Params.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown params field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    fixed = check_fields("params.", values, Params)
    decimals = fixed.get("decimals", Params().decimals)
    if not 0 <= decimals <= MAX_DECIMALS:
        raise ValueError(f"params.decimals must be in 0..{MAX_DECIMALS}, got {decimals}")
    try:
        return Params().replace(**fixed) if fixed else Params()
    except ValueError as error:
        raise ValueError(f"params: {error}") from None


def _check_funding(groups: Sequence[GroupSpec], params: Params) -> None:
    """The treasury must be able to fund every identity at the start (spec section 1: the supply is fixed)."""
    total = 0
    for group in groups:
        identities = getattr(group.config, "identities", 1)
        total += round(group.config.wallet * params.unit) * group.config.count * identities
    if total > params.total_supply:
        raise ValueError(
            f"agents: funding every identity takes {total} base units, more than params.total_supply "
            f"({params.total_supply}); lower the wallets or counts, or params.decimals"
        )


def scenario_path(name_or_path: str | Path) -> Path:
    """A scenario file: an existing path, or `sim/scenarios/<name>.toml`."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        return path
    candidate = SCENARIO_DIR / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    raise FileNotFoundError(f"no scenario {str(name_or_path)!r}; built-in: {', '.join(list_scenarios())}")


def load_toml(path: str | Path, build: Callable[[dict[str, Any], Path], T]) -> T:
    """Read a TOML file and validate it with `build(raw, directory)`; a syntax or validation error names the file,
    so every scenario, sweep, sensitivity and attack file reports bad input the same way."""
    path = Path(path)
    with open(path, "rb") as handle:
        try:
            raw = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: {error}") from None
    try:
        return build(raw, path.parent)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def load_scenario(name_or_path: str | Path, **overrides: Any) -> Scenario:
    """Read and validate a scenario by built-in name or file path; keyword overrides use `__` for dots
    (`load_scenario("spam", days=5, agents__spam__count=2)`)."""
    scenario = load_toml(scenario_path(name_or_path), lambda raw, _directory: Scenario.from_dict(raw))
    if overrides:
        scenario = scenario.with_overrides({k.replace("__", "."): v for k, v in overrides.items()})
    return scenario


def list_scenarios() -> list[str]:
    """Names of the built-in scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))
