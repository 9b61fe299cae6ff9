"""Comparing two snapshots (SPEC section 8 schema): the differential check's notion of "the same state".

Integers, names and states must be equal; temperature and frequency are floats derived from integers and may
differ in the last bits between implementations, so they are compared with a relative tolerance of 1e-9.
Wallets holding 0 are ignored: an implementation may or may not keep an empty account.
"""

from __future__ import annotations

import math
from typing import Any

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
