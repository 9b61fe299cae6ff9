"""Targets of `choir check`: names -> driver factories. Drivers of other parts are imported lazily, so checking
the model never needs the program's or the backend's dependencies.

* `model`: the reference model alone, every invariant checked on every step;
* `model-trace`: differential, the model against a second model fed through the JSONL trace round trip;
* `program`: differential, the model against the Solana program in LiteSVM (`programs.driver.ProgramDriver`);
* `backend`: differential, the model against the reference backend over HTTP
  (`reference_backend.driver.BackendDriver`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from choir_model import Params
from properties.driver import Driver, ModelDriver, TraceRoundTripDriver

DriverFactory = Callable[[], Driver]

TARGETS = ("model", "model-trace", "program", "backend")
_LAZY = {"program": "programs.driver:ProgramDriver", "backend": "reference_backend.driver:BackendDriver"}


def driver_factory(target: str, params: Params, policy: str, **options: Any) -> DriverFactory | None:
    """The factory of the implementation under test, or None for `model` (no differential side)."""
    if target == "model":
        return None
    if target == "model-trace":
        return lambda: TraceRoundTripDriver(params, policy)
    if target not in _LAZY:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    module_name, _, class_name = _LAZY[target].partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"target {target!r} is not available here: {error}") from error
    if "idl" in options:  # an IDL travels as JSON (a Dask worker may be elsewhere); each process compiles it once
        from programs.client.coder import IdlCoder

        options["coder"] = IdlCoder(options.pop("idl"))
    return lambda: cls(params=params, policy=policy, **options)


def replay_driver(target: str, params: Params, policy: str, **options: Any) -> Driver:
    """The driver that replays a trace on `target` (the model itself for `model`)."""
    factory = driver_factory(target, params, policy, **options)
    return factory() if factory is not None else ModelDriver(params, policy)
