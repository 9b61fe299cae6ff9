"""Comparing two snapshots (SPEC section 8 schema), the entries a step touched (`same_values`, `diff_values`), and
every stored field of the threads and messages among them (`diff_stored`): the differential check's notion of "the
same state".

Integers, names and states must be equal; temperature and frequency are floats derived from integers and may
differ in the last bits between implementations, so they are compared with a relative tolerance of 1e-9.
Wallets holding 0 are ignored: an implementation may or may not keep an empty account.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from choir_model.economics import Economics
from choir_model.params import Params
from choir_model.state import ChoirState
from choir_model.trace import SnapshotKey, render_message, render_thread

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


# Every field an implementation stores for a thread and a message (SPEC section 2, plus the pending bookkeeping of
# ThreadFull), beyond what the snapshot schema shows: privacy, is_spec, creation times, the voter snapshot in
# order, each co-author's last divest, the pending count and the authors holding a reserved seat. The snapshot
# renders threads and messages from these fields alone (`render_thread`, `render_message`).
THREAD_FIELDS = ("co_authors", "balance", "created_at", "updated_at", "message_count", "last_divest", "pending",
                 "pending_spec_authors")  # fmt: skip
MESSAGE_FIELDS = ("author", "state", "privacy", "created_at", "is_spec", "stake", "deadline", "voters", "votes")
_FIELDS = {"threads": attrgetter(*THREAD_FIELDS), "messages": attrgetter(*MESSAGE_FIELDS)}


def entry_values(state: ChoirState, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Any]:
    """What `state` holds behind each snapshot entry among `keys`: the treasury's balance, a wallet's balance, the
    `Thread`, the `Message`; None where it holds none. An implementation that can say what it holds answers the
    same shape (`ProgramDriver.held`), so the two compare without rendering either."""
    out: dict[SnapshotKey, Any] = {}
    threads = state.threads
    for key in keys:
        section, name = key
        if section == "wallets":
            out[key] = state.wallets.get(name)
        elif section == "threads":
            out[key] = threads.get(name)
        elif section == "messages":
            thread_id, _, content_hash = name.rpartition("/")
            thread = threads.get(thread_id)
            out[key] = None if thread is None else thread.messages.get(content_hash)
        else:
            out[key] = state.treasury
    return out


def stored_objects(state: ChoirState, keys: Iterable[SnapshotKey]) -> dict[SnapshotKey, Any]:
    """The model objects (Thread, Message) behind the thread and message entries among `keys`, None if absent."""
    return {key: value for key, value in entry_values(state, keys).items() if key[0] in _FIELDS}


def same_values(expected: dict[SnapshotKey, Any], actual: dict[SnapshotKey, Any]) -> bool:
    """Whether both sides hold the same thing behind every entry of `expected` (`entry_values`): equal balances (an
    absent wallet holds 0) and every stored field of threads and messages equal. Since the snapshot renders
    threads and messages from their stored fields, this is exactly "`diff_values` finds nothing", decided without
    rendering: the lockstep asks it after every step."""
    for key, left in expected.items():
        right = actual.get(key)
        fields = _FIELDS.get(key[0])
        if fields is not None:
            if left is None or right is None:
                if left is not right:
                    return False
            elif fields(left) != fields(right):
                return False
        elif key[0] == "wallets":
            if (left or 0) != (right or 0):
                return False
        elif left != right:
            return False
    return True


def render_values(values: dict[SnapshotKey, Any], params: Params, economics: Economics) -> dict[str, Any]:
    """Entries (`entry_values`) rendered in the snapshot's shape, as `choir_model.trace.snapshot` renders them, so
    `diff_snapshots` compares a few entries exactly as it compares whole snapshots. A missing wallet is an empty
    one."""
    out: dict[str, Any] = {"wallets": {}, "threads": {}, "messages": {}}
    for (section, name), value in values.items():
        if section == "treasury":
            out["treasury"] = value
        elif section == "wallets":
            out["wallets"][name] = value or 0
        elif value is not None:
            rendered = render_thread(value, params, economics) if section == "threads" else render_message(value)
            out[section][name] = rendered
    return out


def diff_values(
    expected: dict[SnapshotKey, Any], actual: dict[SnapshotKey, Any], params: Params, economics: Economics
) -> list[str]:
    """Differences between two sides' entries (`entry_values`), expected (the model) first: the rendered snapshot
    entries, then every stored field of the threads and messages both hold."""
    rendered = diff_snapshots(render_values(expected, params, economics), render_values(actual, params, economics))
    return rendered + diff_stored(expected, actual)


def diff_stored(expected: dict[SnapshotKey, Any], actual: dict[SnapshotKey, Any], limit: int = 12) -> list[str]:
    """Differences in every stored field of the same thread and message entries (`stored_objects`), expected (the
    model) first: a field the implementation forgets to store, or stores wrongly, is a difference even where no
    snapshot shows it. Entries one side lacks are the snapshot comparison's to report."""
    out: list[str] = []
    for key in sorted(expected.keys() & actual.keys()):
        left, right = expected[key], actual[key]
        if left is None or right is None or key[0] not in _FIELDS:
            continue
        fields = THREAD_FIELDS if key[0] == "threads" else MESSAGE_FIELDS  # a thread's messages are entries too
        out += [f"{key[0]}.{key[1]}.{f}: model {getattr(left, f)!r} vs {getattr(right, f)!r}" for f in fields
                if getattr(left, f) != getattr(right, f)]  # fmt: skip
    return out[:limit]
