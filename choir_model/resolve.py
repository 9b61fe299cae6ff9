"""Rules by name: settlement policies, stake formulas and parameters as every tool spells them.

One loader for the simulator's scenarios, `choir model run`, `choir check` and `choir check replay`, so a policy
or formula the simulator accepts is accepted everywhere and a violation found in a simulation replays and shrinks
from the command line. A policy or formula is a built-in name (`POLICIES`, `FORMULAS`) or `module:attribute`
(a class is instantiated; a formula class gets the given fields). Parameters are a JSON object of
`Params` fields, inline or in a file. Every failure is a ValueError that says what was wrong.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from choir_model.economics import FORMULAS, StakeFormula
from choir_model.params import Params
from choir_model.settlement import POLICIES, SettlementPolicy


def import_object(path: str) -> Any:
    """The object at `module:attribute` (the attribute may be dotted)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{path!r} is neither a known name nor a module:attribute path")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r} for {path!r}: {error}") from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ValueError(f"{module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    return target


def resolve_policy(name: str) -> SettlementPolicy:
    """A settlement policy by name (`POLICIES`) or `module:attribute` (a class is instantiated)."""
    if name in POLICIES:
        return POLICIES[name]
    if ":" not in name:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(POLICIES)} (or module:attribute)")
    target = import_object(name)
    policy = target() if isinstance(target, type) else target
    if not isinstance(policy, SettlementPolicy):
        raise ValueError(f"{name!r} is not a choir_model SettlementPolicy")
    return policy


def resolve_formula(spec: str | Mapping[str, Any]) -> StakeFormula:
    """A stake formula from a name or `{name, **fields}`: a `FORMULAS` name or `module:attribute` (a class is
    called with the fields; an instance gets them replaced)."""
    fields = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = fields.pop("name", None)
    if not isinstance(name, str):
        raise ValueError(f"formula needs a name, got {name!r}")
    if name in FORMULAS:
        target: Any = FORMULAS[name]
    elif ":" in name:
        target = import_object(name)
    else:
        raise ValueError(f"unknown formula {name!r}; known: {', '.join(FORMULAS)} (or module:attribute)")
    try:
        if isinstance(target, type):
            formula = target(**fields)
        elif fields:
            formula = dataclasses.replace(target, **fields)
        else:
            formula = target
    except (TypeError, ValueError) as error:
        raise ValueError(f"formula {name!r}: {error}") from None
    if not isinstance(formula, StakeFormula):
        raise ValueError(f"{name!r} is not a StakeFormula (needs `name` and `recommend`)")
    return formula


def load_params(text: str) -> Params:
    """`Params` from a JSON object of its fields, inline (`{"min_stake": 5}`) or the path of a file holding one."""
    try:
        source = text if text.lstrip().startswith("{") else Path(text).read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read params file {text!r}: {error.strerror}") from None
    try:
        fields = json.loads(source)
    except json.JSONDecodeError as error:
        raise ValueError(f"params are not JSON: {error}") from None
    if not isinstance(fields, dict):
        raise ValueError("params must be a JSON object of choir_model.Params fields")
    unknown = sorted(set(fields) - set(Params.__dataclass_fields__))
    if unknown:
        raise ValueError(
            f"unknown params field(s) {', '.join(unknown)}; known: {', '.join(Params.__dataclass_fields__)}"
        )
    if isinstance(fields.get("treasury_authorities"), list):
        fields["treasury_authorities"] = tuple(fields["treasury_authorities"])
    try:
        return Params().replace(**fields)
    except (TypeError, ValueError) as error:
        raise ValueError(f"params: {error}") from None
