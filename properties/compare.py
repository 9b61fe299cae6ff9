"""Comparing two snapshots (SPEC section 8 schema), and every stored field of the threads and messages a step
touched (`diff_stored`): the differential check's notion of "the same state".

Integers, names and states must be equal; temperature and frequency are floats derived from integers and may
differ in the last bits between implementations, so they are compared with a relative tolerance of 1e-9.
Wallets holding 0 are ignored: an implementation may or may not keep an empty account.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from choir_model.state import ChoirState
from choir_model.trace import SnapshotKey

FLOAT_FIELDS = ("temperature", "frequency")


def _normal(snapshot: dict[str, Any]) -> dict[str, Any]:
    wallets = {k: v for k, v in snapshot.get("wallets", {}).items() if v}
    return {**snapshot, "wallets": wallets}


def diff_snapshots(expected: dict[str, Any], actual: dict[str, Any], limit: int = 12) -> list[str]:
    """Human-readable differences, expected (the model) first; empty when the snapshots agree."""
    if expected == actual:  # the common case, decided by one C-level comparison
        return []
    out: list[str] = []
    a, b = _normal(expected), _normal(actual)
    if a == b:
        return []
    if a.get("treasury") != b.get("treasury"):
        out.append(f"treasury: model {a.get('treasury')} vs {b.get('treasury')}")
    for section in ("wallets", "threads", "messages"):
        left, right = a.get(section, {}), b.get(section, {})
        for key in sorted(set(left) | set(right)):
            if key not in right:
                out.append(f"{section}.{key}: only in the model: {left[key]}")
            elif key not in left:
                out.append(f"{section}.{key}: only in the implementation: {right[key]}")
            elif isinstance(left[key], dict):
                for field in sorted(set(left[key]) | set(right[key])):
                    x, y = left[key].get(field), right[key].get(field)
                    if field in FLOAT_FIELDS and isinstance(x, int | float) and isinstance(y, int | float):
                        if math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):
                            continue
                    elif x == y:
                        continue
                    out.append(f"{section}.{key}.{field}: model {x!r} vs {y!r}")
            elif left[key] != right[key]:
                out.append(f"{section}.{key}: model {left[key]!r} vs {right[key]!r}")
            if len(out) >= limit:
                return out
    return out


def entries_snapshot(entries: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """Snapshot entries (`choir_model.trace.snapshot_entries`) in the snapshot's shape, so `diff_snapshots`
    compares a few entries exactly as it compares whole snapshots. A missing wallet is an empty one."""
    out: dict[str, Any] = {"wallets": {}, "threads": {}, "messages": {}}
    for (section, name), value in entries.items():
        if section == "treasury":
            out["treasury"] = value
        elif section == "wallets":
            out["wallets"][name] = value or 0
        elif value is not None:
            out[section][name] = value
    return out


# Every field an implementation stores for a thread and a message (SPEC section 2, plus the pending bookkeeping of
# ThreadFull), beyond what the snapshot schema shows: privacy, is_spec, creation times, the voter snapshot in
# order, each co-author's last divest, the pending count and the authors holding a reserved seat.
THREAD_FIELDS = ("co_authors", "balance", "created_at", "updated_at", "message_count", "last_divest", "pending",
                 "pending_spec_authors")  # fmt: skip
MESSAGE_FIELDS = ("author", "state", "privacy", "created_at", "is_spec", "stake", "deadline", "voters", "votes")


def stored_objects(state: ChoirState, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Any]:
    """The model objects (Thread, Message) behind the thread and message entries among `keys`, None if absent."""
    out: dict[SnapshotKey, Any] = {}
    for section, name in keys:
        if section == "threads":
            out[(section, name)] = state.threads.get(name)
        elif section == "messages":
            thread_id, _, content_hash = name.rpartition("/")
            thread = state.threads.get(thread_id)
            out[(section, name)] = None if thread is None else thread.messages.get(content_hash)
    return out


def diff_stored(expected: dict[SnapshotKey, Any], actual: dict[SnapshotKey, Any], limit: int = 12) -> list[str]:
    """Differences in every stored field of the same thread and message entries (`stored_objects`), expected (the
    model) first: a field the implementation forgets to store, or stores wrongly, is a difference even where no
    snapshot shows it. Entries one side lacks are the snapshot comparison's to report."""
    out: list[str] = []
    for key in sorted(expected.keys() & actual.keys()):
        left, right = expected[key], actual[key]
        if left is None or right is None:
            continue
        fields = THREAD_FIELDS if key[0] == "threads" else MESSAGE_FIELDS  # a thread's messages are entries too
        out += [f"{key[0]}.{key[1]}.{f}: model {getattr(left, f)!r} vs {getattr(right, f)!r}" for f in fields
                if getattr(left, f) != getattr(right, f)]  # fmt: skip
    return out[:limit]
