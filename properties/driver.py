"""The `Driver` interface (ARCHITECTURE: one language between all parts) and the reference `ModelDriver`.

A driver applies one operation record (`choir_model.steps`) and answers None (ok) or the SPEC error name, and
renders its state as a SPEC section 8 snapshot. The model, the Solana program and the backend are all drivers; the
property suite compares any two step by step. `InvalidTime` is a trace property: a driver checks it with
`choir_model.ops.invalid_time` before a step reaches an implementation that cannot see it (a real cluster's clock
never goes back).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from choir_model import Model, Params, Step
from choir_model.model import CheckMode
from choir_model.trace import SnapshotKey, parse_trace
from properties.compare import stored_objects


@runtime_checkable
class Driver(Protocol):
    """An implementation of Choir under test."""

    name: str

    def apply(self, step: Step) -> str | None:
        """Apply one step; return None when it succeeded, else the SPEC error name. A failed step changes
        nothing."""
        ...

    def snapshot(self) -> dict[str, Any]:
        """The whole state in the SPEC section 8 snapshot schema."""
        ...

    def close(self) -> None:
        """Release whatever the driver holds (processes, sockets, files)."""
        ...


@runtime_checkable
class EntryDriver(Driver, Protocol):
    """A driver that can say what its last steps wrote, so the lockstep check compares only that (plus a whole
    snapshot every so often and at the end of a run)."""

    def written(self) -> dict[Any, bytes | None]:
        """What the steps since the last call wrote, read now (the lockstep reads right after each step)."""
        ...

    def advance(self, written: dict[Any, bytes | None]) -> set[SnapshotKey]:
        """Take what `written` read as what `held` answers with (one step's reads after another, in order), and
        return the snapshot entries it wrote."""
        ...

    def held(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Any]:
        """What the implementation holds behind the named snapshot entries, in the shape of
        `properties.compare.entry_values` (balances, `Thread` and `Message` objects; None where it holds none)."""
        ...

    def snapshot(self, full: bool = False) -> dict[str, Any]:
        """The whole snapshot; with `full`, read from the implementation itself, not from any cache."""
        ...


class ModelDriver:
    """The reference: `choir_model.Model` behind the driver interface (invariants optional, off by default so the
    property suite can check them itself)."""

    name = "model"

    def __init__(self, params: Params | None = None, policy: str = "seeds", check: CheckMode = "off") -> None:
        self.model = Model(params, policy=policy, check=check)

    def apply(self, step: Step) -> str | None:
        return self.model.try_apply(step)

    def snapshot(self) -> dict[str, Any]:
        return self.model.snapshot()

    def stored(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Any]:
        """The stored objects behind thread and message entries (the lockstep compares every field)."""
        return stored_objects(self.model.state, keys)

    def close(self) -> None:
        return None


class TraceRoundTripDriver:
    """A second, independently constructed model driver: every step crosses the SPEC JSONL format (serialised,
    re-parsed and validated by `choir_model.trace`) before it reaches a model of its own, and snapshots cross JSON
    too. It proves the differential machinery end to end and that traces lose nothing, so the program and
    backend drivers need only implement this interface."""

    name = "model-trace"

    def __init__(self, params: Params | None = None, policy: str = "seeds") -> None:
        self.model = Model(params, policy=policy)
        self.lines = 0

    def apply(self, step: Step) -> str | None:
        self.lines += 1
        (parsed,) = parse_trace([json.dumps(step.to_json())])
        return self.model.try_apply(parsed)

    def snapshot(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.model.snapshot()))

    def stored(self, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Any]:
        """The stored objects behind thread and message entries: a field the trace loses (privacy) shows here."""
        return stored_objects(self.model.state, keys)

    def close(self) -> None:
        return None
