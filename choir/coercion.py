"""Option values coerced the way typer does, without importing pydantic for an option that was not given.

Why: the typer release this project is locked to coerces every parameter through a pydantic `TypeAdapter`, built
the first time the parameter is processed, even when its value is absent (None). Every command has such a
parameter (the implicit `--help` flag), so every command, `choir sim scenarios` included, imported pydantic:
about 220 ms of CPU, half of a listing command's start-up. An absent value never reaches the adapter (typer's own
`RuntimeParam.coerce` answers None, or () for a repeatable option, before calling it), so `install` defers
building the adapter to the first value actually given; what each option accepts, and every message, is
unchanged. `bench/bench_cli.py` measures the start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typer import _coercion, core


@dataclass(frozen=True)
class _BuiltOnFirstValue(_coercion.RuntimeParam):
    """typer's runtime parameter before any value arrived: None and repeatable-option checks are typer's own
    (`RuntimeParam.coerce`); a value builds the real coercion (pydantic's, for most types) and is coerced by it."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        param._runtime_param = _coercion.build_runtime_param(param.type_descriptor)
        return param._runtime_param._coerce_value(value, param=param, ctx=ctx)


def install() -> None:
    """Patch typer's parameters to build their coercion on the first value (idempotent)."""
    parameter = core._TyperParameter
    if getattr(parameter.get_runtime_param, "deferred", False):
        return

    def get_runtime_param(self: Any) -> _coercion.RuntimeParam:
        if self._runtime_param is not None:
            return self._runtime_param
        descriptor = self.type_descriptor
        return _BuiltOnFirstValue(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation)

    get_runtime_param.deferred = True  # type: ignore[attr-defined]
    parameter.get_runtime_param = get_runtime_param  # type: ignore[method-assign]
