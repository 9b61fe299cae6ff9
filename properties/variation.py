"""Parameter variation: the soak phase's runs under more than the default `Params` (SPEC section 1).

A campaign on the default parameters only ever sees one genesis and one set of bounds, so an implementation that
mishandles any other (a boundary of its parameter validation, a stake smaller than its voters, a single treasury
authority, a window of zero seconds) passes. Even runs (run 0 first) keep the campaign's parameters, so the
coverage the default parameters reach is kept; when those are the defaults, every odd run takes one of
`VARIANTS`, drawn from its own seed, so a campaign split over workers varies the same way. A campaign given
`--params` keeps them throughout: they were asked for.

Each variant is valid (`Params.validate` accepts it) and sits on bounds: the least of everything (a supply of one
base unit, one seat, one pending message, one-byte thread ids, one authority, zero-second windows), stakes smaller
than their voters, and the most of everything (every seat of the layout, the minimums equal to the whole supply,
every authority required).
"""

from __future__ import annotations

import json
import random

from choir_model import Params
from choir_model.params import U64_MAX

VARIANTS: tuple[dict[str, object], ...] = (
    {"total_supply": 1, "min_stake": 1, "min_thread_balance": 1, "decimals": 0, "approval_window": 0,
     "divest_cooldown": 0, "max_coauthors": 1, "max_pending": 1, "thread_id_max": 1,
     "treasury_authorities": ("treasury1",), "treasury_threshold": 1},
    {"min_stake": 1, "min_thread_balance": 1, "approval_window": 3600, "divest_cooldown": 60, "max_coauthors": 3,
     "max_pending": 3, "thread_id_max": 2, "treasury_threshold": 3},
    {"total_supply": U64_MAX, "min_stake": U64_MAX, "min_thread_balance": U64_MAX, "max_coauthors": 32,
     "max_pending": U64_MAX, "decimals": 18, "treasury_authorities": ("treasury3", "treasury1")},
)  # fmt: skip


def run_params(params: Params, seed: int, run: int) -> Params:
    """The parameters of soak run `run` of a campaign with `params` and `seed` (see the module docstring)."""
    if run % 2 == 0 or params != Params():
        return params
    return Params().replace(**VARIANTS[random.Random(f"choir params {seed} {run}").randrange(len(VARIANTS))])


def params_flag(params: Params) -> str:
    """`--params` for the fields of `params` that differ from the defaults (inline JSON, `choir_model.resolve`)."""
    default = Params()
    changed = {name: getattr(params, name) for name in Params.__dataclass_fields__
               if getattr(params, name) != getattr(default, name)}  # fmt: skip
    return json.dumps(changed, separators=(",", ":"))
