"""Parameter variation: the soak phase's runs under more than the default `Params` (SPEC section 1).

A campaign on the default parameters only ever sees one genesis and one set of bounds, so an implementation that
mishandles any other (a boundary of its parameter validation, a stake smaller than its voters, a single treasury
authority, a window of zero seconds) passes. Even runs (run 0 first) keep the campaign's parameters, so the
coverage the default parameters reach is kept; when those are the defaults, the odd runs take `VARIANTS` in turn,
starting at the campaign's seed (so a campaign of twice as many runs as there are variants runs every one, and a
campaign split over workers varies the same way). A campaign given `--params` keeps them
throughout: they were asked for.

Each variant is valid (`Params.validate` accepts it) and sits on bounds: the least of everything (a supply of one
base unit, one seat, one pending message, one-byte thread ids, one authority, zero-second windows), stakes smaller
than their voters, and the most of everything (every seat of the layout, the minimums equal to the whole supply,
every authority required), a cooldown that never ends, and a world that reaches the end of time (a variant's
`start`: the time its world's clock starts at, `run_start`).

A variant meets its bounds only through some operations (a stake's split only when a spec settles, a cooldown only
when a co-author divests again), and a campaign runs each variant once in ten runs: the operations it names (`ops`)
are always in its run's swarm (`properties.soak.swarm`), which would otherwise leave one of them out of one run in
four, and with it everything the variant is there for.
"""

from __future__ import annotations

import json
from typing import Any

from choir_model import Params
from choir_model.params import I64_MAX, U64_MAX
from properties.generate import GENESIS

VARIANTS: tuple[dict[str, Any], ...] = (
    {"total_supply": 1, "min_stake": 1, "min_thread_balance": 1, "decimals": 0, "approval_window": 0,
     "divest_cooldown": 0, "max_coauthors": 1, "max_pending": 1, "thread_id_max": 1,
     "treasury_authorities": ("treasury1",), "treasury_threshold": 1},
    # Stakes of a few base units among one or two voters: shares S // A of 1, and of 0 (SPEC section 4). The window
    # is a day (about a hundred steps): an hour went by in about four, and fewer than half as many specs settled.
    {"min_stake": 1, "min_thread_balance": 1, "approval_window": 86_400, "divest_cooldown": 60, "max_coauthors": 3,
     "max_pending": 3, "thread_id_max": 2, "treasury_threshold": 3, "ops": ("submit_spec", "process_approval")},
    {"total_supply": U64_MAX, "min_stake": U64_MAX, "min_thread_balance": U64_MAX, "max_coauthors": 32,
     "max_pending": U64_MAX, "decimals": 18, "treasury_authorities": ("treasury3", "treasury1")},
    # The longest cooldown SPEC section 1 allows: a co-author's second divest is CooldownActive for good, its
    # cooldown's end past any i64 time (so an implementation must compare without overflowing). Stakes down to one
    # base unit among up to nine approvers: shares S // A of 0 and 1 (SPEC section 4) in a second world.
    {"divest_cooldown": I64_MAX, "min_stake": 1, "ops": ("divest", "submit_spec", "process_approval")},
    # The end of time: zero-second windows and cooldowns, the clock starting an hour before the last time SPEC
    # section 3's time guard allows (2^63 - 1 - approval_window), so most of the world's steps are at that second
    # (deadlines and cooldowns ending there too) or refused InvalidTime.
    {"approval_window": 0, "divest_cooldown": 0, "start": I64_MAX - 3_600, "ops": ("divest",)},
)  # fmt: skip


NOT_PARAMS = ("start", "ops")
"""A variant's keys that are not `Params` fields."""


def variant_params(variant: dict[str, Any]) -> Params:
    """A variant's parameters (all but its `start` and `ops`)."""
    return Params().replace(**{name: value for name, value in variant.items() if name not in NOT_PARAMS})


def _variant(params: Params, seed: int, run: int) -> dict[str, Any] | None:
    if run % 2 == 0 or params != Params():
        return None
    offset = seed % len(VARIANTS)
    return VARIANTS[(offset + run // 2) % len(VARIANTS)]


def run_params(params: Params, seed: int, run: int) -> Params:
    """The parameters of soak run `run` of a campaign with `params` and `seed` (see the module docstring)."""
    variant = _variant(params, seed, run)
    return params if variant is None else variant_params(variant)


def run_start(params: Params, seed: int, run: int) -> int:
    """The time soak run `run`'s world starts at: the generator's `GENESIS` unless its variant says otherwise."""
    variant = _variant(params, seed, run)
    return GENESIS if variant is None else variant.get("start", GENESIS)


def run_ops(params: Params, seed: int, run: int) -> tuple[str, ...]:
    """The operations soak run `run`'s swarm must hold: those its variant names (none for unvaried runs)."""
    variant = _variant(params, seed, run)
    return () if variant is None else variant.get("ops", ())


def params_flag(params: Params) -> str:
    """`--params` for the fields of `params` that differ from the defaults (inline JSON, `choir_model.resolve`)."""
    default = Params()
    changed = {name: getattr(params, name) for name in Params.__dataclass_fields__
               if getattr(params, name) != getattr(default, name)}  # fmt: skip
    return json.dumps(changed, separators=(",", ":"))
